"""Local binning, WOE/IV, merging, selection and PSI against hand computations and
optbinning."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from features import woe as W


def _data(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 1.2 * x)))).astype(float)
    return x, y


def test_woe_iv_hand_computed() -> None:
    events, counts = np.array([10, 30]), np.array([100, 100])
    t = W.woe_iv(events, counts)
    # non-events 90/160 and 70/160, events 10/40 and 30/40
    w0 = math.log((90 / 160) / (10 / 40))
    w1 = math.log((70 / 160) / (30 / 40))
    assert t.woe == pytest.approx([w0, w1], abs=1e-15)
    iv = (90 / 160 - 10 / 40) * w0 + (70 / 160 - 30 / 40) * w1
    assert t.iv == pytest.approx(iv, abs=1e-15)


def test_woe_iv_equals_optbinning_on_the_same_splits() -> None:
    from optbinning import OptimalBinning

    x, y = _data()
    splits = [-1.0, -0.3, 0.4, 1.1]
    b = W.with_splits("numeric", splits, x)
    t = W.woe_from_ids(b.transform(x), y, b.n_bins)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ob = OptimalBinning(
            dtype="numerical", user_splits=splits, user_splits_fixed=[True] * 4
        ).fit(x, y.astype(int))
        table = ob.binning_table.build()
    assert t.iv == pytest.approx(float(table.loc["Totals", "IV"]), abs=1e-9)
    ref_woe = table["WoE"].to_numpy()[: b.n_bins].astype(float)
    np.testing.assert_allclose(t.woe, ref_woe, atol=1e-9)  # same sign convention
    np.testing.assert_array_equal(t.counts, table["Count"].to_numpy()[: b.n_bins])


def test_fine_binning_respects_min_size_and_handles_missing() -> None:
    x, _ = _data(3000, 1)
    x[:40] = np.nan  # fewer missing cells than min_bin_size: merged into the largest bin
    b = W.fine_binning(x, "numeric", n_bins=20, min_bin_size=100)
    counts = np.bincount(b.transform(x), minlength=b.n_bins)
    assert counts.min() >= 100 and 10 <= b.n_bins <= 20
    assert b.n_fine == b.n_bins + 1  # the missing fine bin shares a final bin
    x2 = x.copy()
    x2[:300] = np.nan
    b2 = W.fine_binning(x2, "numeric", n_bins=20, min_bin_size=100)
    ids = b2.transform(x2)
    assert len(set(ids[:300])) == 1 and ids[0] == b2.n_bins - 1  # own bin, last
    # intervals are left-closed: a split value falls in the bin above it
    s = b2.splits[3]
    assert b2.transform(np.array([s]))[0] == b2.transform(np.array([s + 1e-9]))[0]


def test_fine_binning_categorical_pools_rare_values() -> None:
    vals = np.array(["a"] * 500 + ["b"] * 300 + ["c"] * 30 + ["d"] * 40 + [None] * 5, dtype=object)
    b = W.fine_binning(vals, "categorical", n_bins=10, min_bin_size=50)
    ids = b.transform(vals)
    assert ids[0] != ids[500]
    assert ids[800] == ids[830]  # c and d pooled: 70 rows >= 50
    assert b.transform(np.array(["never seen"], dtype=object))[0] == ids[800]
    assert np.bincount(ids).min() >= 50


def test_merge_plan_monotonic_min_size_both_classes_max_bins() -> None:
    rng = np.random.default_rng(5)
    counts = rng.integers(20, 400, 20)
    rate = np.clip(0.05 + 0.02 * np.arange(20) + rng.normal(0, 0.04, 20), 0.0, 1)
    events = np.rint(counts * rate)
    events[3] = 0  # a pure bin must merge
    plan = W.merge_plan(events, counts, kind="numeric", min_bin_size=150, max_bins=6)
    assert np.all(np.diff(plan) >= 0)  # adjacent groups only
    k = plan.max() + 1
    ev = np.bincount(plan, weights=events, minlength=k)
    cn = np.bincount(plan, weights=counts, minlength=k)
    assert cn.min() >= 150 and k <= 6
    assert np.all(ev > 0) and np.all(ev < cn)
    r = ev / cn
    assert np.all(np.diff(r) >= 0) or np.all(np.diff(r) <= 0)


def test_merge_plan_categorical_orders_by_event_rate_and_missing_alone() -> None:
    events = np.array([50, 5, 30, 10])
    counts = np.array([100, 100, 100, 100])
    plan = W.merge_plan(
        events, counts, kind="categorical", min_bin_size=50, max_bins=8, missing_bin=3
    )
    assert plan.tolist() == [2, 0, 1, 3]  # by rate: 0.05, 0.3, 0.5; missing last
    small = W.merge_plan(
        events, np.array([100, 100, 100, 20]), kind="numeric", min_bin_size=50, missing_bin=3
    )
    # a small missing bin joins the group with the closest event rate (10/20 = 0.5)
    assert small[3] == small[0]


def test_binning_merge_roundtrip_and_labels() -> None:
    x, _ = _data(1000, 2)
    b = W.with_splits("numeric", [-1, 0, 1], x)
    m = b.merged([0, 0, 1, 2])
    assert m.n_bins == 3 and m.final_splits() == [0.0, 1.0]
    assert W.Binning.from_dict(m.to_dict()) == m
    assert m.labels()[0] == "[-inf, -1) | [-1, 0)"
    np.testing.assert_array_equal(m.transform(x), np.array([0, 0, 1, 2])[b.transform(x)])


def test_optimal_binning_is_monotonic_with_min_size() -> None:
    x, y = _data(5000, 3)
    b = W.optimal_binning(x, "numeric", y, max_bins=6, min_bin_size=200)
    t = W.woe_from_ids(b.transform(x), y, b.n_bins)
    assert 3 <= b.n_bins <= 6 and t.counts.min() >= 200
    assert np.all(np.diff(t.event_rate) > 0)
    assert t.iv > 0.3


def test_select_features_by_iv_and_correlation() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=500)
    X = np.column_stack(
        [a, a + rng.normal(0, 0.05, 500), rng.normal(size=500), rng.normal(size=500)]
    )
    sel = W.select_features([0.3, 0.2, 0.1, 0.01], X, iv_min=0.02, corr_max=0.7)
    assert sel.kept == [0, 2]
    assert "corr" in sel.dropped[1] and "iv" in sel.dropped[3]
    assert W.select_features([0.3, 0.2, 0.1, 0.5], X, max_features=1).kept == [3]


def test_psi_hand_computed() -> None:
    e, a = np.array([50, 50]), np.array([25, 75])
    want = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert W.psi(e, a) == pytest.approx(want, abs=1e-15)
    assert W.psi(e, e) == 0.0


def test_column_kinds_and_dates() -> None:
    df = pd.DataFrame(
        {"n": [1, 2, None], "d": ["2024-01-01", None, "2024-01-03"], "c": ["x", "y", None]}
    )
    cols = W.feature_columns(df, [])
    assert [cols[c][0] for c in "ndc"] == ["numeric", "numeric", "categorical"]
    np.testing.assert_allclose(cols["d"][1][[0, 2]], [19723, 19725])
    assert np.isnan(cols["d"][1][1]) and cols["c"][1][2] is None
