"""Scorecard party handlers: feature selection, points tables and the guest's report.

``sc.select``: each party keeps features by IV and drops one of every pair of its *own*
WOE columns correlated above ``corr_max`` (computed locally); it replies the indices it
kept and a report (reasons, largest remaining correlation). ``sc.points``: each party turns
its own LR weights into a points table per bin and keeps it (``scorecard.json``: bin edges
and points never leave it); a host sends the sum of its points on every aligned row (the
development sample: training and validation rows) masked with its guest-host pairwise key
(only the guest can remove the masks; it learns the sum over hosts of each aligned row's
points, i.e. the joint score it would also get from ``fedlab score`` on those rows) and a
public summary. ``sc.report``: the guest returns public metrics (min-cell aggregates: the
grade tables of the validation and of the development sample, curves on the validation
rows) and its *own* points table; no host's bins or points are in them. Hetero LR trains
on the selected WOE columns through the matrix source registered here (:data:`WOE_SOURCE`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from crypto.errors import ProtocolError
from crypto.fixedpoint import from_ring64, to_ring64
from features import scorecard as S
from features import woe as W
from features.encoding import PartyMatrix
from features.metrics import DEFAULT_MIN_CELL, auc, curve_aggregates, ks, score_histogram
from federation.hetero_lr.data import register_matrix_source
from federation.hetero_lr.state import LrPartyState, find_state
from federation.party import PartyContext, register
from federation.partydata import party_k
from federation.roles import PartyRole
from federation.scorecard.messages import POINTS, PTS, REPORT, SELECT
from federation.scorecard.woe_state import (
    binnings,
    party_columns,
    party_table,
    woe_matrix_of,
    woe_state,
    woe_values,
)
from federation.transport import Payload

WOE_SOURCE = "scorecard.woe"  # the matrix source hetero LR trains on (the WOE columns)
STATE_KEY = "scorecard"
PTS_FRAC_BITS = 32
"""Host points travel as 64-bit fixed point (resolution 2**-32) under uint64 masks: the
masks cancel exactly, so enterprises with equal points keep equal scores (no float
residue decides a tie)."""
POINTS_PREFIX, POINTS_BASE = "points.", "points_base"


@dataclass
class ScorecardState:
    """One party's scorecard state: its selected features and (guest) its own points of
    every aligned row."""

    selected: list[int]
    row_points: np.ndarray | None = None


def scorecard_state(ctx: PartyContext) -> ScorecardState:
    st = ctx.state.get(STATE_KEY)
    if not isinstance(st, ScorecardState):
        raise ProtocolError(f"party {ctx.name!r}: scorecard message before {SELECT!r}")
    return st


def woe_lr_matrix(ctx: PartyContext) -> PartyMatrix:
    """The selected WOE columns as a ``PartyMatrix`` (what hetero LR trains on)."""
    X, names = woe_matrix_of(ctx, scorecard_state(ctx).selected)
    _, y = party_columns(ctx)
    return PartyMatrix(np.arange(X.shape[0]).astype(str).astype(object), X, names, y)


register_matrix_source(WOE_SOURCE, woe_lr_matrix)


@register(SELECT)
def _select(ctx: PartyContext, payload: Payload) -> Payload:
    iv = [float(v) for v in woe_state(ctx).iv]
    X, _ = woe_matrix_of(ctx)
    max_f = int(payload["max_features"]) if int(payload.get("max_features", 0)) > 0 else None
    sel = W.select_features(
        iv,
        X,
        iv_min=float(payload["iv_min"]),
        corr_max=float(payload["corr_max"]),
        max_features=max_f,
    )
    kept = sel.kept or [int(np.argmax(iv))]  # hetero LR needs a column at every party
    ctx.state[STATE_KEY] = ScorecardState(selected=kept)
    corr = 0.0
    varying = [k for k in kept if X[:, k].std() > 0]  # a constant column correlates with none
    if len(varying) > 1:
        c = np.corrcoef(X[:, varying], rowvar=False)
        corr = float(np.max(np.abs(c - np.eye(len(varying)))))
    return {
        "kept": np.asarray(kept, dtype=np.int64),
        "dropped": json.dumps({str(k): v for k, v in sel.dropped.items()}),
        "max_corr": corr,
    }


def _lr_state(ctx: PartyContext) -> LrPartyState:
    st = find_state(ctx)
    if st is None:
        raise ProtocolError(f"party {ctx.name!r}: {POINTS!r} before the LR was trained")
    return st


def _points_table(ctx: PartyContext, scaling: S.Scaling) -> tuple[S.PointsTable, np.ndarray]:
    """This party's points table and its points summed over features for every row."""
    lr = _lr_state(ctx)
    sel = scorecard_state(ctx).selected
    bins, woes = binnings(ctx), woe_values(ctx)
    names = woe_state(ctx).features
    feats = []
    for k, j in enumerate(sel):
        pts = S.feature_points(
            woes[j], float(lr.w[k]), float(lr.mean[k]), float(lr.scale[k]), scaling
        )
        feats.append(
            S.FeaturePoints(
                names[j],
                bins[j].labels(),
                list(map(float, woes[j])),
                [float(p) for p in pts],
                bins[j].to_dict(),
            )
        )
    guest = ctx.role == PartyRole.GUEST
    base = S.base_points(float(lr.b), scaling) if guest else 0.0
    table = S.PointsTable(ctx.name, ctx.role.value, scaling.to_dict(), feats, base)
    # the training rows are scored by the same code as new rows (``fedlab score``)
    return table, table.row_points(party_table(ctx))


