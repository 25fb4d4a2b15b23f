"""A bank's own rows as model inputs, its hold-out split and its scaling statistics.

Everything here runs at one bank on its own table (and in the centralized reference of
tests and benchmarks); nothing leaves the bank from this module. What the bank later sends
is derived from these values: :func:`magnitudes` (per numeric column the decimal order of
magnitude of its largest absolute value, a coarse public scale sent with ``homo.init``),
:meth:`BankData.layout_hash` (a hash of the feature layout, sent with ``homo.init``) and
:func:`stats_vector` (row count and sums of the scaled columns and their squares, sent
protected by the backend with ``homo.stats``). Categorical values are hashed into buckets
the same way at every bank (:func:`hash_codes`), so no vocabulary is ever exchanged. With
``authorization = "required"`` a bank trains only on its rows whose enterprise authorized
it (:func:`authorized_rows`; its own authorization table, read at the bank).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crypto.errors import DataValidationError
from features.encoding import party_matrix
from federation.alignment_party import authorized_ids
from federation.homo.params import WEIGHT_UNIT, HomoParams
from federation.party import PartyContext
from federation.partydata import PartySetup, load_table, party_setup
from federation.population import sample_rows

#: ``PartyContext.cache`` key prefix of a run's encoded rows (rebuilt when the cache is empty)
_CACHE_PREFIX = "homo.data:"


@dataclass(frozen=True)
class BankData:
    """One bank's rows as model inputs (raw numeric, hashed categorical codes, label)."""

    xnum: np.ndarray
    xcat: np.ndarray
    y: np.ndarray
    numeric_names: list[str]
    categorical: list[str]

    def layout_hash(self, buckets: int) -> str:
        text = json.dumps([self.numeric_names, self.categorical, buckets])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def hash_codes(values: pd.Series, column: str, buckets: int) -> np.ndarray:
    """Stable bucket of ``column=value`` per row (the same at every bank, no vocabulary)."""
    codes, uniq = pd.factorize(values.astype(str), sort=False)
    table = np.array(
        [
            int.from_bytes(
                hashlib.blake2b(f"{column}={u}".encode(), digest_size=8).digest(), "little"
            )
            % buckets
            for u in uniq
        ],
        dtype=np.int64,
    )
    out = np.where(codes >= 0, table[np.maximum(codes, 0)] if len(table) else 0, 0)
    return out.astype(np.int64)


def bank_data(
    df: pd.DataFrame,
    *,
    id_column: str,
    label: str,
    features: Sequence[str] | None,
    categorical: Sequence[str],
    buckets: int,
) -> BankData:
    """Encode a bank's table: numeric columns via ``party_matrix``, categorical hashed."""
    cols = list(features) if features else [c for c in df.columns if c not in (id_column, label)]
    missing = [c for c in [*cols, *categorical] if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"column(s) {missing} named in the homo params are not in "
            f"the bank's table; its columns are {list(df.columns)}"
        )
    cat = [c for c in cols if c in set(categorical)]
    num = [c for c in cols if c not in set(categorical)]
    m = party_matrix(df[[id_column, label, *num]], id_column=id_column, label=label)
    xcat = (
        np.column_stack([hash_codes(df[c], c, buckets) for c in cat])
        if cat
        else np.zeros((len(df), 0), dtype=np.int64)
    )
    assert m.y is not None
    return BankData(
        np.asarray(m.X, dtype=np.float64),
        xcat,
        np.asarray(m.y, dtype=np.float64),
        list(m.feature_names),
        cat,
    )


def cached_bank_data(ctx: PartyContext, run: str, params: HomoParams) -> BankData:
    """This bank's encoded rows of run ``run``, kept in ``ctx.cache`` (the party's own)."""
    key = _CACHE_PREFIX + run
    d = ctx.cache.get(key)
    if isinstance(d, BankData):
        return d
    setup = party_setup(ctx)
    table = load_table(ctx)
    table = table.iloc[sample_rows(ctx, setup, table)]
    d = bank_data(
        authorized_rows(ctx, setup, table),
        id_column=setup.id_column,
        label=setup.label,
        features=params.features,
        categorical=params.categorical,
        buckets=params.buckets,
    )
    ctx.cache[key] = d
    return d


def authorized_rows(ctx: PartyContext, setup: PartySetup, df: pd.DataFrame) -> pd.DataFrame:
    """With ``authorization = "required"``, the bank's rows whose enterprise holds an
    authorization for this bank valid on ``as_of`` (none: refused); else every row."""
    if setup.authorization != "required":
        return df
    allowed, auth_file = authorized_ids(ctx, setup)
    rows = df[df[setup.id_column].astype(str).isin(allowed)]
    if rows.empty:
        raise DataValidationError(
            f"bank {ctx.name!r}: no row of its table has an authorization valid on "
            f"{setup.as_of or 'today'} in {auth_file}",
            hint="Import the enterprises' query authorizations for this bank.",
        )
    return rows


def bank_seed(seed: int, bank: str, *extra: int) -> int:
    h = hashlib.sha256(json.dumps([int(seed), bank, *map(int, extra)]).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


def holdout_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid) positions: stratified by label, deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    valid = []
    for c in (0.0, 1.0):
        rows = np.flatnonzero(y == c)
        k = int(round(fraction * rows.size))
        valid.append(rng.permutation(rows)[:k])
    va = np.sort(np.concatenate(valid)).astype(np.int64)
    mask = np.ones(len(y), dtype=bool)
    mask[va] = False
    return np.flatnonzero(mask).astype(np.int64), va


def magnitudes(x: np.ndarray) -> np.ndarray:
    """Per column, the decimal exponent ``c`` with ``max|x| <= 10^c`` (coarse, public)."""
    top = np.abs(x).max(axis=0, initial=0.0) if x.size else np.zeros(x.shape[1])
    return np.ceil(np.log10(np.maximum(top, 1e-12))).astype(np.int64)


def stats_vector(x: np.ndarray, exps: np.ndarray) -> np.ndarray:
    """``[n/U, sum(z)/U, sum(z^2)/U]`` with ``z = x / 10^exps`` over the training rows."""
    z = x / 10.0**exps
    return np.concatenate([[x.shape[0]], z.sum(axis=0), (z * z).sum(axis=0)]) / WEIGHT_UNIT


def stats_from_sum(total: np.ndarray, exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) from the summed stats vectors (population std; constant column -> 1)."""
    d = exps.size
    n = total[0]
    mz = total[1 : 1 + d] / n
    vz = np.maximum(total[1 + d : 1 + 2 * d] / n - mz * mz, 0.0)
    scale = 10.0**exps
    std = np.sqrt(vz) * scale
    std[~(std > 1e-12 * scale)] = 1.0
    return mz * scale, std


__all__ = [
    "BankData",
    "authorized_rows",
    "bank_data",
    "bank_seed",
    "cached_bank_data",
    "hash_codes",
    "holdout_split",
    "magnitudes",
    "stats_from_sum",
    "stats_vector",
]
