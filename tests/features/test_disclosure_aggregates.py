"""Every aggregate the guest reports obeys k (features.disclosure): no cell, and no cell
that follows from a published total, describes fewer than k enterprises; a positive/negative
split is shown only where both sides reach k. Each check counts from the rows themselves."""

from __future__ import annotations

import numpy as np
import pytest

from features import metrics
from features import scorecard as S
from features.disclosure import DEFAULT_MIN_CELL, hidden_cells, merge_small_bins
from features.woe import merge_plan

K = DEFAULT_MIN_CELL


def _rare_defaults(n: int, bads: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    y[rng.choice(n, bads, replace=False)] = 1
    return y, rng.normal(size=n) + 0.8 * y


def test_histogram_cells_all_reach_k_and_add_up_to_the_total() -> None:
    """Normal scores in 20 equal bins leave a few enterprises in the tails: those bins are
    merged, so none is small and none follows from the total minus the others."""
    _, s = _rare_defaults(500, 50, 1)
    raw, _ = np.histogram(s, bins=20)
    assert 0 < raw[raw > 0].min() < K  # the reference: small tail bins exist
    hist = metrics.score_histogram(s, bins=20, min_cell=K)
    counts, edges = hist["counts"], hist["edges"]
    assert all(isinstance(c, int) and c >= K for c in counts)
    assert sum(counts) == s.size and len(edges) == len(counts) + 1
    assert edges[0] == s.min() and edges[-1] == s.max()
    assert np.all(np.diff(edges) > 0)
    for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True):  # counted from rows
        inside = (s >= lo) & ((s < hi) | (hi == edges[-1]))
        assert int(inside.sum()) == c


def test_lift_groups_hold_k_bad_and_k_good_enterprises() -> None:
    """A 5 % bad rate leaves deciles with about 4 bads each: a group's bad rate would give
    its small bad count away, so groups merge until both classes reach k."""
    y, s = _rare_defaults(800, 40, 2)
    table = metrics.lift_table(y, s, groups=10, min_cell=K)
    order = np.argsort(-s, kind="stable")
    start = 0
    for row in table:
        part = order[start : start + row["count"]]
        start += row["count"]
        bad = int(y[part].sum())
        assert bad == round(row["bad_rate"] * row["count"])
        assert bad >= K and row["count"] - bad >= K, row
    assert start == y.size and len(table) > 1
    assert table[-1]["cum_bad_share"] == pytest.approx(1.0)


def test_grade_table_hides_enough_that_no_small_grade_follows_from_the_total() -> None:
    scaling = S.Scaling(600.0, 50.0, 20.0, 300.0, 900.0)
    rng = np.random.default_rng(3)
    # grade A: 5 enterprises (small); B: 60; C: 80; D: 40 with 2 bads; E, F empty
    scores = np.r_[np.full(5, 700.0), np.full(60, 620.0), np.full(80, 570.0), np.full(40, 520.0)]
    y = np.r_[np.zeros(5), rng.permutation(np.r_[np.ones(15), np.zeros(45)])]
    y = np.r_[y, rng.permutation(np.r_[np.ones(20), np.zeros(60)]), np.r_[np.ones(2), np.zeros(38)]]
    rows = S.grade_table(scores, scaling, y, min_cell=K)
    by = {r.grade: r for r in rows}
    counts = {g: int((scaling.grade(scores) == g).sum()) for g, _ in scaling.grades}
    hidden = [g for g, r in by.items() if r.count is None]
    assert "A" in hidden
    # what is hidden together holds 0 or >= k: the total minus the shown gives no small cell
    assert sum(counts[g] for g in hidden) >= K
    for g, r in by.items():
        if r.count is not None:
            assert r.count == counts[g] and (r.count == 0 or r.count >= K)
        if r.bad_rate is not None:  # a shown split: both sides reach k
            m = scaling.grade(scores) == g
            assert y[m].sum() >= K and (1 - y[m]).sum() >= K
    assert by["D"].bad_rate is None  # 2 bads of 40: the split is held back


def test_hidden_cells_add_secondary_suppression() -> None:
    assert hidden_cells([[50, 3, 40]], K, [False, True, False]) == [False, True, True]
    assert hidden_cells([[50, 3, 40, 0]], K, [False, True, False, False])[3] is False
    assert hidden_cells([[50, 0, 40]], K, [False, False, False]) == [False, False, False]
    assert merge_small_bins([3, 50, 2, 2, 40], K) == [0, 0, 1, 1, 1]


def test_woe_groups_hold_k_events_and_k_non_events() -> None:
    """A shared WOE gives the bin's event count away to the host: with ``min_class = k``
    every merged group holds at least k of each class."""
    rng = np.random.default_rng(4)
    counts = np.full(20, 60)
    events = rng.binomial(60, np.linspace(0.02, 0.3, 20))
    assert events.min() < K  # the reference: fine bins with fewer than k events
    plan = merge_plan(events, counts, kind="numeric", min_bin_size=50, max_bins=8, min_class=K)
    ev = np.bincount(plan, weights=events)
    cn = np.bincount(plan, weights=counts)
    assert ev.min() >= K and (cn - ev).min() >= K
