"""The indicator library (指标库): what each data owner can compute from its raw records.

Every :class:`Indicator` names its owner party, its dimension in the platform's model
(财务健康度 financial health, 运营活跃度 operating activity, 风险抗逆力 risk resilience), its
type, unit, definition, window, update frequency and sensitivity level, and how it is
computed: a point-in-time aggregation (``features.records``) over the owner's raw records
as of an observation date. :func:`compute_party` builds one party's indicator table;
:func:`registry_records` exports the registry for the lab catalog; docs/indicators.md lists
it as a table.

Raw record tables (written by ``features.synth_records``; one per owner):

=================  =======================================================================
owner              columns
=================  =======================================================================
bank               uscc, period, inflow, outflow, balance, txn_count (monthly account flows)
tax                uscc, period, tax_paid, invoice_count, invoice_amount, filed_late, arrears
social_insurance   uscc, period, insured_employees, due, paid
utilities          uscc, period, electricity_kwh, water_tons, amount, due_on, paid_on
courts             uscc, date, case_type (registered | civil_defendant | enforcement), amount
market_regulation  uscc, date, event (established | penalty | abnormal_listed |
                   abnormal_removed), amount
=================  =======================================================================

Nothing leaves a party here: indicators are computed where the records are.

Modules: :mod:`.spec` (the :class:`Indicator` model and its vocabularies), :mod:`.flows`
(bank and tax), :mod:`.obligations` (social insurance and utilities), :mod:`.events`
(courts and market regulation), :mod:`.registry` (the registry and :func:`compute_party`).
"""

from __future__ import annotations

from features.indicators.registry import (
    INDICATORS,
    REGISTRY,
    compute_party,
    get,
    indicators_of,
    registry_records,
)
from features.indicators.spec import (
    DATE_COLUMN,
    DIMENSIONS,
    OWNERS,
    SENSITIVITY,
    Compute,
    Dimension,
    Indicator,
)

__all__ = [
    "Compute",
    "DATE_COLUMN",
    "DIMENSIONS",
    "Dimension",
    "INDICATORS",
    "Indicator",
    "OWNERS",
    "REGISTRY",
    "SENSITIVITY",
    "compute_party",
    "get",
    "indicators_of",
    "registry_records",
]
