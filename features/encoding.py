"""Local preprocessing: a party's validated table → a numeric matrix.

Every party applies :func:`party_matrix` to its own table before any protocol runs:

- numeric columns stay as they are (float64);
- ordinal grades become numbers: ``tax_credit_grade`` A/B/M/C/D → 0/1/2/3/4 (higher = worse),
  and any text column whose values are a subset of {A, B, M, C, D} is treated the same way;
- ISO date columns (``YYYY-MM-DD``) become days since 1970-01-01;
- other text columns: one-hot (``industry=C``) when they have at most ``max_onehot``
  distinct values, otherwise frequency-coded (``region__freq``: the share of rows with
  that value);
- a column with missing cells gets its median (mode row 0s for one-hot) and an extra
  ``<column>__missing`` 0/1 indicator.

Deterministic: categories in sorted order, no randomness. :class:`Standardizer` centers and
scales columns with statistics fitted on given rows (protocols fit it on training rows).

Nothing leaves the party: the matrix, its feature names and the fitted statistics stay
local; protocols decide what (encrypted) derivatives of them are sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from lab.errors import DataValidationError

GRADE_ORDER: dict[str, int] = {"A": 0, "B": 1, "M": 2, "C": 3, "D": 4}
"""Tax credit grade, best to worst (M: new or small enterprise, between B and C)."""

ORDINAL_COLUMNS: dict[str, dict[str, int]] = {"tax_credit_grade": GRADE_ORDER}

Encoding = Literal["numeric", "ordinal", "date", "onehot", "frequency", "drop"]


@dataclass(frozen=True)
class PartyMatrix:
    """A party's rows as numbers: ``X[i]`` belongs to ``ids[i]``; ``y`` only at the guest."""

    ids: np.ndarray
    X: np.ndarray
    feature_names: list[str]
    y: np.ndarray | None = None
    encodings: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.X.shape != (self.ids.shape[0], len(self.feature_names)):
            raise DataValidationError(
                f"matrix shape {self.X.shape} does not match {self.ids.shape[0]} IDs and "
                f"{len(self.feature_names)} feature names")

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    def select(self, ids: np.ndarray | list[str]) -> PartyMatrix:
        """The rows for ``ids`` in that order (e.g. the aligned order after PSI)."""
        index = pd.Index(self.ids)
        if not index.is_unique:
            raise DataValidationError("this party's IDs are not unique; validate the table "
                                      "with load_party_table before aligning rows")
        pos = index.get_indexer(np.asarray(ids, dtype=object))
        if (pos < 0).any():
            raise DataValidationError(f"{int((pos < 0).sum())} requested IDs are not in this "
                                      "party's table")
        return PartyMatrix(self.ids[pos], self.X[pos], list(self.feature_names),
                           None if self.y is None else self.y[pos], dict(self.encodings))

    def take(self, rows: np.ndarray) -> PartyMatrix:
        """The rows at positions ``rows``."""
        return PartyMatrix(self.ids[rows], self.X[rows], list(self.feature_names),
                           None if self.y is None else self.y[rows], dict(self.encodings))


def _is_iso_dates(col: pd.Series) -> bool:
    present = col.dropna()
    if present.empty:
        return False
    s = present.astype(str)
    if not s.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all():
        return False
    return bool(pd.to_datetime(s, format="%Y-%m-%d", errors="coerce").notna().all())


def _choose(col: pd.Series, name: str, max_onehot: int) -> Encoding:
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return "numeric"
    if name in ORDINAL_COLUMNS:
        return "ordinal"
    values = set(col.dropna().astype(str).unique())
    if values and values <= set(GRADE_ORDER):
        return "ordinal"
    if _is_iso_dates(col):
        return "date"
    return "onehot" if len(values) <= max_onehot else "frequency"


def _with_missing(name: str, vals: np.ndarray, blocks: list[np.ndarray],
                  names: list[str]) -> None:
    """Append ``vals`` median-imputed, plus ``name__missing`` when anything was missing."""
    miss = np.isnan(vals)
    if miss.any():
        med = float(np.nanmedian(vals)) if (~miss).any() else 0.0
        blocks.append(np.where(miss, med, vals))
        names.append(name)
        blocks.append(miss.astype(np.float64))
        names.append(f"{name}__missing")
    else:
        blocks.append(vals)
        names.append(name)


