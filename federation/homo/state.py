"""A bank's run state for horizontal FedAvg, typed, under one key of ``ctx.state``.

The state stays at the bank: the runtime pickles ``ctx.state`` into the bank's own work
dir between messages and never sends it anywhere. It holds the bank's X25519 key pair,
its hold-out split, the global statistics and model it derived from the aggregates, and
(``masked``) the pairwise seeds it shares with each other bank. Nothing here is revealed
to the coordinator or to another bank; what the bank sends is built from it by
:mod:`federation.homo.party`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crypto.errors import ProtocolError
from federation.homo.params import HomoParams
from federation.party import PartyContext

#: the one ``ctx.state`` key of the homo handlers
STATE_KEY = "homo"


@dataclass
class BankState:
    """What one bank keeps between the messages of a run (picklable)."""

    run: str
    session: str
    backend: str
    params: HomoParams
    kind: str
    seed: int
    dh_priv: bytes
    dh_pub: bytes
    train: np.ndarray
    valid: np.ndarray
    exps: np.ndarray
    n_params: int
    #: the current global model (the initial one until the first aggregate arrives)
    model: np.ndarray
    #: masked backend: the seed shared with each other bank
    seeds: dict[str, bytes] = field(default_factory=dict)
    #: global statistics of the numeric columns, once the bank has them
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    #: loss of the last aggregate and the round it belongs to
    global_loss: float | None = None
    global_round: int = -1


def bank_state(ctx: PartyContext) -> BankState:
    """This bank's state; a homo message before ``homo.init`` is refused."""
    st = ctx.state.get(STATE_KEY)
    if not isinstance(st, BankState):
        raise ProtocolError(
            f"bank {ctx.name!r}: homo message before homo.init", hint="Restart the training run."
        )
    return st


def standardization(ctx: PartyContext, st: BankState) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of the global statistics; refused before the bank has them."""
    if st.mean is None or st.std is None:
        raise ProtocolError(f"bank {ctx.name!r}: no global statistics before training")
    return st.mean, st.std


__all__ = ["STATE_KEY", "BankState", "bank_state", "standardization"]
