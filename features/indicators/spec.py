"""The indicator model: dimensions, sensitivity levels, owners and :class:`Indicator`.

What an indicator of the library (指标库) is: its owner, dimension (财务健康度 financial
health, 运营活跃度 operating activity, 风险抗逆力 risk resilience), type, unit, definition,
window, frequency, sensitivity level and computation. Definitions only: nothing is
revealed to anyone here (the registry entries are the lab catalog's public text).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from features import records as R

Dimension = Literal["financial_health", "operating_activity", "risk_resilience"]
DIMENSIONS: dict[str, str] = {
    "financial_health": "财务健康度",
    "operating_activity": "运营活跃度",
    "risk_resilience": "风险抗逆力",
}
SENSITIVITY: dict[str, str] = {
    "L1": "public (公开)",
    "L2": "internal (内部)",
    "L3": "sensitive (敏感): usable in federated models only",
    "L4": "highly sensitive (高度敏感): aggregated or federated use only, never exported",
}
OWNERS: dict[str, str] = {
    "bank": "银行 (guest bank)",
    "tax": "税务局 (tax bureau)",
    "social_insurance": "人社局 (social insurance)",
    "utilities": "水电公司 (utilities)",
    "courts": "法院 (courts)",
    "market_regulation": "市场监管局 (market regulation)",
}
DATE_COLUMN: dict[str, str] = {
    "bank": R.PERIOD,
    "tax": R.PERIOD,
    "social_insurance": R.PERIOD,
    "utilities": R.PERIOD,
    "courts": R.DATE,
    "market_regulation": R.DATE,
}

Compute = Callable[[pd.DataFrame, str], pd.Series]


@dataclass(frozen=True)
class Indicator:
    """One indicator of the library."""

    code: str
    name_zh: str
    name_en: str
    owner: str
    dimension: Dimension
    dtype: Literal["int", "float", "ratio", "flag"]
    unit: str
    definition: str
    window: str
    frequency: str
    sensitivity: Literal["L1", "L2", "L3", "L4"]
    compute: Compute
    default: float | None = 0.0  # value for enterprises with no record to aggregate

    def record(self) -> dict[str, Any]:
        """The registry entry without the computation (for the catalog and the docs)."""
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "owner": self.owner,
            "owner_zh": OWNERS[self.owner],
            "dimension": self.dimension,
            "dimension_zh": DIMENSIONS[self.dimension],
            "dtype": self.dtype,
            "unit": self.unit,
            "definition": self.definition,
            "window": self.window,
            "frequency": self.frequency,
            "sensitivity": self.sensitivity,
        }


def col_equals(name: str, value: Any) -> Callable[[pd.DataFrame], pd.Series]:
    """Row predicate: column ``name`` equals ``value``."""
    return lambda d: d[name] == value


__all__ = [
    "Compute",
    "DATE_COLUMN",
    "DIMENSIONS",
    "Dimension",
    "Indicator",
    "OWNERS",
    "SENSITIVITY",
    "col_equals",
]