def party_matrix(
    df: pd.DataFrame,
    *,
    id_column: str,
    label: str | None = None,
    categorical: Literal["auto"] | Mapping[str, Encoding] = "auto",
    max_onehot: int = 12,
    exclude: tuple[str, ...] = (),
) -> PartyMatrix:
    """Encode a party's table into (ids, X float64, feature names, y).

    ``categorical="auto"`` picks each text column's encoding as the module docstring says;
    a mapping overrides it per column (``{"region": "onehot", "notes": "drop"}``); columns
    not named keep the automatic choice. ``exclude`` drops columns outright.
    """
    if id_column not in df.columns:
        raise DataValidationError(f"ID column {id_column!r} not in the table's columns "
                                  f"{list(df.columns)}")
    if label is not None and label not in df.columns:
        raise DataValidationError(f"label column {label!r} not in the table's columns")
    overrides: Mapping[str, Encoding] = {} if categorical == "auto" else categorical
    blocks: list[np.ndarray] = []
    names: list[str] = []
    encodings: dict[str, str] = {}
    n = len(df)
    for c in df.columns:
        if c in (id_column, label) or c in exclude:
            continue
        col = df[c]
        enc = overrides.get(c) or _choose(col, c, max_onehot)
        encodings[c] = enc
        if enc == "drop":
            continue
        if enc == "numeric":
            vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            _with_missing(c, vals, blocks, names)
        elif enc == "ordinal":
            order = ORDINAL_COLUMNS.get(c, GRADE_ORDER)
            mapped = col.map(lambda v, o=order: o.get(str(v).strip()) if pd.notna(v) else None)
            vals = pd.to_numeric(mapped, errors="coerce").to_numpy(dtype=np.float64,
                                                                   na_value=np.nan)
            unknown = col.notna().to_numpy() & np.isnan(vals)
            if unknown.any():
                raise DataValidationError(
                    f"column {c!r}: {int(unknown.sum())} values outside the ordinal scale "
                    f"{list(order)} (first: {col[unknown].iloc[0]!r})")
            _with_missing(c, vals, blocks, names)
        elif enc == "date":
            parsed = pd.to_datetime(col, format="%Y-%m-%d", errors="coerce")
            days = (parsed - pd.Timestamp("1970-01-01")).dt.days
            _with_missing(c, days.to_numpy(dtype=np.float64, na_value=np.nan), blocks, names)
        elif enc in ("onehot", "frequency"):
            s = col.astype(object).where(col.notna(), None)
            present = s.notna().to_numpy()
            str_vals = np.asarray([str(v) for v in s[present]], dtype=object)
            cats, inverse = np.unique(str_vals.astype(str), return_inverse=True) \
                if str_vals.size else (np.empty(0, dtype=str), np.empty(0, dtype=np.int64))
            codes = np.full(n, -1, dtype=np.int64)
            codes[present] = inverse
            if enc == "onehot":
                onehot = np.zeros((n, cats.shape[0]), dtype=np.float64)
                rows = np.flatnonzero(present)
                onehot[rows, codes[present]] = 1.0
                for j, cat in enumerate(cats):
                    blocks.append(onehot[:, j])
                    names.append(f"{c}={cat}")
                if not present.all():
                    blocks.append((~present).astype(np.float64))
                    names.append(f"{c}__missing")
            else:
                counts = np.bincount(codes[present], minlength=cats.shape[0]).astype(np.float64)
                freq = np.where(present, counts[np.maximum(codes, 0)] / max(n, 1), np.nan)
                _with_missing(f"{c}__freq", freq, blocks, names)
        else:
            raise DataValidationError(f"column {c!r}: unknown encoding {enc!r}; use one of "
                                      "numeric, ordinal, date, onehot, frequency, drop")
    X = np.column_stack(blocks) if blocks else np.empty((n, 0), dtype=np.float64)
    ids = df[id_column].astype(str).to_numpy(dtype=object)
    y = None if label is None else df[label].to_numpy(dtype=np.float64)
    return PartyMatrix(ids, np.ascontiguousarray(X, dtype=np.float64), names, y, encodings)


@dataclass
class Standardizer:
    """Column-wise ``(x - mean_) / scale_``; a constant column gets ``scale_ = 1``.

    ``fit`` returns ``self`` (scikit-learn style); fitted attributes end in ``_``.
    """

    with_mean: bool = True
    mean_: np.ndarray | None = None
    scale_: np.ndarray | None = None

    def fit(self, X: np.ndarray, rows: np.ndarray | None = None) -> Standardizer:
        data = np.asarray(X, dtype=np.float64)
        if rows is not None:
            data = data[rows]
        if data.shape[0] == 0:
            raise DataValidationError("cannot fit a Standardizer on zero rows")
        mean = data.mean(axis=0) if self.with_mean else np.zeros(data.shape[1])
        scale = data.std(axis=0)
        scale[~(scale > 1e-12)] = 1.0
        self.mean_, self.scale_ = mean, scale
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.mean_ is None or self.scale_ is None:
            raise DataValidationError("Standardizer used before fit")
        X = np.asarray(X, dtype=np.float64)
        if X.shape[1] != self.mean_.shape[0]:
            raise DataValidationError(f"Standardizer fitted on {self.mean_.shape[0]} columns, "
                                      f"got {X.shape[1]}")
        return (X - self.mean_) / self.scale_

    def fit_transform(self, X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        return self.fit(X, rows).transform(X)

    def to_dict(self) -> dict[str, Any]:
        if self.mean_ is None or self.scale_ is None:
            raise DataValidationError("Standardizer used before fit")
        return {"with_mean": self.with_mean, "mean": self.mean_.tolist(),
                "scale": self.scale_.tolist()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Standardizer:
        return cls(bool(d.get("with_mean", True)), np.asarray(d["mean"], dtype=np.float64),
                   np.asarray(d["scale"], dtype=np.float64))


__all__ = ["GRADE_ORDER", "ORDINAL_COLUMNS", "PartyMatrix", "Standardizer", "party_matrix"]
