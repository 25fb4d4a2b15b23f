"""Raw records -> point-in-time windowed aggregates, as of an observation date.

A data owner keeps raw records: monthly rows (tax filings, social-insurance contributions,
utility bills, account flows; one row per enterprise and month, dated by the month's last
day in ``period``) and events (court cases, penalties, registrations; dated by the day they
became known). An indicator is an aggregation of one enterprise's records over a window
ending at the observation date ``as_of``.

Point-in-time rule: every function here first drops the records dated after ``as_of``
(``period`` or event date > ``as_of``), and a field that records a later fact (a bill paid
after ``as_of``) is only read through a comparison that was already decided on ``as_of``.
A window of ``m`` months holds the dates ``d`` with ``as_of - m months < d <= as_of``.

All functions are vectorized (pandas ``groupby``) and return a float Series indexed by
enterprise ID, NaN where the enterprise has no record to aggregate (callers decide the
default). Nothing leaves the party: this module computes local columns only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from crypto.errors import DataValidationError

ID = "uscc"
PERIOD = "period"
DATE = "date"

Predicate = Callable[[pd.DataFrame], pd.Series]


def as_of_ts(as_of: str | np.datetime64 | pd.Timestamp) -> pd.Timestamp:
    """The observation date as a timestamp (midnight)."""
    ts = pd.Timestamp(as_of)
    if pd.isna(ts):
        raise DataValidationError(f"observation date {as_of!r} is not a date")
    return ts.normalize()


def months_back(as_of: str | pd.Timestamp, months: int) -> pd.Timestamp:
    """``as_of`` minus ``months`` calendar months; a month end maps to a month end
    (2024-06-30 minus 6 months is 2023-12-31)."""
    a = as_of_ts(as_of)
    if months == 0:
        return a
    if a.is_month_end:
        return a - pd.offsets.MonthEnd(months)
    return a - pd.DateOffset(months=months)


def _dates(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        raise DataValidationError(
            f"records lack the date column {col!r}; they have {list(df.columns)}"
        )
    return pd.to_datetime(df[col], errors="coerce")


def known_by(df: pd.DataFrame, as_of: str | pd.Timestamp, date_col: str = PERIOD) -> pd.DataFrame:
    """The records dated on or before ``as_of`` (undated records are dropped too)."""
    d = _dates(df, date_col)
    return df.loc[d.notna() & (d <= as_of_ts(as_of))]


def in_window(
    df: pd.DataFrame,
    as_of: str | pd.Timestamp,
    months: int,
    date_col: str = PERIOD,
    *,
    skip: int = 0,
) -> pd.DataFrame:
    """Records with ``as_of - (skip + months) months < date <= as_of - skip months``."""
    if months < 1:
        raise DataValidationError(f"a window must span at least one month, got {months}")
    a = as_of_ts(as_of)
    d = _dates(df, date_col)
    hi = months_back(a, skip)
    lo = months_back(a, skip + months)
    return df.loc[d.notna() & (d > lo) & (d <= hi) & (d <= a)]


def _group(df: pd.DataFrame, id_col: str) -> pd.core.groupby.DataFrameGroupBy:
    return df.groupby(id_col, sort=True)


def window_sum(
    df: pd.DataFrame,
    col: str,
    as_of: str,
    months: int,
    *,
    date_col: str = PERIOD,
    id_col: str = ID,
    skip: int = 0,
) -> pd.Series:
    """Sum of ``col`` over the window (enterprises with records in it)."""
    w = in_window(df, as_of, months, date_col, skip=skip)
    return _group(w, id_col)[col].sum().astype(np.float64)


def window_mean(
    df: pd.DataFrame, col: str, as_of: str, months: int, *, date_col: str = PERIOD, id_col: str = ID
) -> pd.Series:
    """Mean of ``col`` over the records in the window."""
    w = in_window(df, as_of, months, date_col)
    return _group(w, id_col)[col].mean().astype(np.float64)


def window_cv(
    df: pd.DataFrame, col: str, as_of: str, months: int, *, date_col: str = PERIOD, id_col: str = ID
) -> pd.Series:
    """Coefficient of variation (population std / mean) of ``col`` in the window."""
    w = in_window(df, as_of, months, date_col)
    g = _group(w, id_col)[col]
    mean, std = g.mean(), g.std(ddof=0)
    return (std / mean.where(mean != 0)).astype(np.float64)


def window_agg(
    df: pd.DataFrame,
    col: str,
    as_of: str,
    months: int,
    how: str,
    *,
    date_col: str = PERIOD,
    id_col: str = ID,
) -> pd.Series:
    """``how`` (``max``, ``min``, ``std`` (population), ``nunique``) of ``col`` in the window."""
    w = in_window(df, as_of, months, date_col)
    g = _group(w, id_col)[col]
    out = g.std(ddof=0) if how == "std" else g.agg(how)
    return out.astype(np.float64)


def window_ratio(
    df: pd.DataFrame,
    num: str,
    den: str,
    as_of: str,
    months: int,
    *,
    date_col: str = PERIOD,
    id_col: str = ID,
) -> pd.Series:
    """Sum of ``num`` / sum of ``den`` over the window (NaN where the sum of ``den`` is 0)."""
    w = in_window(df, as_of, months, date_col)
    g = _group(w, id_col)
    n, d = g[num].sum(), g[den].sum()
    return (n / d.where(d != 0)).astype(np.float64)


def window_count(
    df: pd.DataFrame,
    as_of: str,
    months: int,
    *,
    where: Predicate | None = None,
    date_col: str = PERIOD,
    id_col: str = ID,
) -> pd.Series:
    """Records in the window (satisfying ``where``); 0 for enterprises with records in the
    window but none satisfying it."""
    w = in_window(df, as_of, months, date_col)
    hit = pd.Series(True, index=w.index) if where is None else where(w).astype(bool)
    return hit.groupby(w[id_col], sort=True).sum().astype(np.float64)


def history_count(
    df: pd.DataFrame,
    as_of: str,
    *,
    where: Predicate | None = None,
    date_col: str = DATE,
    id_col: str = ID,
) -> pd.Series:
    """Records dated on or before ``as_of`` (satisfying ``where``); 0 for enterprises with
    records but none satisfying it."""
    k = known_by(df, as_of, date_col)
    hit = pd.Series(True, index=k.index) if where is None else where(k).astype(bool)
    return hit.groupby(k[id_col], sort=True).sum().astype(np.float64)


def window_growth(
    df: pd.DataFrame, col: str, as_of: str, months: int, *, date_col: str = PERIOD, id_col: str = ID
) -> pd.Series:
    """Sum over the last ``months`` / sum over the ``months`` before - 1 (NaN when the
    earlier sum is 0 or absent)."""
    now = window_sum(df, col, as_of, months, date_col=date_col, id_col=id_col)
    before = window_sum(df, col, as_of, months, date_col=date_col, id_col=id_col, skip=months)
    now, before = now.align(before)
    return (now.fillna(0.0) / before.where(before > 0) - 1.0).astype(np.float64)


def latest(
    df: pd.DataFrame, col: str, as_of: str, *, date_col: str = PERIOD, id_col: str = ID
) -> pd.Series:
    """``col`` of each enterprise's latest record on or before ``as_of``."""
    k = known_by(df, as_of, date_col)
    k = k.assign(_d=_dates(k, date_col)).sort_values([id_col, "_d"], kind="stable")
    return _group(k, id_col)[col].last().astype(np.float64)


