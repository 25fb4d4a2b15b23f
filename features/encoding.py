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

Deterministic: categories in sorted order, no randomness. The statistics (medians,
categories, frequency shares) are fitted on the rows given and kept in a
:class:`TableEncoder`: a model piece stores it, and scoring encodes new rows with the
training statistics (a row gets the same encoding alone or in a batch). :class:`Standardizer`
centers and scales columns with statistics fitted on given rows (protocols fit it on
training rows).

Nothing leaves the party: the matrix, its feature names and the fitted statistics stay
local; protocols decide what (encrypted) derivatives of them are sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from crypto.errors import DataValidationError

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
    encoder: TableEncoder | None = None  # the fitted encoding (rows -> X), when known

    def __post_init__(self) -> None:
        if self.X.shape != (self.ids.shape[0], len(self.feature_names)):
            raise DataValidationError(
                f"matrix shape {self.X.shape} does not match {self.ids.shape[0]} IDs and "
                f"{len(self.feature_names)} feature names"
            )

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    def select(self, ids: np.ndarray | list[str]) -> PartyMatrix:
        """The rows for ``ids`` in that order (e.g. the aligned order after PSI)."""
        index = pd.Index(self.ids)
        if not index.is_unique:
            raise DataValidationError(
                "this party's IDs are not unique; validate the table "
                "with load_party_table before aligning rows"
            )
        pos = index.get_indexer(np.asarray(ids, dtype=object))
        if (pos < 0).any():
            raise DataValidationError(
                f"{int((pos < 0).sum())} requested IDs are not in this party's table"
            )
        return self.take(pos)

    def take(self, rows: np.ndarray) -> PartyMatrix:
        """The rows at positions ``rows``."""
        return PartyMatrix(
            self.ids[rows],
            self.X[rows],
            list(self.feature_names),
            None if self.y is None else self.y[rows],
            dict(self.encodings),
            self.encoder,
        )


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


