"""The guest's tree steps (steps 2-4 and 6): gradients, encrypted rows, splits, metrics.

Per tree the guest sends every participating host one ciphertext per active training row,
``[[count=1 | g + offset | h]]`` packed into one plaintext, plus which aligned rows are
active (row subsample); no plaintext gradient crosses. Per level it decrypts the hosts'
packed bin sums: it learns per-bin counts and gradient sums of host features, never bin
edges. The guest decides every split: for its own splits it sends, per node, a bit-mask
saying which of the node's aligned rows go left; for a host's split it sends (node, feature
index, bin index, split id) to that host only. At the end it sends the coordinator public
metrics (AUC, KS, losses, counts, importance by opaque feature id ``party:index`` unless a
host published names).
"""

from __future__ import annotations

import json
import time

import numpy as np

from crypto.errors import ProtocolError
from features.metrics import auc, curve_aggregates, ks, sigmoid
from federation.party import PartyContext, register
from federation.partydata import party_k
from federation.secureboost.cipher import GuestCipher
from federation.secureboost.histograms import int_hist
from federation.secureboost.messages import (
    FINISH,
    LEVEL,
    TREE_BEGIN,
    TREE_END,
    HostHistograms,
    Masks,
    host_names,
    split_requests,
)
from federation.secureboost.params import SecureBoostParams, n_active
from federation.secureboost.state import GuestState, GuestTree, guest_cipher, guest_state
from federation.secureboost.tree import (
    Split,
    apply_masks,
    best_split,
    encode_masks,
    leaf_weight,
    move_rows,
    node_rows,
    node_totals,
)
from federation.transport import Payload


def _grad_hess(st: GuestState, params: SecureBoostParams) -> tuple[np.ndarray, np.ndarray]:
    p = sigmoid(st.margin)
    y = st.y
    w = np.where(y == 1.0, params.scale_pos_weight, 1.0)
    g = (p - y) * w
    h = np.maximum(p * (1.0 - p), 1e-16) * w
    return g, h


@register(TREE_BEGIN)
def _tree_begin(ctx: PartyContext, payload: Payload) -> Payload:
    """Guest: gradients of the current model, row subsample, packed encrypted rows."""
    st = guest_state(ctx)
    params = st.params
    tree = int(payload["tree"])
    layout = st.layout
    g, h = _grad_hess(st, params)
    a, b = layout.encode_rows(g, h)
    train = st.train
    if params.subsample < 1.0:
        rng = np.random.default_rng([st.seed, tree, 7])
        chosen = np.sort(rng.choice(train, size=n_active(params, train.size), replace=False))
    else:
        chosen = train
    active = np.zeros(st.n, dtype=bool)
    active[chosen] = True
    cols = np.asarray(payload["guest_cols"], dtype=np.int64)
    st.cur = GuestTree(tree, a, b, active, cols, np.zeros(st.n, dtype=np.int64))
    out: Payload = {"active": np.packbits(active), "n_active": int(chosen.size)}
    if bool(payload.get("encrypt", True)):
        t = time.perf_counter()
        nxt = n_active(params, train.size) if tree + 1 < params.n_trees else 0
        out["gh"] = guest_cipher(ctx, st).encrypt(
            layout.pack_rows(a[chosen], b[chosen]), prefetch_next=nxt, workers=params.workers
        )
        out["encrypt_seconds"] = time.perf_counter() - t
    return out


def _decode_host_hist(
    st: GuestState, cipher: GuestCipher, cur: GuestTree, host: str, p: HostHistograms
) -> None:
    """Decrypt one host's packed histograms and complete them (skipped bins, siblings)."""
    layout = st.layout
    cols = cur.host_cols[host]
    nbmax = p.nbmax
    built = p.built
    present = np.unpackbits(p.present)[: len(built) * len(cols) * nbmax].astype(bool)
    skip = p.skip.reshape(len(built), len(cols))
    n_present = int(present.sum())
    # in this process: the worker processes are busy with the next tree's randomness, and a
    # level's few hundred CRT decryptions would only queue behind it
    plains = cipher.decrypt(p.hist, 1) if n_present else []
    vals = layout.unpack_bins(plains, n_present)
    flat = np.zeros((len(built) * len(cols) * nbmax, 3), dtype=np.int64)
    flat[present] = vals
    grid = flat.reshape(len(built), len(cols), nbmax, 3)
    a, b, active, pos = cur.a, cur.b, cur.active, cur.pos
    for i, k in enumerate(built):
        rows = np.flatnonzero((pos == k) & active)
        tot = node_totals(rows, a, b)
        hk = grid[i]
        for c in range(len(cols)):
            if skip[i, c] >= 0:
                hk[c, skip[i, c]] = tot - hk[c].sum(axis=0)
        cur.hist[(host, k)] = hk
    # siblings by subtraction from the parent
    for k in built:
        if k == 0:
            continue
        parent = (k - 1) // 2
        sib = k + 1 if k % 2 == 1 else k - 1
        cur.hist[(host, sib)] = cur.hist[(host, parent)] - cur.hist[(host, k)]


