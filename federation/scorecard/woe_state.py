"""Typed party state of federated WOE/IV binning, and a party's binned columns.

The state lives in ``ctx.state[STATE_KEY]`` at its own party only (pickled into the
party's work dir, never sent): its feature names and kinds, its bins (edges, categories),
the WOE of its final bins (a host's as shared by the guest), IVs, and at the guest its
Paillier private key until the merge and the per-bin counts of host bins. The columns are
read from the party's own aligned table; nothing here leaves the party.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crypto.errors import DataValidationError, ProtocolError
from features import woe as W
from federation.party import PartyContext
from federation.partydata import aligned_table, party_setup
from federation.roles import PartyRole
from federation.scorecard.messages import BIN
from federation.scorecard.params import WoeParams

STATE_KEY = "woe"


@dataclass
class HostBins:
    """What the guest learns of one host's features: public ids, per-bin tables, merges."""

    names: list[str]
    tables: list[dict[str, Any]]
    groups: list[list[int]]


@dataclass
class GuestKey:
    """The guest's Paillier key pair for the labels (dropped after the merge)."""

    public: bytes
    p: int
    q: int


@dataclass
class WoeState:
    """One party's binning state (picklable: plain values, bin dicts, bytes)."""

    params: WoeParams
    features: list[str]
    kinds: list[str]
    n: int
    binnings: list[dict[str, Any]] = field(default_factory=list)
    woe: list[list[float]] | None = None  # per feature, per final bin
    iv: list[float] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)  # guest: its own WOE tables
    key: GuestKey | None = None  # guest, until the merge
    hosts: dict[str, HostBins] = field(default_factory=dict)  # guest


def woe_state(ctx: PartyContext) -> WoeState:
    """This party's binning state; a ProtocolError before ``woe.bin``."""
    st = ctx.state.get(STATE_KEY)
    if not isinstance(st, WoeState):
        raise ProtocolError(
            f"party {ctx.name!r}: WOE message before {BIN!r}", hint="Restart the run."
        )
    return st


def party_table(ctx: PartyContext) -> pd.DataFrame:
    """This party's aligned table (``federation.partydata``); tests may stand in for it."""
    return aligned_table(ctx)


def _setup_names(ctx: PartyContext) -> tuple[str, str]:
    s = party_setup(ctx)
    return s.id_column, (s.label if ctx.role == PartyRole.GUEST else "")


def _label(ctx: PartyContext, df: pd.DataFrame, label: str) -> np.ndarray:
    if label not in df.columns:
        raise DataValidationError(f"guest {ctx.name!r}: label column {label!r} not found")
    y = pd.to_numeric(df[label], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isin(y, (0.0, 1.0))):
        raise DataValidationError(
            f"guest {ctx.name!r}: label {label!r} must be 0/1 on every aligned row"
        )
    if len(np.unique(y)) < 2:
        raise DataValidationError(
            f"guest {ctx.name!r}: the aligned rows hold one class only",
            hint="Check the label column and the intersection.",
        )
    labels: np.ndarray = y
    return labels


def party_columns(
    ctx: PartyContext,
) -> tuple[dict[str, tuple[W.Kind, np.ndarray]], np.ndarray | None]:
    """This party's feature columns (aligned order) and, at the guest, the 0/1 label."""
    df = party_table(ctx)
    id_col, label = _setup_names(ctx)
    cols = W.feature_columns(df, [id_col, *([label] if label else [])])
    if not cols:
        raise DataValidationError(
            f"party {ctx.name!r}: no feature column to bin",
            hint="Name at least one feature column for this party.",
        )
    return cols, (_label(ctx, df, label) if label else None)


def binnings(ctx: PartyContext) -> list[W.Binning]:
    """This party's final binnings (after the federated merge), in feature order."""
    return [W.Binning.from_dict(d) for d in woe_state(ctx).binnings]


def woe_values(ctx: PartyContext) -> list[np.ndarray]:
    """WOE of every final bin of every feature (guest: its own; host: as shared)."""
    st = woe_state(ctx)
    if st.woe is None:
        raise ProtocolError(f"party {ctx.name!r} holds no WOE values (share_woe is off)")
    return [np.asarray(w, dtype=np.float64) for w in st.woe]


def woe_matrix_of(
    ctx: PartyContext, features: Sequence[int] | None = None
) -> tuple[np.ndarray, list[str]]:
    """This party's aligned rows WOE-transformed (columns ``features``, default all)."""
    st = woe_state(ctx)
    cols, _ = party_columns(ctx)
    names = list(st.features)
    bins, woes = binnings(ctx), woe_values(ctx)
    idx = list(range(len(names))) if features is None else list(features)
    X = np.empty((len(next(iter(cols.values()))[1]), len(idx)), dtype=np.float64)
    for k, j in enumerate(idx):
        X[:, k] = woes[j][bins[j].transform(cols[names[j]][1])]
    return X, [names[j] for j in idx]


__all__ = [
    "STATE_KEY",
    "GuestKey",
    "HostBins",
    "WoeState",
    "binnings",
    "party_columns",
    "party_table",
    "woe_matrix_of",
    "woe_state",
    "woe_values",
]
