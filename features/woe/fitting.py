"""Fitting a binning: label-free fine bins at a host, optimal binning at the guest.

:func:`fine_binning` needs no labels (a host bins its own columns); :func:`optimal_binning`
uses the guest's own labels on the guest's own columns. Both run at one party; nothing
leaves the party.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from crypto.errors import ConfigError
from features.woe.bins import Binning, with_splits
from features.woe.columns import Kind, missing_mask

# ---------------------------------------------------------------------------------------
# fine bins at a host (no labels)


def _merge_small_adjacent(counts: np.ndarray, min_size: int) -> np.ndarray:
    """Group ids (adjacent runs) so every group holds >= ``min_size`` (when possible)."""
    groups = [[i] for i in range(counts.size)]
    sizes = [int(c) for c in counts]
    while len(groups) > 1:
        j = int(np.argmin(sizes))
        if sizes[j] >= min_size:
            break
        if j == 0:
            k = 1
        elif j == len(groups) - 1:
            k = j - 1
        else:
            k = j - 1 if sizes[j - 1] <= sizes[j + 1] else j + 1
        a, b = min(j, k), max(j, k)
        groups[a] = groups[a] + groups[b]
        sizes[a] += sizes[b]
        del groups[b], sizes[b]
    out = np.empty(counts.size, dtype=np.int64)
    for g, members in enumerate(groups):
        out[members] = g
    return out


def fine_binning(
    values: np.ndarray, kind: Kind, *, n_bins: int = 20, min_bin_size: int = 50
) -> Binning:
    """Label-free fine bins: quantile intervals (numeric) or frequent values (categorical),
    merged locally until every bin (missing included) holds >= ``min_bin_size`` rows."""
    if n_bins < 2:
        raise ConfigError(f"n_fine_bins must be at least 2, got {n_bins}")
    miss = missing_mask(values, kind)
    present = values[~miss]
    if kind == "numeric":
        x = np.asarray(present, dtype=np.float64)
        if x.size:
            qs = np.quantile(x, np.linspace(0, 1, n_bins + 1)[1:-1], method="lower")
            splits = np.unique(qs)
            splits = splits[splits > x.min()]  # no empty first bin
        else:
            splits = np.empty(0)
        counts = np.bincount(np.searchsorted(splits, x, side="right"), minlength=splits.size + 1)
        groups = _merge_small_adjacent(counts, min_bin_size)
        keep = [i for i in range(1, splits.size + 1) if groups[i] != groups[i - 1]]
        splits = splits[np.asarray(keep, dtype=np.int64) - 1] if keep else np.empty(0)
        base = Binning("numeric", splits=tuple(float(s) for s in splits))
        n_base = splits.size + 1
    else:
        vc = pd.Series(present, dtype=object).value_counts(sort=True)
        vc = vc.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
        frequent = [str(v) for v, c in vc.items() if c >= min_bin_size]
        rare = tuple(str(v) for v, c in vc.items() if c < min_bin_size)
        cats: list[tuple[str, ...]] = [(v,) for v in frequent]
        rare_count = int(vc[list(rare)].sum()) if rare else 0
        if rare and (rare_count >= min_bin_size or not cats):
            cats.append(rare)
            fallback = len(cats) - 1
        elif rare:  # too few rare rows for a bin of their own: join the smallest frequent
            cats[-1] = cats[-1] + rare
            fallback = len(cats) - 1
        else:
            fallback = 0
        if not cats:
            cats = [()]
        base = Binning("categorical", categories=tuple(cats), fallback=fallback)
        n_base = len(cats)
    if not miss.any():
        return base
    b = replace(base, missing_bin=n_base, mapping=())
    if int(miss.sum()) >= min_bin_size or n_base == 0:
        return b
    # too few missing cells for a bin of their own: merge into the largest bin
    counts = np.bincount(b.fine_ids(values), minlength=b.n_fine)
    largest = int(np.argmax(counts[:n_base]))
    mapping = list(range(n_base)) + [largest]
    return replace(b, mapping=tuple(mapping))


# ---------------------------------------------------------------------------------------
# optimal binning at the guest (with labels)


def _optimal_binning_class() -> Any:
    """``optbinning.OptimalBinning``, imported without cvxpy's solver-import warning: cvxpy
    (imported by optbinning) logs one, with its install path, when its HiGHS interface fails
    to load next to SciPy's own HiGHS; the binning here uses the CP solver (OR-Tools), not
    cvxpy. Only that warning is dropped, and only during the import."""
    import logging

    def keep(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(
            "Encountered unexpected exception importing solver"
        )

    cvxpy_log = logging.getLogger("__cvxpy__")
    cvxpy_log.addFilter(keep)
    try:
        from optbinning import OptimalBinning
    finally:
        cvxpy_log.removeFilter(keep)
    return OptimalBinning


def optimal_binning(
    values: np.ndarray,
    kind: Kind,
    y: np.ndarray,
    *,
    max_bins: int = 8,
    min_bin_size: int = 50,
    n_prebins: int = 20,
    name: str = "x",
) -> Binning:
    """Optimal monotonic binning with ``optbinning`` (the guest's own columns).

    Numeric columns get a monotonic event rate (ascending or descending, chosen by the
    solver); categorical columns are grouped by event rate. ``min_bin_size`` rows per bin.
    """
    OptimalBinning = _optimal_binning_class()  # noqa: N806 - the class

    miss = missing_mask(values, kind)
    frac = min(0.5, max(min_bin_size / max(1, int((~miss).sum())), 1e-6))
    opts: dict[str, Any] = dict(
        name=name,
        dtype="numerical" if kind == "numeric" else kind,
        solver="cp",
        max_n_bins=max_bins,
        min_bin_size=frac,
        max_n_prebins=n_prebins,
    )
    if kind == "numeric":
        opts["monotonic_trend"] = "auto_asc_desc"
        x: np.ndarray = np.asarray(values, dtype=np.float64)
    else:
        x = np.array([np.nan if m else v for v, m in zip(values, miss, strict=False)], dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ob = OptimalBinning(**opts).fit(x, np.asarray(y, dtype=np.int64))
    if kind == "numeric":
        b = with_splits("numeric", list(np.asarray(ob.splits, dtype=np.float64)), values)
    else:
        groups = [tuple(str(v) for v in g) for g in ob.splits]
        seen = {v for g in groups for v in g}
        leftover = tuple(sorted({str(v) for v in values[~miss]} - seen))
        if leftover:
            groups.append(leftover)
        if not groups:
            groups = [()]
        sizes = [int(np.isin(values[~miss], list(g)).sum()) for g in groups]
        b = Binning(
            "categorical",
            categories=tuple(groups),
            fallback=int(np.argmax(sizes)),
            missing_bin=len(groups) if miss.any() else None,
        )
    return b


__all__ = ["fine_binning", "optimal_binning"]
