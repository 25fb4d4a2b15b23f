"""A party's columns as binning input: kind (numeric or categorical) and values.

Runs at one party on its own columns; nothing leaves the party.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

Kind = Literal["numeric", "categorical"]
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"


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


def missing_mask(values: np.ndarray, kind: Kind) -> np.ndarray:
    """``True`` where a value (from :func:`column_values`) is missing."""
    if kind == "numeric":
        return np.isnan(values)
    return pd.isna(pd.Series(values, dtype=object)).to_numpy()


__all__ = ["Kind", "column_kind", "column_values", "feature_columns", "missing_mask"]