def _best_of_node(
    ctx: PartyContext, st: GuestState, cur: GuestTree, hosts: list[str], k: int, level: int
) -> tuple[float, str, Split] | None:
    """The best split of open node ``k`` over the guest's and the hosts' features (ties:
    the guest first, then the hosts in order); ``None`` makes it a leaf."""
    params, layout = st.params, st.layout
    rows_act = np.flatnonzero((cur.pos == k) & cur.active)
    tot = node_totals(rows_act, cur.a, cur.b)
    cur.nodes[k] = {"tot": tot}
    cands: list[tuple[float, int, str, Split]] = []
    if level < params.max_depth and rows_act.size >= 2:
        gh = int_hist(st.bins, rows_act, cur.cols, st.nbmax, cur.a, cur.b)
        s = best_split(gh, layout, params)
        if s is not None:
            cands.append((s.gain, 0, ctx.name, s))
        for i, h in enumerate(hosts):
            hk = cur.hist.get((h, k))
            if hk is None:
                continue
            s = best_split(hk, layout, params)
            if s is not None:
                cands.append((s.gain, i + 1, h, s))
    if not cands:
        cur.leaves[k] = leaf_weight(tot, layout, params)
        return None
    cands.sort(key=lambda c: (-c[0], c[1]))
    gain, _, owner, s = cands[0]
    return gain, owner, s


def _choose_splits(
    ctx: PartyContext, st: GuestState, cur: GuestTree, hosts: list[str], level: int
) -> tuple[list[int], dict[int, np.ndarray], dict[str, list[tuple[int, int, int, int]]]]:
    """Split nodes of this level, the guest's left masks and the hosts' split requests."""
    guest_masks: dict[int, np.ndarray] = {}
    host_splits: dict[str, list[tuple[int, int, int, int]]] = {h: [] for h in hosts}
    split_nodes: list[int] = []
    for k in cur.open:
        best = _best_of_node(ctx, st, cur, hosts, k, level)
        if best is None:
            continue
        gain, owner, s = best
        split_nodes.append(k)
        if owner == ctx.name:
            f = int(cur.cols[s.col])
            guest_masks[k] = st.bins[node_rows(cur.pos, k), f] <= s.bin
            cur.nodes[k].update(party=owner, feature=f, bin=int(s.bin), gain=gain)
        else:
            f = int(cur.host_cols[owner][s.col])
            ids = st.split_ids.setdefault(owner, [])
            sid = len(ids)
            ids.append((cur.tree, k))
            host_splits[owner].append((k, f, int(s.bin), sid))
            cur.nodes[k].update(party=owner, feature=f, split_id=sid, gain=gain)
    return split_nodes, guest_masks, host_splits


@register(LEVEL)
def _level(ctx: PartyContext, payload: Payload) -> Payload:
    """Guest: apply hosts' masks, complete histograms, choose the splits of one level."""
    st = guest_state(ctx)
    cur = st.tree()
    t = time.perf_counter()
    level = int(payload["level"])
    hosts = host_names(payload)
    for h in hosts:
        apply_masks(cur.pos, Masks.from_payload(payload, f"{h}.m."))
    if level == 0:
        for h in hosts:
            cur.host_cols[h] = [int(c) for c in payload[f"{h}.cols"]]
    t_dec = time.perf_counter()
    for h in hosts:
        if f"{h}.hist" in payload:
            hh = HostHistograms.from_payload(payload, f"{h}.")
            _decode_host_hist(st, guest_cipher(ctx, st), cur, h, hh)
    decrypt_s = time.perf_counter() - t_dec
    split_nodes, guest_masks, host_splits = _choose_splits(ctx, st, cur, hosts, level)
    for k, left in guest_masks.items():
        move_rows(cur.pos, node_rows(cur.pos, k), k, left)
    # drop histograms no longer needed (keep those of split nodes: parents of next level)
    cur.hist = {key: v for key, v in cur.hist.items() if key[1] in split_nodes}
    cur.open = [c for k in split_nodes for c in (2 * k + 1, 2 * k + 2)]
    out: Payload = {
        "split_nodes": [int(k) for k in split_nodes],
        "decrypt_seconds": decrypt_s,
        "seconds": time.perf_counter() - t,
    }
    # bit-masks over each node's rows before the move
    out.update(encode_masks(guest_masks).to_payload("g."))
    for h, lst in host_splits.items():
        if lst:
            out[f"{h}.split"] = split_requests(lst)
    return out