def value_months_before(
    df: pd.DataFrame, col: str, as_of: str, months: int, *, date_col: str = PERIOD, id_col: str = ID
) -> pd.Series:
    """``col`` of the latest record on or before ``as_of - months``."""
    earlier = months_back(as_of, months)
    return latest(df, col, earlier, date_col=date_col, id_col=id_col)


def change_ratio(
    df: pd.DataFrame, col: str, as_of: str, months: int, *, date_col: str = PERIOD, id_col: str = ID
) -> pd.Series:
    """Latest value / value ``months`` earlier - 1 (NaN without an earlier positive value)."""
    now = latest(df, col, as_of, date_col=date_col, id_col=id_col)
    before = value_months_before(df, col, as_of, months, date_col=date_col, id_col=id_col)
    now, before = now.align(before)
    return (now / before.where(before > 0) - 1.0).astype(np.float64)


def months_since(
    df: pd.DataFrame,
    as_of: str,
    *,
    where: Predicate | None = None,
    date_col: str = DATE,
    id_col: str = ID,
) -> pd.Series:
    """Whole months from the latest (matching) record to ``as_of``."""
    k = known_by(df, as_of, date_col)
    if where is not None:
        k = k.loc[where(k).astype(bool)]
    last = _dates(k, date_col).groupby(k[id_col], sort=True).max()
    a = as_of_ts(as_of)
    months = (a.year - last.dt.year) * 12 + (a.month - last.dt.month) - (a.day < last.dt.day)
    return months.astype(np.float64)


def years_since(
    df: pd.DataFrame,
    as_of: str,
    *,
    where: Predicate | None = None,
    date_col: str = DATE,
    id_col: str = ID,
) -> pd.Series:
    """Years (365.25 days) from the earliest (matching) record to ``as_of``."""
    k = known_by(df, as_of, date_col)
    if where is not None:
        k = k.loc[where(k).astype(bool)]
    first = _dates(k, date_col).groupby(k[id_col], sort=True).min()
    return ((as_of_ts(as_of) - first).dt.days / 365.25).astype(np.float64)


def latest_state(
    df: pd.DataFrame,
    as_of: str,
    col: str,
    on: str,
    off: str,
    *,
    date_col: str = DATE,
    id_col: str = ID,
) -> pd.Series:
    """1 when the latest ``on``/``off`` event (in ``col``) on or before ``as_of`` is ``on``."""
    k = known_by(df, as_of, date_col)
    k = k.loc[k[col].isin([on, off])]
    k = k.assign(_d=_dates(k, date_col)).sort_values([id_col, "_d"], kind="stable")
    return (_group(k, id_col)[col].last() == on).astype(np.float64)


__all__ = [
    "DATE",
    "ID",
    "PERIOD",
    "as_of_ts",
    "change_ratio",
    "history_count",
    "in_window",
    "known_by",
    "latest",
    "latest_state",
    "months_back",
    "months_since",
    "value_months_before",
    "window_agg",
    "window_count",
    "window_cv",
    "window_growth",
    "window_mean",
    "window_ratio",
    "window_sum",
    "years_since",
]
