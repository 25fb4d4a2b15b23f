"""A party's training rows in hetero LR: where they come from, and its local per-run cache.

Everything here stays at the party. By default a party trains on its aligned, locally
encoded table (``federation.partydata.aligned_matrix``); a protocol that wraps hetero LR
(the scorecard's WOE columns) registers another *matrix source* by name with
:func:`register_matrix_source`, and its driver names it in ``train_aligned``; the name
travels in ``lr.init`` (public), the rows never do. The matrices are cached in the party's
process-local ``ctx.cache`` (rebuilt from the state when it is empty), never in
``ctx.state``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import federation.partydata as partydata
from crypto.errors import ProtocolError
from crypto.pairwise import secret_permutation
from features.encoding import PartyMatrix, Standardizer
from federation.hetero_lr.batches import batch_plan, secret_batch_plan
from federation.hetero_lr.messages import PERM
from federation.hetero_lr.state import LrPartyState, RowSplit
from federation.party import PartyContext

#: A party's rows for hetero LR: aligned order, feature columns, ``y`` at the guest.
MatrixSource = Callable[[PartyContext], PartyMatrix]

#: Registered matrix sources by name: code, not data (process-wide, filled at import).
_SOURCES: dict[str, MatrixSource] = {}
_CACHE_KEY = "hetero_lr.data"


def register_matrix_source(name: str, source: MatrixSource) -> None:
    """Let hetero LR train on ``source`` when a driver names ``name`` (at every party)."""
    if _SOURCES.get(name, source) is not source:
        raise ProtocolError(f"hetero LR matrix source {name!r} registered twice")
    _SOURCES[name] = source


def _aligned(ctx: PartyContext) -> PartyMatrix:
    """This party's aligned, locally encoded features (tests may stand in for it)."""
    return partydata.aligned_matrix(ctx)


def load_matrix(ctx: PartyContext, source: str | None) -> PartyMatrix:
    """The rows hetero LR trains on at this party: the named source, or the aligned table."""
    if not source:
        return _aligned(ctx)
    fn = _SOURCES.get(source)
    if fn is None:
        raise ProtocolError(f"party {ctx.name!r}: unknown hetero LR data source {source!r}")
    return fn(ctx)


@dataclass
class RunData:
    """One run's matrices at one party (process-local): raw and standardised rows, labels,
    and the mini-batch plan of the current epoch."""

    run: str
    raw: np.ndarray
    y: np.ndarray | None
    X: np.ndarray | None = None
    plan: tuple[int, list[np.ndarray]] | None = None


def remember(ctx: PartyContext, st: LrPartyState, m: PartyMatrix) -> RunData:
    """Cache ``m`` as this run's rows (the party's previous run's rows are dropped)."""
    X = np.asarray(m.X, dtype=np.float64)
    y = None if m.y is None else np.asarray(m.y, dtype=np.float64)
    d = RunData(st.run, X, y)
    ctx.cache[_CACHE_KEY] = d
    return d


def _cached(ctx: PartyContext, st: LrPartyState) -> RunData | None:
    d = ctx.cache.get(_CACHE_KEY)
    return d if isinstance(d, RunData) and d.run == st.run else None


def run_data(ctx: PartyContext, st: LrPartyState) -> RunData:
    """This run's rows, rebuilt from the state when the process cache is empty."""
    d = _cached(ctx, st)
    if d is None:
        m = load_matrix(ctx, st.source)
        if np.asarray(m.X).shape[0] != st.n:
            raise ProtocolError(f"party {ctx.name!r}: its aligned rows changed during the run")
        d = remember(ctx, st, m)
    if d.X is None and st.split is not None:
        d.X = (d.raw - st.split.mean) / st.split.scale
    return d


def features(ctx: PartyContext, st: LrPartyState) -> np.ndarray:
    """The standardised feature rows (after the validation split)."""
    X = run_data(ctx, st).X
    if X is None:
        raise ProtocolError(f"party {ctx.name!r}: hetero LR step before its validation rows")
    return X


def labels(ctx: PartyContext, st: LrPartyState) -> np.ndarray:
    """The guest's 0/1 labels (aligned order)."""
    y = run_data(ctx, st).y
    if y is None:
        raise ProtocolError(f"party {ctx.name!r} holds no label column")
    return y


def setup_rows(ctx: PartyContext, st: LrPartyState, valid_idx: np.ndarray) -> None:
    """Split the aligned rows into training and validation rows; fit the standardiser on
    the training rows (local)."""
    party = ctx.name
    n = st.n
    valid_idx = np.asarray(valid_idx, dtype=np.int64)
    if valid_idx.size and (valid_idx.min() < 0 or valid_idx.max() >= n):
        raise ProtocolError(f"party {party!r}: validation indices outside its {n} aligned rows")
    mask = np.ones(n, dtype=bool)
    mask[valid_idx] = False
    train = np.flatnonzero(mask)
    if train.size == 0:
        raise ProtocolError(f"party {party!r}: no training rows left after the validation split")
    d = run_data(ctx, st)
    std = Standardizer().fit(d.raw, train)
    if std.mean_ is None or std.scale_ is None:
        raise ProtocolError(f"party {party!r}: the standardiser did not fit")
    st.split = RowSplit(train=train, valid=valid_idx, mean=std.mean_, scale=std.scale_)
    d.X = std.transform(d.raw)


def plan(ctx: PartyContext, st: LrPartyState, epoch: int) -> list[np.ndarray]:
    """This epoch's mini-batches (positions into the training rows), cached per process."""
    d = _cached(ctx, st)
    if d is not None and d.plan is not None and d.plan[0] == epoch:
        return d.plan[1]
    n_train = st.train.size
    if st.perm_seed is None:
        out = batch_plan(n_train, st.params.batch_size, st.seed, epoch)
    else:
        out = secret_batch_plan(st.perm_seed, n_train, st.params.batch_size, epoch)
    if d is not None:
        d.plan = (epoch, out)
    return out


def batch_rows(ctx: PartyContext, st: LrPartyState, epoch: int, batch: int) -> np.ndarray:
    """The batch's rows (aligned positions) in the order its vectors cross the coordinator:
    sorted (taylor) or in the guest's secret permutation of the batch (exact)."""
    rows = st.train[plan(ctx, st, epoch)[batch]]
    if st.perm_seed is not None:
        rows = rows[secret_permutation(st.perm_seed, PERM, epoch, batch, rows.size)]
    return np.asarray(rows)


__all__ = [
    "MatrixSource",
    "RunData",
    "batch_rows",
    "features",
    "labels",
    "load_matrix",
    "plan",
    "register_matrix_source",
    "remember",
    "run_data",
    "setup_rows",
]
