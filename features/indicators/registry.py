"""The indicator registry and one party's indicator table.

:data:`INDICATORS` is the whole library in its documented order (bank, tax, social
insurance, housing fund, utilities, courts, market regulation); :func:`compute_party`
builds one party's indicator table from its own raw-record tables, where the records are;
:func:`registry_records` exports the registry (definitions only, no data) for the lab
catalog. Nothing leaves a party here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from crypto.errors import ConfigError, DataValidationError
from features import records as R
from features.indicators.bank_flows import BANK_FLOWS
from features.indicators.bank_txns import BANK_TXNS
from features.indicators.events import COURTS, MARKET_REGULATION
from features.indicators.reputation import COMPLAINTS, INTELLECTUAL_PROPERTY
from features.indicators.spec import OWNERS, TABLES, Indicator
from features.indicators.statements import STATEMENTS
from features.indicators.tax import TAX
from features.indicators.utilities import UTILITIES
from features.indicators.workforce import HOUSING_FUND, SOCIAL_INSURANCE

INDICATORS: tuple[Indicator, ...] = (
    *BANK_FLOWS,
    *BANK_TXNS,
    *TAX,
    *STATEMENTS,
    *SOCIAL_INSURANCE,
    *HOUSING_FUND,
    *UTILITIES,
    *COURTS,
    *MARKET_REGULATION,
    *INTELLECTUAL_PROPERTY,
    *COMPLAINTS,
)

REGISTRY: dict[str, Indicator] = {i.code: i for i in INDICATORS}


def owner_key(owner: str) -> str:
    """The registry owner of a party name (any bank name gives ``bank``)."""
    return owner if owner in OWNERS else "bank"


def tables_of(owner: str) -> list[str]:
    """The raw-record tables a party keeps."""
    key = owner_key(owner)
    return [name for name, t in TABLES.items() if t.owner == key]


def indicators_of(owner: str) -> list[Indicator]:
    """The indicators a party owns (any bank name gives the bank's)."""
    key = owner_key(owner)
    return [i for i in INDICATORS if i.owner == key]


def get(code: str) -> Indicator:
    try:
        return REGISTRY[code]
    except KeyError:
        raise ConfigError(
            f"unknown indicator {code!r}",
            hint="The indicator library is listed in docs/indicators.md "
            "(`fedlab lab indicators list`).",
        ) from None


def registry_records() -> list[dict[str, Any]]:
    """Every indicator's registry entry (plain dicts), for the lab catalog and the docs."""
    return [i.record() for i in INDICATORS]


def _as_tables(owner: str, records: pd.DataFrame | Mapping[str, pd.DataFrame]) -> dict:
    tables = {owner_key(owner): records} if isinstance(records, pd.DataFrame) else dict(records)
    mine = set(tables_of(owner))
    foreign = sorted(set(tables) - mine)
    if foreign:
        raise DataValidationError(
            f"{owner!r} does not keep the record table(s) {foreign}",
            hint=f"{owner_key(owner)}'s tables: {sorted(mine)}",
        )
    return tables


def compute_party(
    owner: str,
    records: pd.DataFrame | Mapping[str, pd.DataFrame],
    as_of: str,
    *,
    codes: list[str] | None = None,
    ids: Any = None,
) -> pd.DataFrame:
    """One party's indicator table as of ``as_of``: one row per enterprise (``ids``, default
    every enterprise with a record dated on or before ``as_of`` in any given table), one
    column per indicator (``codes``, default every indicator of the owner whose table is
    given). ``records`` maps table names to record frames; a frame alone is the owner's
    main table (the one named like the owner). Records dated after ``as_of`` are never read."""
    tables = _as_tables(owner, records)
    known = {t: R.known_by(df, as_of, TABLES[t].date_col) for t, df in tables.items()}
    if codes:
        inds = [get(c) for c in codes]
    else:
        inds = [i for i in indicators_of(owner) if i.table in known]
    if ids is None:
        seen = [k[R.ID].astype(str).to_numpy() for k in known.values()]
        ids = np.unique(np.concatenate(seen)) if seen else np.array([], dtype=object)
    index = pd.Index(np.asarray(ids, dtype=object), name=R.ID)
    out = pd.DataFrame(index=index)
    for ind in inds:
        if ind.owner != owner_key(owner):
            raise DataValidationError(
                f"indicator {ind.code} belongs to {ind.owner!r}, not {owner!r}"
            )
        if ind.table not in known:
            raise DataValidationError(
                f"indicator {ind.code} reads the record table {ind.table!r}, which was not given",
                hint=f"Pass {owner}'s {ind.table!r} records to compute it.",
            )
        s = ind.compute(known[ind.table], as_of).reindex(index)
        if ind.default is not None:
            s = s.fillna(ind.default)
        out[ind.code] = s.to_numpy(dtype=np.float64)
    return out.reset_index()


__all__ = [
    "INDICATORS",
    "REGISTRY",
    "compute_party",
    "get",
    "indicators_of",
    "owner_key",
    "registry_records",
    "tables_of",
]
