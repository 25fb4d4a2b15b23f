"""Local quantile binning for histogram-based trees (SecureBoost) and binned reference models.

:class:`QuantileBinner` cuts each column at (at most ``max_bins - 1``) quantile edges of its
non-missing values; a column with at most ``max_bins`` distinct values gets one bin per value
(edges halfway between neighbours). Missing values (NaN) go to their own bin, the last one
(index ``n_bins_[j] - 1``), which exists for every column so that new data with missing cells
transforms without error. A value ``x`` lands in bin ``b`` when ``edges[b-1] < x <= edges[b]``
(``searchsorted(..., side="left")``), so a split "bin <= b" is "x <= edges[b]".

Nothing leaves the party: the edges are fitted and kept locally (a host never sends them;
the guest's own edges stay in its own model piece).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from crypto.errors import DataValidationError

MAX_BINS_LIMIT = 65_534


class QuantileBinner:
    """Per-column quantile bins with a dedicated missing-value bin.

    ``max_bins`` counts the bins for present values; every column gets one more (missing).
    After :meth:`fit`: ``bin_edges_`` (list of float arrays, one per column) and ``n_bins_``
    (int array: present-value bins + 1).
    """

    def __init__(self, max_bins: int = 32) -> None:
        self.max_bins = max_bins

    def _check(self) -> None:
        if (
            not isinstance(self.max_bins, (int, np.integer))
            or not 2 <= self.max_bins <= MAX_BINS_LIMIT
        ):
            raise DataValidationError(
                f"max_bins must be an int in [2, {MAX_BINS_LIMIT}], got {self.max_bins!r}"
            )

    def fit(self, X: np.ndarray) -> QuantileBinner:
        self._check()
        X = _as_matrix(X)
        edges: list[np.ndarray] = []
        for j in range(X.shape[1]):
            col = X[:, j]
            present = col[~np.isnan(col)]
            edges.append(_column_edges(present, int(self.max_bins)))
        self.bin_edges_ = edges
        self.n_bins_ = np.array([len(e) + 2 for e in edges], dtype=np.int64)
        return self

    @property
    def dtype(self) -> type:
        return np.uint8 if self.max_bins + 1 <= 255 else np.uint16

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Bin indices (``uint8`` when they fit, else ``uint16``), missing -> last bin."""
        if not hasattr(self, "bin_edges_"):
            raise DataValidationError("QuantileBinner is not fitted; call fit(X) first")
        X = _as_matrix(X)
        if X.shape[1] != len(self.bin_edges_):
            raise DataValidationError(
                f"expected {len(self.bin_edges_)} columns (as fitted), got {X.shape[1]}"
            )
        out: np.ndarray = np.empty(X.shape, dtype=self.dtype)
        for j, e in enumerate(self.bin_edges_):
            col = X[:, j]
            b = np.searchsorted(e, col, side="left")
            b[np.isnan(col)] = len(e) + 1
            out[:, j] = b
        return out

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def to_dict(self) -> dict[str, Any]:
        return {"max_bins": int(self.max_bins), "bin_edges": [e.tolist() for e in self.bin_edges_]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QuantileBinner:
        b = cls(int(d["max_bins"]))
        b.bin_edges_ = [np.asarray(e, dtype=np.float64) for e in d["bin_edges"]]
        b.n_bins_ = np.array([len(e) + 2 for e in b.bin_edges_], dtype=np.int64)
        return b


def _as_matrix(X: np.ndarray) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2:
        raise DataValidationError(f"expected a 2-d matrix (rows x columns), got shape {arr.shape}")
    if np.isinf(arr).any():
        j = int(np.flatnonzero(np.isinf(arr).any(axis=0))[0])
        raise DataValidationError(
            f"column {j} holds an infinite value; bin edges need finite "
            "numbers (NaN is fine: it gets the missing bin)"
        )
    return arr


def _column_edges(present: np.ndarray, max_bins: int) -> np.ndarray:
    """Upper edges of all but the last present-value bin (at most ``max_bins - 1`` edges)."""
    if present.size == 0:
        return np.empty(0)
    uniq = np.unique(present)
    if uniq.size <= max_bins:
        return (uniq[:-1] + uniq[1:]) / 2.0
    qs = np.quantile(present, np.linspace(0.0, 1.0, max_bins + 1)[1:-1], method="linear")
    # Snap every quantile to the largest present value <= it, so an edge never falls
    # between ties in a way that depends on interpolation; drop duplicates and the max.
    idx = np.searchsorted(uniq, qs, side="right") - 1
    idx = np.unique(np.clip(idx, 0, uniq.size - 2))
    return (uniq[idx] + uniq[idx + 1]) / 2.0


__all__ = ["MAX_BINS_LIMIT", "QuantileBinner"]
