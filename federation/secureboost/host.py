"""The hosts' tree steps (steps 3-4): encrypted histograms, and their own splits.

Per tree a host receives one ciphertext per active training row and which aligned rows are
active; per level it returns, for the smaller child of every node split at the level above,
encrypted per-(node, feature, bin) sums of those ciphertexts (additions only), many bins
packed into one ciphertext and re-randomised, plus which bins are empty and which one bin
per (node, feature) it left out (the guest derives it from the node total). For a split on
one of its features it receives (node, feature index, bin index, split id), keeps the
threshold under the split id and returns the node's left bit-mask: every party learns the
partition of the aligned rows into tree nodes, not the thresholds.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from crypto.errors import ProtocolError
from federation.party import PartyContext, register
from federation.secureboost.histograms import restrict_plan
from federation.secureboost.messages import (
    APPLY,
    HIST,
    HostHistograms,
    Masks,
    read_split_requests,
)
from federation.secureboost.state import HostState, HostTree, host_cipher, host_rows, host_state
from federation.secureboost.tree import (
    apply_masks,
    encode_masks,
    move_rows,
    node_rows,
    smaller_children,
)
from federation.secureboost.workers import (
    Unit,
    Work,
    new_token,
    pack_parallel,
    share_rows,
    unit_sums,
)
from federation.transport import Payload


def _host_apply(ctx: PartyContext, st: HostState, payload: Payload) -> Payload:
    """Apply this host's own splits (store thresholds) and the other parties' masks."""
    pos = st.tree().pos
    masks: dict[int, np.ndarray] = {}
    for k, f, bn, sid in read_split_requests(payload).tolist():
        if not 0 <= f < st.bins.shape[1]:
            raise ProtocolError(f"party {ctx.name!r}: split on unknown feature index {f}")
        rows = node_rows(pos, k)
        masks[k] = st.bins[rows, f] <= bn
        st.splits[int(sid)] = (int(f), int(bn))
    enc = encode_masks(masks)
    for k, left in masks.items():
        move_rows(pos, node_rows(pos, k), k, left)
    apply_masks(pos, Masks.from_payload(payload, "m."))
    return enc.to_payload("m.")


def _begin_tree(ctx: PartyContext, st: HostState, payload: Payload) -> None:
    """Level 0: this tree's active rows and the guest's ciphertexts of them."""
    active = np.unpackbits(np.asarray(payload["active"], dtype=np.uint8))[: st.n].astype(bool)
    gh = bytes(payload["gh"])
    token = new_token()
    rows_file = share_rows(Path(ctx.work_dir), gh, st.backend, st.params.workers)
    hc = HostTree(
        tree=int(payload["tree"]),
        pos=np.zeros(st.n, dtype=np.int64),
        active=active,
        gh=gh,
        token=token,
        inv=np.full(st.n, -1, dtype=np.int64),
        cols=np.asarray(payload["cols"], dtype=np.int64),
        rows_file=rows_file,
    )
    cts = host_rows(ctx, st, hc)
    if cts.size != int(active.sum()):
        raise ProtocolError(
            f"party {ctx.name!r}: got {cts.size} encrypted rows for {int(active.sum())} active rows"
        )
    hc.inv[np.flatnonzero(active)] = np.arange(cts.size)
    st.cur = hc


@register(HIST)
def _hist(ctx: PartyContext, payload: Payload) -> Payload:
    """Host: apply the previous level's splits, then encrypted histograms of this level."""
    st = host_state(ctx)
    level = int(payload["level"])
    t = time.perf_counter()
    if level == 0:
        _begin_tree(ctx, st, payload)
    out = _host_apply(ctx, st, payload)
    hc = st.tree()
    if level == 0:
        build = [0]
    else:
        split_nodes = [int(k) for k in payload["split_nodes"]]
        build = smaller_children(hc.pos, hc.active, split_nodes)
    out.update(_build_hists(ctx, st, hc, build).to_payload())
    out["seconds"] = time.perf_counter() - t
    return out


@register(APPLY)
def _apply(ctx: PartyContext, payload: Payload) -> Payload:
    """Host: apply own splits (and others' masks) without building histograms."""
    return _host_apply(ctx, host_state(ctx), payload)


def _build_hists(
    ctx: PartyContext, st: HostState, hc: HostTree, build: list[int]
) -> HostHistograms:
    """Encrypted (count, g, h) sums of every (built node, sampled column, bin) except each
    (node, column)'s most populated bin, ``k`` per ciphertext, in (node, column, bin) order."""
    cipher = host_cipher(ctx, st)
    layout = st.host_layout()
    bins, cols, pos, active, inv = st.bins, hc.cols, hc.pos, hc.active, hc.inv
    nbmax = int(st.nbmax)
    ncols = len(cols)
    skip = np.full((len(build), ncols), -1, dtype=np.int64)
    plan = restrict_plan(st.plan, {int(f): j for j, f in enumerate(cols.tolist())})
    units: list[Unit] = []
    for i, k in enumerate(build):
        rows = np.flatnonzero((pos == k) & active)
        if rows.size == 0 or plan is None:
            continue
        sub = bins[np.ix_(rows, cols)]
        skip[i] = [int(np.argmax(np.bincount(sub[:, c], minlength=nbmax))) for c in range(ncols)]
        units.append(Unit(i * ncols * nbmax, inv[rows], sub, skip[i].copy()))
    work = Work(cipher, host_rows(ctx, st, hc), st.params.workers, hc.rows_file, hc.token)
    keys, sums = unit_sums(work, units, plan, nbmax)
    packed = pack_parallel(work, sums, layout.w, layout.k)
    present = np.zeros(len(build) * ncols * nbmax, dtype=bool)
    present[keys] = True
    return HostHistograms(
        built=[int(k) for k in build],
        nbmax=nbmax,
        present=np.packbits(present),
        skip=skip.ravel(),
        hist=cipher.dump(packed) if packed else b"",
    )


__all__: list[str] = []
