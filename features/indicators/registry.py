"""The indicator registry and one party's indicator table.

:data:`INDICATORS` is the whole library in its documented order (bank, tax, social
insurance, utilities, courts, market regulation); :func:`compute_party` builds one party's
indicator table from its own records, where the records are; :func:`registry_records`
exports the registry (definitions only, no data) for the lab catalog. Nothing leaves a
party here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crypto.errors import ConfigError, DataValidationError
from features import records as R
from features.indicators.events import COURTS, MARKET_REGULATION
from features.indicators.flows import BANK, TAX
from features.indicators.obligations import SOCIAL_INSURANCE, UTILITIES
from features.indicators.spec import DATE_COLUMN, OWNERS, Indicator

INDICATORS: tuple[Indicator, ...] = (
    *BANK,
    *TAX,
    *SOCIAL_INSURANCE,
    *UTILITIES,
    *COURTS,
    *MARKET_REGULATION,
)

REGISTRY: dict[str, Indicator] = {i.code: i for i in INDICATORS}


def indicators_of(owner: str) -> list[Indicator]:
    """The indicators a party owns (any bank name gives the bank's)."""
    key = owner if owner in OWNERS else "bank"
    return [i for i in INDICATORS if i.owner == key]


def get(code: str) -> Indicator:
    try:
        return REGISTRY[code]
    except KeyError:
        raise ConfigError(f"unknown indicator {code!r}; see docs/indicators.md") from None


def registry_records() -> list[dict[str, Any]]:
    """Every indicator's registry entry (plain dicts), for the lab catalog."""
    return [i.record() for i in INDICATORS]


def compute_party(
    owner: str,
    records: pd.DataFrame,
    as_of: str,
    *,
    codes: list[str] | None = None,
    ids: Any = None,
) -> pd.DataFrame:
    """One party's indicator table as of ``as_of``: one row per enterprise (``ids``, default
    every enterprise with a record dated on or before ``as_of``), one column per indicator.
    Records dated after ``as_of`` are never read."""
    inds = [get(c) for c in codes] if codes else indicators_of(owner)
    date_col = DATE_COLUMN.get(owner if owner in OWNERS else "bank", R.PERIOD)
    known = R.known_by(records, as_of, date_col)
    if ids is None:
        ids = np.unique(known[R.ID].astype(str).to_numpy())
    index = pd.Index(np.asarray(ids, dtype=object), name=R.ID)
    out = pd.DataFrame(index=index)
    for ind in inds:
        if ind.owner != (owner if owner in OWNERS else "bank"):
            raise DataValidationError(
                f"indicator {ind.code} belongs to {ind.owner!r}, not {owner!r}"
            )
        s = ind.compute(known, as_of).reindex(index)
        if ind.default is not None:
            s = s.fillna(ind.default)
        out[ind.code] = s.to_numpy(dtype=np.float64)
    return out.reset_index()


__all__ = ["INDICATORS", "REGISTRY", "compute_party", "get", "indicators_of", "registry_records"]
