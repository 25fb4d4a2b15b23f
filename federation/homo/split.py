"""Splits of one table's rows across banks for horizontal (homo) experiments.

Every bank holds the same columns for different enterprises (its own borrowers). For tests,
benchmarks and demos a public or synthetic table is split by rows:

* :func:`iid_split`: a random permutation cut into near-equal parts;
* :func:`split_by`: non-IID by one column. A numeric column (size, credit limit, age) is cut
  into quantile bands (bank 0 gets the smallest values); a categorical column (region,
  industry) has its categories dealt to banks so that the banks' row counts stay close.
  ``mix`` moves that share of rows to uniformly random banks (0 = fully separated).

:func:`write_bank_files` writes one CSV per bank (ID, label, features). Nothing leaves any
party here: this module only prepares local files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from crypto.errors import ConfigError, DataValidationError
from features.validation import load_party_table

TAIWAN_ID = "ID"
TAIWAN_LABEL = "default.payment.next.month"
#: Taiwan columns that are categorical indicators (codes, not amounts)
TAIWAN_CATEGORICAL = (
    "SEX",
    "EDUCATION",
    "MARRIAGE",
    "PAY_0",
    "PAY_2",
    "PAY_3",
    "PAY_4",
    "PAY_5",
    "PAY_6",
)


def _check_banks(n_rows: int, n_banks: int) -> None:
    if n_banks < 1:
        raise ConfigError(f"n_banks must be >= 1, got {n_banks}")
    if n_rows < n_banks:
        raise ConfigError(f"cannot split {n_rows} rows over {n_banks} banks")


def iid_split(n_rows: int, n_banks: int, *, seed: int = 0) -> list[np.ndarray]:
    """Row positions of each bank: a random permutation cut into near-equal parts."""
    _check_banks(n_rows, n_banks)
    perm = np.random.default_rng(seed).permutation(n_rows)
    return [np.sort(p) for p in np.array_split(perm, n_banks)]


def split_by(
    df: pd.DataFrame, column: str, n_banks: int, *, mix: float = 0.0, seed: int = 0
) -> list[np.ndarray]:
    """Non-IID row positions of each bank by ``column`` (see the module docstring)."""
    if column not in df.columns:
        raise DataValidationError(
            f"cannot split by column {column!r}: not among the table's columns {list(df.columns)}"
        )
    if not 0.0 <= mix <= 1.0:
        raise ConfigError(f"mix must lie in [0, 1], got {mix}")
    n = len(df)
    _check_banks(n, n_banks)
    rng = np.random.default_rng(seed)
    col = df[column]
    owner = np.empty(n, dtype=np.int64)
    if pd.api.types.is_numeric_dtype(col) and col.nunique() > n_banks:
        # quantile bands; ties broken at random so the bands stay near-equal
        order = np.lexsort((rng.random(n), col.to_numpy(dtype=np.float64)))
        for b, part in enumerate(np.array_split(order, n_banks)):
            owner[part] = b
    else:
        codes, cats = pd.factorize(col.astype(str), sort=True)
        sizes = np.bincount(codes, minlength=len(cats))
        load = np.zeros(n_banks, dtype=np.int64)
        bank_of = np.empty(len(cats), dtype=np.int64)
        for c in np.argsort(-sizes, kind="stable"):  # largest category to the lightest bank
            b = int(np.argmin(load))
            bank_of[c] = b
            load[b] += sizes[c]
        owner = bank_of[codes]
    if mix > 0:
        moved = rng.random(n) < mix
        owner[moved] = rng.integers(0, n_banks, size=int(moved.sum()))
    parts = [np.flatnonzero(owner == b) for b in range(n_banks)]
    empty = [b for b, p in enumerate(parts) if p.size == 0]
    if empty:
        raise ConfigError(
            f"split by {column!r} leaves bank(s) {empty} without rows; "
            f"{column!r} has too few distinct values for {n_banks} banks",
            hint="Split by another column, use fewer banks or a positive mix.",
        )
    return parts


def load_taiwan(data_dir: str | Path) -> pd.DataFrame:
    """The raw Taiwan credit-card table (ID, 23 indicators, label), validated."""
    path = Path(data_dir) / "taiwan_default_credit_raw.csv"
    if not path.is_file():
        raise DataValidationError(
            f"{path.name}: not found in {data_dir}",
            hint="Point at the folder with the public data files.",
        )
    return load_party_table(path, id_column=TAIWAN_ID, label=TAIWAN_LABEL, id_kind="opaque")


def write_bank_files(
    df: pd.DataFrame,
    parts: Sequence[np.ndarray],
    out_dir: str | Path,
    *,
    names: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Write ``<bank>.csv`` holding each part's rows (all columns); returns bank -> path."""
    names = list(names or [f"bank_{chr(ord('a') + i)}" for i in range(len(parts))])
    if len(names) != len(parts):
        raise ConfigError(f"{len(parts)} parts but {len(names)} bank names")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, rows in zip(names, parts, strict=False):
        path = out / f"{name}.csv"
        df.iloc[np.asarray(rows)].to_csv(path, index=False)
        paths[name] = path
    return paths


__all__ = [
    "TAIWAN_CATEGORICAL",
    "TAIWAN_ID",
    "TAIWAN_LABEL",
    "iid_split",
    "load_taiwan",
    "split_by",
    "write_bank_files",
]