@register(POINTS)
def _points(ctx: PartyContext, payload: Payload) -> Payload:
    scaling = S.Scaling.from_dict(json.loads(str(payload["scaling"])))
    table, total = _points_table(ctx, scaling)
    S.save_points(ctx.work_dir, table)
    lr, sc = _lr_state(ctx), scorecard_state(ctx)
    publish = bool(payload.get("publish", False))
    ids = [
        f.name if publish or ctx.role == PartyRole.GUEST else f"{ctx.name}:f{j}"
        for f, j in zip(table.features, sc.selected, strict=False)
    ]
    out: Payload = {"summary": json.dumps(table.summary(ids))}
    if ctx.role == PartyRole.GUEST:
        sc.row_points = total
    else:
        pair = lr.pair("guest")
        out["pts"] = to_ring64(total, PTS_FRAC_BITS) + pair.uint64(PTS, 0, 0, total.size)
    return out


def _guest_scores(ctx: PartyContext, payload: Payload) -> tuple[np.ndarray, np.ndarray]:
    """Raw joint points of every aligned row (the hosts' masks removed) and the positions
    of the validation rows among them."""
    lr, sc = _lr_state(ctx), scorecard_state(ctx)
    valid = np.asarray(lr.valid, dtype=np.int64)
    if sc.row_points is None:
        raise ProtocolError(f"guest {ctx.name!r}: {REPORT!r} before {POINTS!r}")
    n = sc.row_points.size
    words = np.array(payload.get("pts", np.zeros(n, dtype=np.uint64)), dtype=np.uint64)
    if words.shape != (n,):
        raise ProtocolError(
            f"sc.report: the hosts' masked points have shape {words.shape}, "
            f"expected ({n},) aligned rows"
        )
    for h in lr.pair_keys:
        words -= lr.pair(h).uint64(PTS, 0, 0, n)  # wraps mod 2**64
    raw = sc.row_points + from_ring64(words, PTS_FRAC_BITS)
    sc.row_points = None
    return raw, valid


@register(REPORT)
def _report(ctx: PartyContext, payload: Payload) -> Payload:
    scaling = S.Scaling.from_dict(json.loads(str(payload["scaling"])))
    raw_all, valid = _guest_scores(ctx, payload)
    _, y = party_columns(ctx)
    if y is None:
        raise ProtocolError(f"guest {ctx.name!r} holds no label column")
    raw, yv = raw_all[valid], y[valid]
    scores = scaling.clip(raw)
    k = party_k(ctx)
    rows = S.grade_table(scores, scaling, yv, min_cell=k)
    dev = S.grade_table(scaling.clip(raw_all), scaling, y, min_cell=k)
    ends = np.sort(scores)
    metrics = {
        "score_auc": auc(yv, -scores),
        "score_ks": ks(yv, -scores),
        # the ends of the score range as means of the k lowest / highest validation scores
        # (aggregates of k enterprises, never one enterprise's score)
        "score_min": float(ends[:k].mean()),
        "score_max": float(ends[-k:].mean()),
        "score_mean": float(scores.mean()),
        "clipped_share": float(np.mean((raw < scaling.min_score) | (raw > scaling.max_score))),
        "grades": [r.__dict__ for r in rows],
        "grade_table": S.format_grade_table(rows, scaling),
        "grades_dev": [r.__dict__ for r in dev],
        "grade_table_dev": S.format_grade_table(dev, scaling),
        **score_curves(yv, scores, min_cell=k),
        **bank_points(S.load_points(ctx.work_dir)),
    }
    return {"metrics": json.dumps(metrics)}


def score_curves(
    y: np.ndarray, scores: np.ndarray, *, min_cell: int = DEFAULT_MIN_CELL
) -> dict[str, Any]:
    """ROC points, lift table, score histogram and positive count of the validation scores,
    as ``features.metrics.curve_aggregates`` makes them for every algorithm (each ROC step,
    lift group and shown histogram bin covers at least ``min_cell`` enterprises; nothing
    when either class has fewer). A low score means high risk: the ROC and the lift rank
    by ``-score`` (riskiest first, as ``score_auc``); the lift groups' score bounds and the
    histogram are on the points scale."""
    agg = curve_aggregates(y, -scores, min_cell=min_cell)
    if agg:
        agg["lift"] = [
            {**r, "min_score": -r["max_score"], "max_score": -r["min_score"]} for r in agg["lift"]
        ]
        agg["score_hist"] = score_histogram(scores, min_cell=min_cell)
    return agg


def bank_points(table: S.PointsTable) -> dict[str, float]:
    """The guest bank's own points table as model-library metrics: ``points_base`` and
    ``points.<column>.<n> <bin>`` per bin of each of its selected features, ``n`` the bin's
    number from 1, zero-padded so that sorted keys (metrics.json is written sorted) keep
    the bins in order.

    Only the guest calls this, on its own table: its columns, its bin descriptions (edges or
    categories of its own data) and its points. It reaches the coordinator in the guest's
    ``sc.report`` reply and the bank's model version; a host's table never leaves the host.
    """
    out: dict[str, float] = {POINTS_BASE: float(table.base)}
    for f in table.features:
        width = len(str(len(f.bins)))
        for i, (label, pts) in enumerate(zip(f.bins, f.points, strict=True), start=1):
            out[f"{POINTS_PREFIX}{f.name}.{i:0{width}d} {label}"] = float(pts)
    return out


__all__ = [
    "POINTS_BASE",
    "POINTS_PREFIX",
    "PTS_FRAC_BITS",
    "STATE_KEY",
    "WOE_SOURCE",
    "ScorecardState",
    "bank_points",
    "score_curves",
    "scorecard_state",
    "woe_lr_matrix",
]