def _logloss(y: np.ndarray, z: np.ndarray) -> float:
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def _close_tree(st: GuestState, cur: GuestTree) -> dict[int, float]:
    """Leaf weights of the last open nodes; the tree joins the model, the margin moves."""
    params, layout, pos = st.params, st.layout, cur.pos
    for k in cur.open:
        rows_act = np.flatnonzero((pos == k) & cur.active)
        tot = node_totals(rows_act, cur.a, cur.b)
        cur.nodes[k] = {"tot": tot}
        cur.leaves[k] = leaf_weight(tot, layout, params)
    leaves = cur.leaves
    ids = np.array(sorted(leaves), dtype=np.int64)
    wts = np.array([leaves[int(k)] for k in ids])
    st.margin = st.margin + wts[np.searchsorted(ids, pos)]
    nodes = {}
    for k, info in cur.nodes.items():
        if k in leaves:
            nodes[int(k)] = {"leaf": float(leaves[k])}
        else:
            nodes[int(k)] = {key: v for key, v in info.items() if key != "tot"}
    st.trees.append(nodes)
    st.cur = None
    return leaves


@register(TREE_END)
def _tree_end(ctx: PartyContext, payload: Payload) -> Payload:
    """Guest: apply the last hosts' masks, set leaf weights, update scores, evaluate."""
    st = guest_state(ctx)
    cur = st.tree()
    params = st.params
    for h in host_names(payload):
        apply_masks(cur.pos, Masks.from_payload(payload, f"{h}.m."))
    leaves = _close_tree(st, cur)
    # evaluation on the validation rows (or the training rows without a validation split)
    y, margin = st.y, st.margin
    ev = st.valid if st.valid.size else st.train
    loss = _logloss(y[ev], margin[ev])
    st.losses.append(loss)
    ntrees = len(st.trees)
    stop = False
    if loss < st.best.loss - 1e-12:
        st.best.loss, st.best.n_trees, st.best.margin = loss, ntrees, margin.copy()
    elif params.early_stopping_rounds and ntrees - st.best.n_trees >= params.early_stopping_rounds:
        stop = True
    return {"loss": loss, "stop": stop, "n_leaves": len(leaves), "best_n": int(st.best.n_trees)}


def _importance(
    ctx: PartyContext, st: GuestState, ntrees: int
) -> dict[str, dict[str, dict[str, float]]]:
    imp: dict[str, dict[str, dict[str, float]]] = {}
    for tr in st.trees[:ntrees]:
        for info in tr.values():
            if "party" not in info:
                continue
            party = str(info["party"])
            f = int(info["feature"])
            key = st.feature_names[f] if party == ctx.name else f"{party}:{f}"
            e = imp.setdefault(party, {}).setdefault(key, {"splits": 0, "gain": 0.0})
            e["splits"] += 1
            e["gain"] += float(info["gain"])
    return imp


@register(FINISH)
def _finish(ctx: PartyContext, payload: Payload) -> Payload:
    """Guest: metrics of the kept trees (validation rows, else training rows), importance."""
    st = guest_state(ctx)
    ntrees = int(payload["n_trees"])
    if ntrees == len(st.trees):
        margin = st.margin
    elif ntrees == st.best.n_trees and st.best.margin is not None:
        margin = st.best.margin
    else:
        raise ProtocolError(
            f"guest {ctx.name!r}: cannot evaluate {ntrees} of {len(st.trees)} trees"
        )
    y = st.y
    ev = st.valid if st.valid.size else st.train
    imp = _importance(ctx, st, ntrees)
    metrics = {
        "auc": auc(y[ev], margin[ev]),
        "ks": ks(y[ev], margin[ev]),
        **curve_aggregates(y[ev], margin[ev], min_cell=party_k(ctx)),
        "train_auc": auc(y[st.train], margin[st.train]),
        "importance": imp,
    }
    return {"metrics": json.dumps(metrics)}


__all__: list[str] = []