@dataclass(frozen=True)
class ColumnCode:
    """How one source column becomes feature columns, with the statistics fitted on the
    training rows (kept with the party's model piece; nothing here leaves the party).

    ``fill`` is the training median of the encoded values (imputes a missing cell);
    ``missing_flag``: the training rows had missing cells, so a ``__missing`` 0/1 column
    exists; ``categories`` (one-hot) and ``shares`` (frequency: value -> share of training
    rows) are the training values; ``order`` the ordinal scale.
    """

    column: str
    encoding: Encoding
    fill: float = 0.0
    missing_flag: bool = False
    categories: tuple[str, ...] = ()
    shares: Mapping[str, float] = field(default_factory=dict)
    order: Mapping[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"{self.column}__freq" if self.encoding == "frequency" else self.column

    def names(self) -> list[str]:
        if self.encoding == "drop":
            return []
        if self.encoding == "onehot":
            out = [f"{self.column}={c}" for c in self.categories]
            return out + ([f"{self.column}__missing"] if self.missing_flag else [])
        return [self.base] + ([f"{self.base}__missing"] if self.missing_flag else [])

    def values(self, col: pd.Series) -> np.ndarray:
        """The column as float64 before imputation (NaN = missing); one-hot: category
        codes (-1 = missing, -2 = a value not seen at fit time)."""
        if self.encoding == "numeric":
            return pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if self.encoding == "date":
            parsed = pd.to_datetime(col, format="%Y-%m-%d", errors="coerce")
            days = (parsed - pd.Timestamp("1970-01-01")).dt.days
            return days.to_numpy(dtype=np.float64, na_value=np.nan)
        if self.encoding == "ordinal":
            mapped = col.map(lambda v, o=self.order: o.get(str(v).strip()) if pd.notna(v) else None)
            vals = pd.to_numeric(mapped, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            unknown = col.notna().to_numpy() & np.isnan(vals)
            if unknown.any():
                raise DataValidationError(
                    f"column {self.column!r}: {int(unknown.sum())} values outside the ordinal "
                    f"scale {list(self.order)}",
                    detail=f"first: {col[unknown].iloc[0]!r}",
                )
            return vals
        present = col.notna().to_numpy()
        text = col.astype(str)
        if self.encoding == "frequency":
            share = text.map(self.shares).to_numpy(dtype=np.float64, na_value=0.0)
            return np.where(present, share, np.nan)
        codes = pd.Categorical(text, categories=list(self.categories)).codes.astype(np.int64)
        return np.where(present, np.where(codes < 0, -2, codes), -1)

    def encode(self, col: pd.Series) -> list[np.ndarray]:
        """The feature columns of :meth:`names` for ``col`` (fitted statistics only)."""
        if self.encoding == "drop":
            return []
        vals = self.values(col)
        if self.encoding == "onehot":
            out = [(vals == j).astype(np.float64) for j in range(len(self.categories))]
            return out + ([(vals == -1).astype(np.float64)] if self.missing_flag else [])
        miss = np.isnan(vals)
        out = [np.where(miss, self.fill, vals)]
        return out + ([miss.astype(np.float64)] if self.missing_flag else [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "encoding": self.encoding,
            "fill": self.fill,
            "missing_flag": self.missing_flag,
            "categories": list(self.categories),
            "shares": dict(self.shares),
            "order": dict(self.order),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ColumnCode:
        return cls(
            str(d["column"]),
            d["encoding"],
            float(d.get("fill", 0.0)),
            bool(d.get("missing_flag", False)),
            tuple(str(c) for c in d.get("categories", ())),
            {str(k): float(v) for k, v in dict(d.get("shares", {})).items()},
            {str(k): int(v) for k, v in dict(d.get("order", {})).items()},
        )


def _fit_column(col: pd.Series, name: str, enc: Encoding) -> ColumnCode:
    """Fit one column's encoding on the training rows (median, categories, shares)."""
    if enc == "drop":
        return ColumnCode(name, enc)
    if enc not in ("numeric", "ordinal", "date", "onehot", "frequency"):
        raise DataValidationError(
            f"column {name!r}: unknown encoding {enc!r}; use one of "
            "numeric, ordinal, date, onehot, frequency, drop"
        )
    present = col.notna().to_numpy()
    if enc == "onehot":
        cats = tuple(str(c) for c in np.unique(col[present].astype(str).to_numpy(dtype=str)))
        return ColumnCode(name, enc, missing_flag=bool((~present).any()), categories=cats)
    code = ColumnCode(name, enc)
    if enc == "ordinal":
        code = ColumnCode(name, enc, order=dict(ORDINAL_COLUMNS.get(name, GRADE_ORDER)))
    elif enc == "frequency":
        values, counts = np.unique(col[present].astype(str).to_numpy(dtype=str), return_counts=True)
        n = max(len(col), 1)
        code = ColumnCode(
            name, enc, shares={str(v): float(k / n) for v, k in zip(values, counts, strict=True)}
        )
    vals = code.values(col)
    miss = np.isnan(vals)
    fill = float(np.nanmedian(vals)) if (~miss).any() else 0.0
    return replace(code, fill=fill, missing_flag=bool(miss.any()))


@dataclass(frozen=True)
class TableEncoder:
    """A party's fitted table -> matrix encoding (:func:`party_matrix` fits one).

    :meth:`transform` applies the *training* statistics to any rows: a row is encoded the
    same way alone or in a batch, and the training rows get the training matrix back.
    A value unseen at fit time is 0 in every one-hot column and has share 0 in a frequency
    column; a missing cell gets the training median (and ``__missing`` = 1 when that column
    exists, i.e. when the training rows had missing cells).
    """

    codes: tuple[ColumnCode, ...]

    @property
    def feature_names(self) -> list[str]:
        return [n for c in self.codes for n in c.names()]

    @property
    def encodings(self) -> dict[str, str]:
        return {c.column: c.encoding for c in self.codes}

    @classmethod
    def fit(
        cls,
        df: pd.DataFrame,
        *,
        exclude: Sequence[str] = (),
        categorical: Literal["auto"] | Mapping[str, Encoding] = "auto",
        max_onehot: int = 12,
    ) -> TableEncoder:
        """Fit every column of ``df`` besides ``exclude`` (the ID, the label, ...)."""
        overrides: Mapping[str, Encoding] = {} if categorical == "auto" else categorical
        codes = []
        for c in df.columns:
            if c in exclude:
                continue
            enc = overrides.get(c) or _choose(df[c], c, max_onehot)
            codes.append(_fit_column(df[c], str(c), enc))
        return cls(tuple(codes))

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """The feature matrix (columns :attr:`feature_names`) of ``df``'s rows."""
        lacking = [c.column for c in self.codes if c.encoding != "drop" and c.column not in df]
        if lacking:
            raise DataValidationError(
                f"columns {lacking} the model was trained on are not in "
                f"the table; its columns are {list(df.columns)}",
                hint="Score with a table holding the training columns.",
            )
        blocks = [b for c in self.codes if c.encoding != "drop" for b in c.encode(df[c.column])]
        X = np.column_stack(blocks) if blocks else np.empty((len(df), 0), dtype=np.float64)
        return np.ascontiguousarray(X, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self.codes]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TableEncoder:
        return cls(tuple(ColumnCode.from_dict(c) for c in d["columns"]))


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
    not named keep the automatic choice. ``exclude`` drops columns outright. The fitted
    :class:`TableEncoder` rides along (``encoder``) so that new rows can be encoded with
    these rows' statistics.
    """
    if id_column not in df.columns:
        raise DataValidationError(
            f"ID column {id_column!r} not in the table's columns {list(df.columns)}"
        )
    if label is not None and label not in df.columns:
        raise DataValidationError(f"label column {label!r} not in the table's columns")
    enc = TableEncoder.fit(
        df,
        exclude=(id_column, *([label] if label else []), *exclude),
        categorical=categorical,
        max_onehot=max_onehot,
    )
    ids = df[id_column].astype(str).to_numpy(dtype=object)
    y = None if label is None else df[label].to_numpy(dtype=np.float64)
    return PartyMatrix(ids, enc.transform(df), enc.feature_names, y, enc.encodings, enc)


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
            raise DataValidationError(
                f"Standardizer fitted on {self.mean_.shape[0]} columns, got {X.shape[1]}"
            )
        return (X - self.mean_) / self.scale_

    def fit_transform(self, X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        return self.fit(X, rows).transform(X)

    def to_dict(self) -> dict[str, Any]:
        if self.mean_ is None or self.scale_ is None:
            raise DataValidationError("Standardizer used before fit")
        return {
            "with_mean": self.with_mean,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Standardizer:
        return cls(
            bool(d.get("with_mean", True)),
            np.asarray(d["mean"], dtype=np.float64),
            np.asarray(d["scale"], dtype=np.float64),
        )


__all__ = [
    "GRADE_ORDER",
    "ORDINAL_COLUMNS",
    "ColumnCode",
    "PartyMatrix",
    "Standardizer",
    "TableEncoder",
    "party_matrix",
]
