"""Evaluation metrics against scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from features import metrics
from lab.errors import DataValidationError


def _data(n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    y = (rng.random(n) < 0.2).astype(float)
    score = y * 0.8 + rng.normal(size=n)
    return y, score


def test_auc_ks_match_sklearn() -> None:
    y, s = _data()
    fpr, tpr, _ = roc_curve(y, s)
    assert metrics.auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert metrics.ks(y, s) == pytest.approx(np.max(tpr - fpr))


def test_ks_hand_computed() -> None:
    # Perfect separation: KS 1; one swap among 2+2 changes TPR-FPR max to 0.5.
    assert metrics.ks(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert metrics.ks(np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 0.5


def test_roc_points_are_coarse_aggregates_close_to_the_exact_curve() -> None:
    y, s = _data()
    pts = metrics.roc_points(y, s, max_points=50, min_cell=10)
    fpr, tpr = np.array(pts["fpr"]), np.array(pts["tpr"])
    assert fpr[0] == tpr[0] == 0.0 and fpr[-1] == tpr[-1] == 1.0
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert len(fpr) <= 52
    # Trapezoid area of the coarse curve is close to the exact AUC.
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(y, s), abs=0.01)


def test_min_cell_limits_points() -> None:
    y, s = _data(100)
    pts = metrics.roc_points(y, s, max_points=50, min_cell=10)
    assert len(pts["fpr"]) <= 100 // 10 + 2


@pytest.mark.parametrize("decimals", [0, 1, None])
def test_roc_steps_hold_min_cell_enterprises_even_with_tied_scores(decimals: int | None) -> None:
    """Tied scores (a scorecard's points sums, clipped scores) cannot make a step of fewer
    than min_cell enterprises, and every point is one of sklearn's exact ROC points."""
    rng = np.random.default_rng(3)
    n = 700
    y = (rng.random(n) < 0.25).astype(float)
    s = 2 * rng.normal(size=n) + y
    if decimals is not None:
        s = np.clip(np.round(s, decimals), -2.0, 3.0)  # ties, and two heavy clipped ends
    pts = metrics.roc_points(y, s, max_points=50, min_cell=10)
    P, N = y.sum(), n - y.sum()
    enterprises = np.rint(np.array(pts["fpr"]) * N + np.array(pts["tpr"]) * P)
    assert enterprises[0] == 0 and enterprises[-1] == n
    assert np.diff(enterprises).min() >= 10, np.diff(enterprises)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    exact = {(round(a, 12), round(b, 12)) for a, b in zip(fpr, tpr, strict=True)}
    assert all(
        (round(a, 12), round(b, 12)) in exact for a, b in zip(pts["fpr"], pts["tpr"], strict=True)
    )
    assert np.trapezoid(pts["tpr"], pts["fpr"]) == pytest.approx(roc_auc_score(y, s), abs=0.02)


def test_lift_table_groups_and_totals() -> None:
    y, s = _data()
    table = metrics.lift_table(y, s, groups=10)
    assert sum(r["count"] for r in table) == y.size
    assert table[0]["bad_rate"] > table[-1]["bad_rate"]
    assert table[-1]["cum_bad_share"] == pytest.approx(1.0)
    assert max(r["ks"] for r in table) <= metrics.ks(y, s) + 1e-12


def test_histogram_merges_small_cells() -> None:
    """A suppressed bin beside a shown one and the total would give the small one away
    (53 - 50 = 3): the small bin is merged instead, keeping the outer edges."""
    s = np.r_[np.zeros(50), np.ones(3) * 10]
    hist = metrics.score_histogram(s, bins=2, min_cell=10)
    assert hist["counts"] == [53] and hist["edges"] == [0.0, 10.0]


def test_bad_input_is_named() -> None:
    with pytest.raises(DataValidationError, match="both classes"):
        metrics.auc(np.zeros(5), np.arange(5.0))
    with pytest.raises(DataValidationError, match="NaN"):
        metrics.ks(np.array([0, 1]), np.array([np.nan, 1.0]))


def test_curve_aggregates_only_above_min_cell() -> None:
    y, s = _data(500)
    agg = metrics.curve_aggregates(y, s, min_cell=10)
    assert set(agg) == set(metrics.CURVE_KEYS)
    assert agg["n_valid_positive"] == int(y.sum())
    few = np.r_[np.ones(5), np.zeros(200)]
    assert metrics.curve_aggregates(few, np.arange(205.0), min_cell=10) == {}


def test_histogram_auc_ks_match_sklearn_within_the_bin_width() -> None:
    """Pooled (logit bin, label) counts of two parties: AUC within 5e-4 and KS within 5e-3 of
    scikit-learn on the same rows (2400 bins); exact (1e-12) when no bin holds two scores."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 6000).astype(np.float64)
    p = 1 / (1 + np.exp(-(rng.normal(size=6000) + 0.8 * y)))
    halves = (slice(0, 2500), slice(2500, None))  # two parties bin alike and add their counts
    hist = sum(metrics.logit_histogram(y[h], p[h], 2400) for h in halves)
    auc, ks = metrics.auc_ks_from_histogram(np.asarray(hist))
    fpr, tpr, _ = roc_curve(y, p)
    assert auc == pytest.approx(roc_auc_score(y, p), abs=5e-4)
    assert ks == pytest.approx(np.max(tpr - fpr), abs=5e-3)
    centres = np.clip(np.floor(np.log(p / (1 - p))), -12, 11) + 0.5  # bin centres: one per bin
    coarse = 1 / (1 + np.exp(-centres))
    auc, ks = metrics.auc_ks_from_histogram(metrics.logit_histogram(y, coarse, 24))
    fpr, tpr, _ = roc_curve(y, coarse)
    assert auc == pytest.approx(roc_auc_score(y, coarse), abs=1e-12)
    assert ks == pytest.approx(np.max(tpr - fpr), abs=1e-12)


def test_histogram_auc_needs_both_classes() -> None:
    from lab.errors import ProtocolError

    with pytest.raises(ProtocolError, match="one class"):
        metrics.auc_ks_from_histogram(metrics.logit_histogram(np.ones(5), np.full(5, 0.3), 10))
