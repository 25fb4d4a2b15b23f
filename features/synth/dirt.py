"""Deterministic dirt on a clean party table: missing cells, skew, outliers, duplicates.

:func:`dirty_table` applies :data:`DIRT` to one party's own table, for exercising the
load-time validation and cleaning. It works on the one table it is given; nothing is
revealed to anyone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.synth.schema import ID, LABEL

DIRT = {
    "missing_rate": 0.03,
    "grade_extra_missing_rate": 0.05,
    "unit_mixup_rate": 0.01,
    "outlier_rate": 0.002,
    "negative_reading_rate": 0.001,
    "duplicate_rate": 0.002,
    "conflicting_duplicate_rate": 0.001,
    "malformed_id_rate": 0.001,
}
"""What ``dirty=True`` adds to each party table (rates are shares of its rows; each kind of
duplicate and malformed ID appears at least once in a table of 50+ rows):

- ``missing_rate`` of every feature cell becomes empty; ``tax_credit_grade`` loses another
  ``grade_extra_missing_rate``;
- skew: ``unit_mixup_rate`` of ``registered_capital`` is reported in yuan instead of 10k yuan
  and of ``taxes_paid_12m`` in fen (x100);
- outliers: ``outlier_rate`` of each money column multiplied by 1000; ``negative_reading_rate``
  of ``electricity_kwh_12m`` negative (meter reset);
- ``duplicate_rate`` of rows repeated exactly, ``conflicting_duplicate_rate`` repeated with
  other values;
- ``malformed_id_rate`` of IDs broken, cycling through: lower case, trailing space, wrong
  check character, 15-digit old registration number (工商注册号).
The label column is never dirtied.
"""

_MONEY = {
    "acct_avg_monthly_inflow",
    "acct_avg_monthly_outflow",
    "acct_avg_balance",
    "credit_line_total",
    "taxes_paid_12m",
    "vat_invoice_amount_12m",
    "tax_arrears_amount",
    "enforcement_amount",
    "registered_capital",
}


def _at_least(rate: float, n: int) -> int:
    return int(max(1, round(rate * n))) if n >= 50 else int(round(rate * n))


def _break_id(code: str, kind: int, rng: np.random.Generator) -> str:
    if kind == 0:
        return code.lower()
    if kind == 1:
        return code + " "
    if kind == 2:
        wrong = "0123456789ABCDEFGHJKLMNPQRTUWXY".replace(code[17], "")
        return code[:17] + wrong[int(rng.integers(len(wrong)))]
    return code[2:8] + "".join(str(int(d)) for d in rng.integers(0, 10, 9))  # 15-digit old reg. no.


def dirty_table(df: pd.DataFrame, name: str, rng: np.random.Generator) -> pd.DataFrame:
    """Apply :data:`DIRT` to one party table (deterministic given ``rng``)."""
    out = df.copy()
    n = len(out)
    features = [c for c in out.columns if c not in (ID, LABEL)]
    for col in features:
        if col in _MONEY and n:
            k = _at_least(DIRT["outlier_rate"], n)
            rows = rng.choice(n, size=k, replace=False)
            out.loc[rows, col] = out[col].to_numpy()[rows] * 1000
    if "registered_capital" in out and n:
        rows = rng.choice(n, size=_at_least(DIRT["unit_mixup_rate"], n), replace=False)
        out.loc[rows, "registered_capital"] = out["registered_capital"].to_numpy()[rows] * 10_000
    if "taxes_paid_12m" in out and n:
        rows = rng.choice(n, size=_at_least(DIRT["unit_mixup_rate"], n), replace=False)
        out.loc[rows, "taxes_paid_12m"] = out["taxes_paid_12m"].to_numpy()[rows] * 100
    if "electricity_kwh_12m" in out and n:
        rows = rng.choice(n, size=_at_least(DIRT["negative_reading_rate"], n), replace=False)
        out.loc[rows, "electricity_kwh_12m"] = -out["electricity_kwh_12m"].to_numpy()[rows]
    for col in features:
        mask = rng.random(n) < DIRT["missing_rate"]
        if col == "tax_credit_grade":
            mask |= rng.random(n) < DIRT["grade_extra_missing_rate"]
        if pd.api.types.is_integer_dtype(out[col]):
            out[col] = out[col].astype("Int64")
        out.loc[mask, col] = pd.NA if out[col].dtype == "Int64" else np.nan
    # duplicates: exact and conflicting
    dup_rows = rng.choice(n, size=_at_least(DIRT["duplicate_rate"], n), replace=False)
    conflict_rows = rng.choice(
        n, size=_at_least(DIRT["conflicting_duplicate_rate"], n), replace=False
    )
    conflicts = out.iloc[conflict_rows].copy()
    num = [c for c in features if pd.api.types.is_numeric_dtype(conflicts[c])]
    if num:
        conflicts[num[0]] = conflicts[num[0]] * 2 + 1
    out = pd.concat([out, out.iloc[dup_rows], conflicts], ignore_index=True)
    # malformed IDs on rows that are not duplicated
    ids = out[ID].to_numpy(dtype=object).copy()
    k = max(_at_least(DIRT["malformed_id_rate"], n), 4 if n >= 50 else 0)
    pool = np.setdiff1d(np.arange(n), np.concatenate([dup_rows, conflict_rows]))
    for j, row in enumerate(rng.choice(pool, size=min(k, pool.shape[0]), replace=False)):
        ids[row] = _break_id(ids[row], j % 4, rng)
    out[ID] = ids
    return out.sort_values(ID, kind="stable").reset_index(drop=True)


__all__ = ["DIRT", "dirty_table"]
