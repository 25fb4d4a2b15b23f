"""Feature selection by IV and correlation, and population stability (PSI).

Selection runs on one party's own WOE columns; PSI compares two count vectors over the
same bins (aggregates). Nothing leaves the party here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from crypto.errors import DataValidationError
from features.woe.bins import Binning


@dataclass(frozen=True)
class Selection:
    """Which of a party's features to keep, and why the others went."""

    kept: list[int]
    dropped: dict[int, str] = field(default_factory=dict)


def select_features(
    iv: Sequence[float],
    woe_columns: np.ndarray,
    *,
    iv_min: float = 0.02,
    corr_max: float = 0.7,
    max_features: int | None = None,
) -> Selection:
    """Keep features with IV >= ``iv_min``; going down by IV, drop a feature whose WOE
    column correlates above ``corr_max`` (absolute Pearson) with one already kept."""
    iv_arr = np.asarray(iv, dtype=np.float64)
    X = np.asarray(woe_columns, dtype=np.float64)
    dropped: dict[int, str] = {}
    kept: list[int] = []
    for j in np.argsort(-iv_arr, kind="stable").tolist():
        if iv_arr[j] < iv_min:
            dropped[j] = f"iv {iv_arr[j]:.4f} < {iv_min}"
            continue
        if max_features is not None and len(kept) >= max_features:
            dropped[j] = f"more than max_features={max_features}"
            continue
        hit = None
        for i in kept:
            sj, si = X[:, j].std(), X[:, i].std()
            if sj == 0 or si == 0:
                continue
            c = float(np.corrcoef(X[:, j], X[:, i])[0, 1])
            if abs(c) > corr_max:
                hit = (i, c)
                break
        if hit is not None:
            dropped[j] = f"|corr| {abs(hit[1]):.3f} > {corr_max} with feature #{hit[0]}"
            continue
        kept.append(j)
    return Selection(sorted(kept), dropped)


def psi(expected: np.ndarray, actual: np.ndarray, *, eps: float = 1e-4) -> float:
    """Population stability index between two count (or share) vectors over the same bins:
    ``sum (a - e) * ln(a / e)`` of the shares; empty shares are floored at ``eps``."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape or e.sum() <= 0 or a.sum() <= 0:
        raise DataValidationError(
            f"PSI needs two non-empty count vectors over the same "
            f"bins; got shapes {e.shape} and {a.shape}"
        )
    pe = np.maximum(e / e.sum(), eps)
    pa = np.maximum(a / a.sum(), eps)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def bin_counts(binning: Binning, values: np.ndarray) -> np.ndarray:
    """Rows per final bin."""
    return np.bincount(binning.transform(values), minlength=binning.n_bins)


__all__ = ["Selection", "bin_counts", "psi", "select_features"]
