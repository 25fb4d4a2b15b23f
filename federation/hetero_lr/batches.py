"""Mini-batch plans of hetero LR, the pairwise-mask bound and the guest-host key.

Every function here is a pure computation that each party repeats on its own side. The
public plan (taylor) is derived from the experiment seed, so the coordinator can know it;
the secret plan (exact) from the guest's seed, which only the guest and the hosts hold:
the coordinator learns the batch sizes, never which rows form a batch.
"""

from __future__ import annotations

import math

import numpy as np

from crypto.pairwise import secret_permutation, shared_key
from federation.hetero_lr.messages import PLAN

#: Pairwise masks (forward, residual, validation scores) are uniform in [-bound, bound).
PAIRWISE_MASK_BOUND = float(2**20)
#: Exact mode: masks of the logit shares (plain floats, never encrypted, so no CKKS bound);
#: a logit of size v is hidden up to a statistical distance of about v / 2^30, and the
#: masks cancel in the coordinator's float64 sum to about 2^-22.
FORWARD_MASK_BOUND = float(2**30)


def batch_plan(n_train: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Positions (into the training rows) of each mini-batch of ``epoch``; same at every party."""
    if batch_size == -1 or batch_size >= n_train:
        return [np.arange(n_train)]
    perm = np.random.default_rng([seed, epoch]).permutation(n_train)
    return [np.sort(perm[i : i + batch_size]) for i in range(0, n_train, batch_size)]


def n_batches(n_train: int, batch_size: int) -> int:
    return 1 if batch_size == -1 or batch_size >= n_train else math.ceil(n_train / batch_size)


def secret_batch_plan(seed: bytes, n_train: int, batch_size: int, epoch: int) -> list[np.ndarray]:
    """Mini-batches drawn from a seed the guest shares with the hosts only (exact mode): the
    coordinator learns the batch sizes, not which rows form a batch."""
    if batch_size == -1 or batch_size >= n_train:
        return [np.arange(n_train)]
    perm = secret_permutation(seed, PLAN, epoch, 0, n_train)
    return [np.sort(perm[i : i + batch_size]) for i in range(0, n_train, batch_size)]


def batch_sizes(n_train: int, batch_size: int) -> list[int]:
    """Rows per mini-batch (public: the same for the public and the secret batch plans)."""
    if batch_size == -1 or batch_size >= n_train:
        return [n_train]
    return [min(batch_size, n_train - i) for i in range(0, n_train, batch_size)]


def mask_bound(backend: str, n_hosts: int) -> float:
    """Pairwise mask bound: CKKS must keep the coordinator's sum of masked host vectors
    inside its encoding range (``crypto.ckks.MAX_ABS_VALUE``)."""
    if backend == "ckks":
        from crypto.ckks import MAX_ABS_VALUE  # lazy: CKKS is heavy to import

        return float(2 ** math.floor(math.log2(MAX_ABS_VALUE / (2 * max(1, n_hosts)))))
    return PAIRWISE_MASK_BOUND


def dh_shared(priv: bytes, peer_pub: bytes, public: bytes) -> bytes:
    """Guest-host key: X25519 + HKDF bound to this run's public key."""
    return shared_key(priv, peer_pub, context=public, label=b"fedlab/hetero_lr/v1")


__all__ = [
    "FORWARD_MASK_BOUND",
    "PAIRWISE_MASK_BOUND",
    "batch_plan",
    "batch_sizes",
    "dh_shared",
    "mask_bound",
    "n_batches",
    "secret_batch_plan",
]
