"""Merging bins from aggregates: the guest decides from per-bin counts, the owner applies.

:func:`merge_plan` reads per-bin event and row counts only (no edges, no rows) and
returns merge instructions (bin numbers); the bin owner applies them with
:meth:`~features.woe.bins.Binning.merged`. Nothing else is revealed to anyone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crypto.errors import DataValidationError
from features.woe.columns import Kind


def _iv_term(e: float, c: float, E: float, NE: float) -> float:
    ne = c - e
    if e <= 0 or ne <= 0:
        return 0.0
    pe, pn = e / E, ne / NE
    return (pn - pe) * math.log(pn / pe)


def merge_plan(
    events: np.ndarray,
    counts: np.ndarray,
    *,
    kind: Kind,
    missing_bin: int | None = None,
    min_bin_size: int = 50,
    max_bins: int = 8,
    monotonic: bool = True,
    min_class: int = 1,
) -> np.ndarray:
    """Final group of every bin, decided from per-bin event and row counts only.

    1. every group holds >= ``min_bin_size`` rows and >= ``min_class`` of each class (its
       WOE gives its event count away: k of :mod:`features.disclosure` for a split that
       leaves a party); a failing group merges with the neighbour of the closer event rate;
    2. numeric: adjacent groups violating a monotonic event rate merge (pool adjacent
       violators; the direction follows the count-weighted trend); categorical bins are
       ordered by event rate first, so merging neighbours keeps them monotonic;
    3. while more than ``max_bins`` groups remain, the adjacent pair losing least IV merges;
    4. a missing-value bin stays alone when it passes 1., else joins the group with the
       closest event rate.
    Groups are numbered in order (ascending value, or ascending event rate), missing last.
    """
    ev = np.asarray(events, dtype=np.float64)
    n = np.asarray(counts, dtype=np.float64)
    E, NE = float(ev.sum()), float((n - ev).sum())
    if E <= 0 or NE <= 0:
        raise DataValidationError("cannot merge bins: the label has only one class here")
    k = ev.size
    order = [i for i in range(k) if i != missing_bin and n[i] > 0]
    empty = [i for i in range(k) if i != missing_bin and n[i] <= 0]
    if kind == "categorical":
        order.sort(key=lambda i: (ev[i] / n[i], i))
    gs = _Groups(ev, n, min_bin_size, [[i] for i in order], max(1, int(min_class)))
    _merge_failing(gs)  # 1. size and purity
    if monotonic and kind == "numeric" and len(gs.groups) > 2:
        _merge_monotonic(gs)  # 2. monotonic (numeric)
    _merge_to_max(gs, max_bins, E, NE)  # 3. at most max_bins groups (missing on top)
    return _group_ids(gs, k, empty, missing_bin)


@dataclass
class _Groups:
    """Groups of bins (lists of bin numbers, in order) over per-bin events and counts."""

    ev: np.ndarray
    n: np.ndarray
    min_bin_size: int
    groups: list[list[int]]
    min_class: int = 1

    def st(self, g: list[int]) -> tuple[float, float]:
        return float(self.ev[g].sum()), float(self.n[g].sum())

    def rate(self, g: list[int]) -> float:
        e, c = self.st(g)
        return e / c

    def bad(self, g: list[int]) -> bool:
        e, c = self.st(g)
        return c < self.min_bin_size or e < self.min_class or c - e < self.min_class

    def merge(self, a: int, b: int) -> None:
        a, b = min(a, b), max(a, b)
        self.groups[a] = self.groups[a] + self.groups[b]
        del self.groups[b]


def _merge_failing(gs: _Groups) -> None:
    """Merge every group too small or of one class with the neighbour of closer rate."""
    groups = gs.groups
    while len(groups) > 1:
        offenders = [j for j, g in enumerate(groups) if gs.bad(g)]
        if not offenders:
            break
        j = min(offenders, key=lambda j: (gs.st(groups[j])[1], j))
        if j == 0:
            gs.merge(0, 1)
        elif j == len(groups) - 1:
            gs.merge(j - 1, j)
        else:
            r = gs.rate(groups[j])
            left, right = abs(gs.rate(groups[j - 1]) - r), abs(gs.rate(groups[j + 1]) - r)
            gs.merge(j, j - 1 if left <= right else j + 1)


def _merge_monotonic(gs: _Groups) -> None:
    """Pool adjacent violators of the count-weighted trend of the event rate."""
    groups = gs.groups
    rates = np.array([gs.rate(g) for g in groups])
    w = np.array([gs.st(g)[1] for g in groups])
    pos = np.arange(len(groups), dtype=np.float64)
    pm = np.average(pos, weights=w)
    rm = np.average(rates, weights=w)
    increasing = float(np.sum(w * (pos - pm) * (rates - rm))) >= 0
    i = 0
    while i < len(groups) - 1:
        r0, r1 = gs.rate(groups[i]), gs.rate(groups[i + 1])
        if (r1 < r0) if increasing else (r1 > r0):
            gs.merge(i, i + 1)
            i = max(i - 1, 0)
        else:
            i += 1


def _merge_to_max(gs: _Groups, max_bins: int, E: float, NE: float) -> None:
    """While more than ``max_bins`` groups remain, merge the adjacent pair losing least IV."""
    groups = gs.groups
    while len(groups) > max(1, max_bins):
        losses = []
        for j in range(len(groups) - 1):
            a, b = gs.st(groups[j]), gs.st(groups[j + 1])
            both = (a[0] + b[0], a[1] + b[1])
            losses.append(_iv_term(*a, E, NE) + _iv_term(*b, E, NE) - _iv_term(*both, E, NE))
        gs.merge(int(np.argmin(losses)), int(np.argmin(losses)) + 1)


def _group_ids(gs: _Groups, k: int, empty: list[int], missing_bin: int | None) -> np.ndarray:
    """Final group of every bin: empty bins join their neighbour in value order; the
    missing bin stays alone when it passes the size and purity rule, else joins the group
    of the closest event rate."""
    groups, ev, n = gs.groups, gs.ev, gs.n
    out = np.full(k, -1, dtype=np.int64)
    for g, members in enumerate(groups):
        out[members] = g
    for i in empty:
        near = [j for j in range(k) if out[j] >= 0 and j != missing_bin]
        out[i] = out[min(near, key=lambda j: abs(j - i))] if near else 0
    if missing_bin is not None:
        if n[missing_bin] <= 0:
            out[missing_bin] = out[int(np.argmax(np.where(out >= 0, n, -1)))] if groups else 0
        elif gs.bad([missing_bin]) or not groups:
            if groups:
                r = ev[missing_bin] / n[missing_bin]
                out[missing_bin] = int(np.argmin([abs(gs.rate(g) - r) for g in groups]))
            else:
                out[missing_bin] = 0
        else:
            out[missing_bin] = len(groups)
    return out


__all__ = ["merge_plan"]
