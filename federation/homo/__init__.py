"""Horizontal FedAvg across banks (``homo_lr`` / ``homo_nn``) with protected aggregation.

Every bank holds the same indicators for its own borrowers (each party is a ``guest`` with
its own label). The coordinator drives FedAvg rounds and only ever sums protected vectors;
message by message, see docs/protocols/homo_ckks.md.

What leaves each bank, and to whom (everything travels through the coordinator):

1. ``homo.init``: an X25519 public key, its number of feature columns, a hash of the
   feature layout, and per numeric column the decimal order of magnitude of its largest
   absolute value (a coarse public scale for the statistics of step 3).
2. ``ckks`` only, the key dealer (first bank by name): the public CKKS context (to the
   coordinator) and the secret context sealed to each other bank's X25519 key (opaque to
   the coordinator; opened by that bank only).
3. ``homo.stats``: the bank's training-row count and the sums of its scaled numeric columns
   and of their squares, protected by the backend; the coordinator returns the protected
   sum, from which every bank derives the same global mean and standard deviation.
4. ``homo.train`` per round (sampled banks): the vector
   ``[n_k/U * theta_k, n_k/U, n_k/U * loss_k]`` (``U`` = 1000 rows) protected by the
   backend: ``ckks`` ciphertext bytes, ``masked`` pairwise-masked uint64, ``plaintext`` as
   is. The coordinator sums the round's vectors and sends the sum with the next request;
   banks divide by the summed weight (dropouts re-normalise by construction).
   ``masked`` with dropouts: survivors send their masks with the dropped banks.
   ``secaggplus``: the reply carries nothing; the coordinator then runs Flower's SecAgg+
   (``federation.homo.secaggplus``) over the answering banks, which yields the weighted
   mean of ``[theta_k, 1, loss_k]`` (weights ``n_k``) instead of the sum.
5. ``homo.evaluate``: per bank, counts of (score bin, label) on its held-out rows, its AUC
   and its held-out size; the coordinator pools the counts into the global AUC and KS.

With ``ckks`` the coordinator holds the public context and ciphertexts only: it never sees
a model, an update, a row count or a loss of any bank (it sees how many banks answered).

The package: :mod:`~federation.homo.params` (``[params]``), :mod:`~federation.homo.data`
(a bank's rows), :mod:`~federation.homo.models` (torch models and training),
:mod:`~federation.homo.messages` (actions, payloads), :mod:`~federation.homo.state` (a
bank's typed run state), :mod:`~federation.homo.party` (the bank's handlers, registered on
import), :mod:`~federation.homo.protection` / :mod:`~federation.homo.keys` (protecting
vectors, CKKS key files), :mod:`~federation.homo.ckks` (CKKS sums, sealed keys, pairwise
masks), :mod:`~federation.homo.secaggplus` / :mod:`~federation.homo.secaggplus_mean`
(Flower's SecAgg+), :mod:`~federation.homo.coordinator` / :mod:`~federation.homo.driver`
(the coordinator's exchanges and FedAvg loop), :mod:`~federation.homo.checkpoint` and
:mod:`~federation.homo.split` (splitting one table across banks for tests and demos).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from federation.config import ExperimentConfig
from federation.homo import driver
from federation.homo import party as _party  # noqa: F401 - importing it registers the handlers
from federation.homo.checkpoint import CHECKPOINT_FILE, load_checkpoint
from federation.homo.data import (
    BankData,
    bank_data,
    bank_seed,
    hash_codes,
    holdout_split,
    magnitudes,
    stats_from_sum,
    stats_vector,
)
from federation.homo.params import (
    ALGORITHMS,
    BACKENDS,
    WEIGHT_UNIT,
    HomoParams,
    model_spec,
    parse_params,
    resolve_backend,
    train_config,
)
from federation.homo.party import MODEL_FILE, set_train_hook
from federation.protocol import ProgressFn, ProtocolResult, no_progress
from federation.transport import Transport

#: tests: called with every object the coordinator's CKKS aggregation holds
AGGREGATION_OBSERVER: Callable[[Any], None] | None = None


def drive(
    transport: Transport, config: ExperimentConfig, *, progress: ProgressFn = no_progress
) -> ProtocolResult:
    """Run FedAvg over every bank of ``config`` (:func:`federation.homo.driver.drive`);
    :data:`AGGREGATION_OBSERVER`, when set, sees what the CKKS aggregation holds."""
    return driver.drive(transport, config, progress=progress, observe=AGGREGATION_OBSERVER)


__all__ = [
    "AGGREGATION_OBSERVER",
    "ALGORITHMS",
    "BACKENDS",
    "CHECKPOINT_FILE",
    "MODEL_FILE",
    "WEIGHT_UNIT",
    "BankData",
    "HomoParams",
    "bank_data",
    "bank_seed",
    "drive",
    "hash_codes",
    "holdout_split",
    "load_checkpoint",
    "magnitudes",
    "model_spec",
    "parse_params",
    "resolve_backend",
    "set_train_hook",
    "stats_from_sum",
    "stats_vector",
    "train_config",
]
