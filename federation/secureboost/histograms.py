"""Histograms of (count, g, h) per (node, feature, bin): the guest's plain ones, and the
additions a host shares across its columns along a merge tree.

The guest builds its own histograms in the clear and they never leave it. A host sums the
guest's ciphertexts per bin of its own features (additions only): it learns nothing of the
gradients, and its bin edges never leave it; only the packed, re-randomised sums go to the
guest, which learns per-bin counts and gradient sums of host features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from federation.secureboost.cipher import segment_reduce

# A merge tree over a host's columns: a column index, or a pair of merge trees.
Plan = Any
_PLAN_ROWS = 4096  # rows sampled to choose the merge tree
_PLAN_GREEDY_MAX = 40  # columns beyond which the tree joins neighbours instead of searching


def int_hist(
    bins: np.ndarray, rows: np.ndarray, cols: np.ndarray, nbmax: int, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """(len(cols), nbmax, 3) int64 histogram of (count, A, B) over ``rows`` (plaintext)."""
    out = np.zeros((len(cols), nbmax, 3), dtype=np.int64)
    if rows.size == 0 or len(cols) == 0:
        return out
    sub = bins[np.ix_(rows, cols)].astype(np.int64)
    keys = (sub + (np.arange(len(cols)) * nbmax)[None, :]).ravel()
    m = len(cols) * nbmax
    ar = np.repeat(a[rows], len(cols)).astype(np.float64)
    br = np.repeat(b[rows], len(cols)).astype(np.float64)
    out[..., 0] = np.bincount(keys, minlength=m).reshape(len(cols), nbmax)
    out[..., 1] = (
        np.rint(np.bincount(keys, weights=ar, minlength=m))
        .astype(np.int64)
        .reshape(len(cols), nbmax)
    )
    out[..., 2] = (
        np.rint(np.bincount(keys, weights=br, minlength=m))
        .astype(np.int64)
        .reshape(len(cols), nbmax)
    )
    return out


def merge_plan(bins: np.ndarray) -> Plan:
    """A binary merge tree over the columns of ``bins`` (rows x columns of bin indices) for
    :func:`cube_sums`, or ``None`` without columns.

    The additions :func:`cube_sums` needs are about the number of rows plus, for every inner
    node, the number of distinct bin combinations of its columns. Greedily (as in Huffman's
    code) the two groups whose union shows the fewest distinct combinations are joined
    first, on at most ``_PLAN_ROWS`` evenly spaced rows."""
    n, m = bins.shape
    if m == 0:
        return None
    sel = bins if n <= _PLAN_ROWS else bins[np.linspace(0, n - 1, _PLAN_ROWS).astype(np.int64)]
    if m > _PLAN_GREEDY_MAX or n == 0:
        level: list[Plan] = list(range(m))
        while len(level) > 1:
            level = [
                tuple(level[i : i + 2]) if i + 1 < len(level) else level[i]
                for i in range(0, len(level), 2)
            ]
        return level[0]
    groups: dict[int, tuple[Plan, np.ndarray]] = {}
    for c in range(m):
        groups[c] = (c, np.unique(sel[:, c], return_inverse=True)[1].reshape(-1))
    joint: dict[tuple[int, int], tuple[int, np.ndarray]] = {}
    nxt = m
    while len(groups) > 1:
        for a in groups:
            for b in groups:
                if a < b and (a, b) not in joint:
                    ia, ib = groups[a][1], groups[b][1]
                    ids = np.unique(ia * (int(ib.max()) + 1) + ib, return_inverse=True)[1]
                    joint[(a, b)] = (int(ids.max()) + 1, ids.reshape(-1))
        a, b = min(joint, key=lambda ab: (joint[ab][0], ab))
        groups[nxt] = ((groups[a][0], groups[b][0]), joint[(a, b)][1])
        del groups[a], groups[b]
        joint = {ab: v for ab, v in joint.items() if a not in ab and b not in ab}
        nxt += 1
    return next(iter(groups.values()))[0]


def restrict_plan(plan: Plan, position: dict[int, int]) -> Plan:
    """The merge tree over the sampled columns only, leaves renamed to their positions
    (``position``: column index -> position among the sampled columns); ``None`` if empty."""
    if plan is None:
        return None
    if isinstance(plan, (int, np.integer)):
        return position.get(int(plan))
    a, b = (restrict_plan(p, position) for p in plan)
    return b if a is None else a if b is None else (a, b)


def cube_sums(
    sub: np.ndarray, modes: np.ndarray, plan: Plan, values: Sequence[Any], modulus: Any
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Sums (``modulus is None``) or products mod ``modulus`` of ``values`` (one per row of
    ``sub``, rows x columns of bin indices) per (column, bin), except each column's
    ``modes[c]`` bin; returns ``(columns, bins, sums)`` of the non-empty bins.

    Additions are shared: for every inner node of the merge tree ``plan`` the values are
    first summed per distinct bin combination of its columns ("cells"); each child then
    sums its parent's cells instead of the rows. Rows (cells) whose columns are all at
    their mode bins are needed by no output and skipped. The sums are exact whatever the
    order (plaintext integers; ciphertext products mod ``n**2``)."""
    nodes: list[tuple[tuple[int, ...], np.ndarray, np.ndarray, int]] = []

    def build(p: Plan) -> int:
        if isinstance(p, (int, np.integer)):
            col = sub[:, int(p)].astype(np.int64)
            nodes.append(((), col, col == int(modes[int(p)]), int(p)))
        else:
            i, j = build(p[0]), build(p[1])
            ia, ib = nodes[i][1], nodes[j][1]
            ids = np.unique(ia * (int(ib.max()) + 1) + ib, return_inverse=True)[1]
            nodes.append(((i, j), ids.reshape(-1), nodes[i][2] & nodes[j][2], -1))
        return len(nodes) - 1

    out_c: list[np.ndarray] = []
    out_b: list[np.ndarray] = []
    out_v: list[Any] = []

    def down(k: int, rep: np.ndarray, vals: list[Any]) -> None:
        children, ids, at_mode, col = nodes[k]
        keep = ~at_mode[rep]
        if not keep.all():
            rep = rep[keep]
            vals = [vals[i] for i in np.flatnonzero(keep).tolist()]
        if rep.size == 0:
            return
        g = ids[rep]
        order = np.argsort(g, kind="stable")
        gs = g[order]
        starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
        sums = segment_reduce([vals[i] for i in order.tolist()], starts.tolist(), modulus)
        if col >= 0:
            out_c.append(np.full(starts.size, col, dtype=np.int64))
            out_b.append(gs[starts])
            out_v.extend(sums)
            return
        for child in children:
            down(child, rep[order[starts]], sums)

    if plan is not None and sub.shape[0]:
        down(build(plan), np.arange(sub.shape[0]), list(values))
    if not out_v:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), []
    cs, bs = np.concatenate(out_c), np.concatenate(out_b)
    order = np.lexsort((bs, cs))
    return cs[order], bs[order], [out_v[i] for i in order.tolist()]


__all__ = ["Plan", "cube_sums", "int_hist", "merge_plan", "restrict_plan"]
