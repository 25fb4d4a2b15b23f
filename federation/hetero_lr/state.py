"""Typed party state of hetero LR, kept at the party between messages of one run.

The state lives in ``ctx.state[STATE_KEY]`` at its own party only (the runtime pickles it
into the party's work dir, never sends it): the party's weights, its X25519 private key,
the guest-host pairwise keys, the guest's secret batch seed, the validation split and the
mask of the gradient the coordinator is decrypting. Nothing in here leaves the party.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crypto.errors import ProtocolError
from crypto.pairwise import MaskStream
from federation.hetero_lr.params import LrParams
from federation.party import PartyContext

STATE_KEY = "hetero_lr"


@dataclass
class PendingGradient:
    """The mask of the gradient the coordinator is decrypting for this party."""

    mask: np.ndarray
    n: int
    epoch: int


@dataclass
class RowSplit:
    """Training and validation rows (aligned positions) and the training standardiser."""

    train: np.ndarray
    valid: np.ndarray
    mean: np.ndarray
    scale: np.ndarray


@dataclass
class LrPartyState:
    """One party's hetero LR state (picklable: arrays, bytes, plain values)."""

    run: str
    name: str
    backend: str
    public: bytes
    params: LrParams
    seed: int
    mask_bound: float
    n: int
    feature_names: list[str]
    encoder: dict[str, Any] | None
    w: np.ndarray
    dh_priv: bytes
    #: the registered matrix source this party trains on (None: its aligned table)
    source: str | None = None
    b: float = 0.0
    pending: PendingGradient | None = None
    pair_keys: dict[str, bytes] = field(default_factory=dict)
    perm_seed: bytes | None = None  # the guest's secret batch seed (exact mode)
    split: RowSplit | None = None
    losses: list[float] = field(default_factory=list)  # guest: validation loss per epoch
    valid_z: np.ndarray | None = None  # guest: joint validation scores

    def rows(self) -> RowSplit:
        if self.split is None:
            raise ProtocolError(
                f"party {self.name!r}: hetero LR step before its validation rows arrived",
                hint="Restart the training run.",
            )
        return self.split

    @property
    def train(self) -> np.ndarray:
        return self.rows().train

    @property
    def valid(self) -> np.ndarray:
        return self.rows().valid

    @property
    def mean(self) -> np.ndarray:
        return self.rows().mean

    @property
    def scale(self) -> np.ndarray:
        return self.rows().scale

    def pair(self, peer: str, bound: float | None = None) -> MaskStream:
        """Masks from the guest-host key shared with ``peer`` (``"guest"`` at a host)."""
        try:
            key = self.pair_keys[peer]
        except KeyError:
            raise ProtocolError(
                f"party {self.name!r}: no pairwise key with {peer!r}",
                hint="Restart the training run.",
            ) from None
        return MaskStream(key, float(self.mask_bound if bound is None else bound))


def find_state(ctx: PartyContext) -> LrPartyState | None:
    """This party's hetero LR state, or None before ``lr.init``."""
    st = ctx.state.get(STATE_KEY)
    return st if isinstance(st, LrPartyState) else None


def party_state(ctx: PartyContext) -> LrPartyState:
    """This party's hetero LR state; a ProtocolError before ``lr.init``."""
    st = find_state(ctx)
    if st is None:
        raise ProtocolError(
            f"party {ctx.name!r}: hetero LR message before lr.init",
            hint="Restart the training run.",
        )
    return st


__all__ = [
    "STATE_KEY",
    "LrPartyState",
    "PendingGradient",
    "RowSplit",
    "find_state",
    "party_state",
]
