"""The indicator library (指标库): what each data owner can compute from its raw records.

Every :class:`Indicator` names its owner party, its dimension in the platform's model
(财务健康度 financial health, 运营活跃度 operating activity, 风险抗逆力 risk resilience) and
sub-dimension (子维度), its type, unit, formula in words (Chinese and English), window,
point-in-time rule, the raw-record table and columns it reads, update frequency and
sensitivity level, and how it is computed: a point-in-time aggregation
(``features.records``) over the owner's raw records as of an observation date.
:func:`compute_party` builds one party's indicator table; :func:`registry_records` exports
the registry for the lab catalog; :func:`render_markdown` writes docs/indicators.md.

The raw-record tables are :data:`TABLES` (written for the synthetic parties by
``features.synth_records``): the bank's monthly account flows and its transactions with
counterparties; the tax bureau's monthly filings and annual financial statements; social
insurance's and the housing fund's monthly contributions; the utilities' monthly bills;
the courts' cases; market regulation's register events, intellectual-property
registrations and complaints.

Nothing leaves a party here: indicators are computed where the records are.

Modules: :mod:`.spec` (the :class:`Indicator` model and its vocabularies),
:mod:`.bank_flows`, :mod:`.bank_txns`, :mod:`.tax`, :mod:`.statements`, :mod:`.workforce`
(social insurance, housing fund), :mod:`.utilities`, :mod:`.events` (courts, market
regulation), :mod:`.reputation` (intellectual property, complaints), :mod:`.registry` (the
registry and :func:`compute_party`), :mod:`.docs` (the generated docs page).
"""

from __future__ import annotations

from features.indicators.docs import render_markdown
from features.indicators.registry import (
    INDICATORS,
    REGISTRY,
    compute_party,
    get,
    indicators_of,
    owner_key,
    registry_records,
    tables_of,
)
from features.indicators.spec import (
    DATE_COLUMN,
    DIMENSIONS,
    DIMENSIONS_EN,
    OWNERS,
    PIT_RULES,
    SENSITIVITY,
    SUB_DIMENSIONS,
    TABLES,
    Compute,
    Dimension,
    Indicator,
    Table,
)

__all__ = [
    "Compute",
    "DATE_COLUMN",
    "DIMENSIONS",
    "DIMENSIONS_EN",
    "Dimension",
    "INDICATORS",
    "Indicator",
    "OWNERS",
    "PIT_RULES",
    "REGISTRY",
    "SENSITIVITY",
    "SUB_DIMENSIONS",
    "TABLES",
    "Table",
    "compute_party",
    "get",
    "indicators_of",
    "owner_key",
    "registry_records",
    "render_markdown",
    "tables_of",
]
