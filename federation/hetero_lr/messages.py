"""The messages of hetero LR: action names, mask purposes and the typed ``lr.init`` payloads.

What each message reveals to whom is in the package docstring (``federation.hetero_lr``)
and in docs/protocols/hetero_lr.md. ``lr.init`` carries only public values: the
coordinator's public key, the public parameters and seed, the pairwise-mask bound and (at
a host) its alignment commit; the reply carries a party's X25519 public key and its row
and feature counts, and at the guest the validation row positions and the split sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from federation.transport import Payload

INIT = "lr.init"
HOST_STEP = "lr.host_step"
FORWARD = "lr.forward"
BACKWARD = "lr.backward"
GUEST_STEP = "lr.guest_step"
FINISH = "lr.finish"

#: purposes of pairwise masks (forward, residual, validation scores); the scorecard uses 4
FWD, RESID, VALID = 1, 2, 3
#: purposes of the guest's secret permutations (batch plan, row order), keyed by its seed
PLAN, PERM = 1, 2


@dataclass(frozen=True)
class InitRequest:
    """``lr.init`` (coordinator -> every party): public run parameters."""

    backend: str
    public: bytes
    seed: int
    params: str  # LrParams as JSON
    mask_bound: float
    #: a registered matrix source to train on (``data.register_matrix_source``); None:
    #: every party's aligned table
    source: str | None = None

    def to_payload(self, commit: Payload | None = None) -> Payload:
        """The payload, with a host's pending alignment commit riding along."""
        out: Payload = {
            "backend": self.backend,
            "public": self.public,
            "seed": self.seed,
            "params": self.params,
            "mask_bound": self.mask_bound,
        }
        if self.source:
            out["source"] = self.source
        return {**out, **(commit or {})}

    @classmethod
    def from_payload(cls, payload: Payload) -> InitRequest:
        return cls(
            backend=str(payload["backend"]),
            public=bytes(payload["public"]),
            seed=int(payload["seed"]),
            params=str(payload["params"]),
            mask_bound=float(payload["mask_bound"]),
            source=str(payload["source"]) if payload.get("source") else None,
        )


@dataclass(frozen=True)
class InitReply:
    """A party's ``lr.init`` reply; the validation split is the guest's only."""

    dh_pub: bytes
    n_rows: int
    n_features: int
    valid_idx: np.ndarray | None = None
    n_train: int = 0
    n_valid: int = 0

    def to_payload(self) -> Payload:
        out: dict[str, Any] = {
            "dh_pub": self.dh_pub,
            "n_rows": self.n_rows,
            "n_features": self.n_features,
        }
        if self.valid_idx is not None:
            out.update(valid_idx=self.valid_idx, n_train=self.n_train, n_valid=self.n_valid)
        return out

    @classmethod
    def from_payload(cls, payload: Payload) -> InitReply:
        valid = payload.get("valid_idx")
        return cls(
            dh_pub=bytes(payload["dh_pub"]),
            n_rows=int(payload["n_rows"]),
            n_features=int(payload["n_features"]),
            valid_idx=None if valid is None else np.asarray(valid, dtype=np.int64),
            n_train=int(payload.get("n_train", 0)),
            n_valid=int(payload.get("n_valid", 0)),
        )


__all__ = [
    "BACKWARD",
    "FINISH",
    "FORWARD",
    "FWD",
    "GUEST_STEP",
    "HOST_STEP",
    "INIT",
    "PERM",
    "PLAN",
    "RESID",
    "VALID",
    "InitReply",
    "InitRequest",
]
