"""Joint inference (step 5): a sample walks the trees across parties.

The guest sends each host (row, split id) queries for the nodes the host owns on the rows'
current paths; the host answers one bit (left/right) per query. The guest learns the path
of every row (the host's thresholds stay at the host); a host learns which of its split ids
each row reaches. The probabilities stay at the guest (written to its own work dir) unless
the guest is asked to reveal them to the coordinator (tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crypto.errors import DataValidationError, ProtocolError
from features.binning import QuantileBinner
from features.metrics import sigmoid
from federation.alignment import apply_commit
from federation.party import PartyContext, register
from federation.pieces import piece_folder
from federation.roles import PartyRole
from federation.scores import SCORES_FILE, write_scores
from federation.secureboost.data import scoring_matrix
from federation.secureboost.messages import (
    PREDICT_ANSWER,
    PREDICT_BEGIN,
    PREDICT_RESULT,
    PREDICT_STEP,
    PayloadExchange,
    host_names,
)
from federation.secureboost.model import load_piece, write_json
from federation.secureboost.state import PREDICT_KEY, PredictState
from federation.transport import Envelope, Payload, Transport


@register(PREDICT_BEGIN)
def _predict_begin(ctx: PartyContext, payload: Payload) -> Payload:
    """Every party: load its model piece and bin its aligned rows with its own edges.

    ``model_ref`` (optional) is the folder holding the piece (a training run's
    ``parties/NAME``, or its run folder at a SuperNode: :func:`federation.pieces.
    piece_folder`), else the party's work dir; a host applies a piggybacked alignment
    commit (``idx``) first. The guest then starts the walk and returns its first queries."""
    if ctx.role == PartyRole.HOST and "idx" in payload:
        apply_commit(ctx, payload)
    try:
        piece = load_piece(piece_folder(ctx, payload.get("model_ref")))
    except DataValidationError:
        raise ProtocolError(
            f"party {ctx.name!r} has no SecureBoost model piece to score with",
            hint="Give the training run's DIR (--model) or train first.",
        ) from None
    binner = QuantileBinner.from_dict(piece["binner"])
    bins = binner.transform(scoring_matrix(ctx, piece))
    st = PredictState(bins, piece)
    ctx.state[PREDICT_KEY] = st
    out: Payload = {"n_rows": int(bins.shape[0])}
    if ctx.role == PartyRole.GUEST:
        st.trees = [{int(k): v for k, v in tr.items()} for tr in piece["trees"]]
        st.pos = np.zeros((len(st.trees), bins.shape[0]), dtype=np.int64)
        out.update(_guest_walk(ctx, st, {}))
    return out


def _walk_own(
    ctx: PartyContext, tr: dict[int, dict[str, Any]], pos: np.ndarray, bins: np.ndarray
) -> None:
    """Move the rows of one tree through the guest's own nodes until none moves."""
    while True:
        moved = False
        for k in np.unique(pos).tolist():
            info = tr[int(k)]
            if "leaf" in info or info["party"] != ctx.name:
                continue
            rows = np.flatnonzero(pos == k)
            left = bins[rows, int(info["feature"])] <= int(info["bin"])
            pos[rows] = np.where(left, 2 * k + 1, 2 * k + 2)
            moved = True
        if not moved:
            return


def _positions(st: PredictState) -> np.ndarray:
    if st.pos is None:
        raise ProtocolError("SecureBoost prediction step at a party without the trees")
    return st.pos


def _guest_walk(ctx: PartyContext, st: PredictState, answers: dict[str, np.ndarray]) -> Payload:
    """Advance every (tree, row) by the hosts' answers, then by the guest's own nodes until
    each row sits at a leaf or at a host's node; return the next queries."""
    trees, pos, bins = st.trees, _positions(st), st.bins
    for h, bits in answers.items():
        t_idx, r_idx = st.pending[h]
        left = np.unpackbits(np.asarray(bits, dtype=np.uint8))[: t_idx.size].astype(bool)
        cur = pos[t_idx, r_idx]
        pos[t_idx, r_idx] = np.where(left, 2 * cur + 1, 2 * cur + 2)
    queries: dict[str, tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]] = {}
    for ti, tr in enumerate(trees):
        _walk_own(ctx, tr, pos[ti], bins)
        for k in np.unique(pos[ti]).tolist():
            info = tr[int(k)]
            if "leaf" in info:
                continue
            rows = np.flatnonzero(pos[ti] == k)
            q = queries.setdefault(str(info["party"]), ([], [], []))
            q[0].append(np.full(rows.size, ti))
            q[1].append(rows)
            q[2].append(np.full(rows.size, int(info["split_id"])))
    st.pending = {}
    out: Payload = {"hosts": sorted(queries)}
    for h, (ts, rs, ss) in queries.items():
        t_idx, r_idx = np.concatenate(ts), np.concatenate(rs)
        st.pending[h] = (t_idx, r_idx)
        out[f"{h}.rows"] = r_idx.astype(np.int64)
        out[f"{h}.sids"] = np.concatenate(ss).astype(np.int64)
    if not queries:
        margin = np.full(bins.shape[0], float(st.piece.get("base_margin", 0.0)))
        for ti, tr in enumerate(trees):
            ids = np.array(sorted(tr), dtype=np.int64)
            w = np.array([tr[int(k)].get("leaf", 0.0) for k in ids])
            margin += w[np.searchsorted(ids, pos[ti])]
        st.margin = margin
        out["done"] = True
    return out


def _predict_state(ctx: PartyContext, what: str) -> PredictState:
    st = ctx.state.get(PREDICT_KEY)
    if not isinstance(st, PredictState):
        raise ProtocolError(f"party {ctx.name!r}: prediction {what} before sb.predict_begin")
    return st


@register(PREDICT_ANSWER)
def _predict_answer(ctx: PartyContext, payload: Payload) -> Payload:
    """Host: left (1) / right (0) for each (row, split id) query on its own splits."""
    st = _predict_state(ctx, "query")
    rows = np.asarray(payload["rows"], dtype=np.int64)
    sids = np.asarray(payload["sids"], dtype=np.int64)
    splits = st.piece["splits"]
    uniq = np.unique(sids)
    left = np.zeros(rows.size, dtype=bool)
    for sid in uniq.tolist():
        if str(sid) not in splits:
            raise ProtocolError(
                f"party {ctx.name!r}: unknown split id {sid}",
                hint="Score with the model pieces of one training run.",
            )
        f, bn = splits[str(sid)]
        sel = sids == sid
        left[sel] = st.bins[rows[sel], int(f)] <= int(bn)
    return {"bits": np.packbits(left)}


@register(PREDICT_STEP)
def _predict_step(ctx: PartyContext, payload: Payload) -> Payload:
    st = _predict_state(ctx, "step")
    hosts = host_names(payload)
    return _guest_walk(ctx, st, {h: np.asarray(payload[f"{h}.bits"]) for h in hosts})


@register(PREDICT_RESULT)
def _predict_result(ctx: PartyContext, payload: Payload) -> Payload:
    """Guest: the probabilities of its aligned rows (kept at the guest unless asked).

    ``scores_file``: write them with the aligned IDs to ``scores.csv`` in the guest's work
    dir (``federation.scores.write_scores``); ``reveal``: return them to the caller."""
    st = ctx.state.pop(PREDICT_KEY, None)
    if not isinstance(st, PredictState) or st.margin is None:
        raise ProtocolError(f"party {ctx.name!r}: no finished SecureBoost prediction")
    prob = sigmoid(st.margin)
    out: Payload = {"n": int(prob.size)}
    out_path = str(payload.get("out", ""))
    if out_path:
        write_json(Path(ctx.work_dir) / out_path, {"probability": prob.tolist()})
    if bool(payload.get("scores_file", False)):
        write_scores(ctx, st.margin)
        out["file"] = SCORES_FILE
    if bool(payload.get("reveal", False)):
        out["probability"] = prob
    return out


@dataclass(frozen=True)
class PredictOutcome:
    """What the coordinator learns from a joint prediction (``probability`` only when the
    guest was asked to reveal it)."""

    n_rows: int
    exchanges: int
    probability: np.ndarray | None
    file: str = ""


def joint_predict(
    transport: Transport,
    guest: str,
    hosts: Sequence[str],
    *,
    begin: dict[str, Payload] | None = None,
    reveal: bool = False,
    scores_file: bool = False,
    out: str = "",
) -> PredictOutcome:
    """Joint inference for the parties' aligned rows with their saved model pieces.

    The walk advances level by level: each exchange carries, for every host, all pending
    (row, split id) queries of all trees at once; a host answers one bit per query.
    ``begin`` adds fields to a party's first message (``model_ref``, a host's alignment
    commit ``idx``). ``reveal`` returns the guest's probabilities to the caller (the
    coordinator): only where the guest agrees (tests). ``scores_file`` has the guest write
    ``scores.csv`` (IDs, margin, probability) in its own work dir; ``out`` a JSON file.
    """
    ex = PayloadExchange(transport)
    begin = begin or {}
    reqs = [Envelope(p, PREDICT_BEGIN, dict(begin.get(p, {}))) for p in [guest, *hosts]]
    rep = ex(reqs)
    n = int(rep[guest]["n_rows"])
    for h in hosts:
        if int(rep[h]["n_rows"]) != n:
            raise ProtocolError(
                f"party {h!r} holds {rep[h]['n_rows']} aligned rows to score, the guest {n}",
                hint="Re-run the alignment.",
            )
    walk = rep[guest]
    while not walk.get("done"):
        asked = host_names(walk)
        ans = ex(
            [
                Envelope(h, PREDICT_ANSWER, {"rows": walk[f"{h}.rows"], "sids": walk[f"{h}.sids"]})
                for h in asked
            ]
        )
        step: Payload = {"hosts": asked}
        for h in asked:
            step[f"{h}.bits"] = ans[h]["bits"]
        walk = ex([Envelope(guest, PREDICT_STEP, step)])[guest]
    res = ex(
        [
            Envelope(
                guest,
                PREDICT_RESULT,
                {"reveal": reveal, "out": out, "scores_file": scores_file},
            )
        ]
    )[guest]
    prob = np.asarray(res["probability"], dtype=np.float64) if reveal else None
    return PredictOutcome(
        n_rows=n, exchanges=ex.count, probability=prob, file=str(res.get("file", ""))
    )


def predict(
    transport: Transport, guest: str, hosts: Sequence[str], *, reveal: bool = True, out: str = ""
) -> np.ndarray | None:
    """:func:`joint_predict` returning the guest's probabilities (``reveal``) or ``None``
    (the guest keeps them, written to ``out`` in its work dir when given)."""
    return joint_predict(transport, guest, hosts, reveal=reveal, out=out).probability


__all__ = ["PredictOutcome", "joint_predict", "predict"]
