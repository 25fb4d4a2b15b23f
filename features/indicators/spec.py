"""The indicator model: dimensions, sub-dimensions, raw-record tables and :class:`Indicator`.

What an indicator of the library (指标库) is: its owner, dimension (财务健康度 financial
health, 运营活跃度 operating activity, 风险抗逆力 risk resilience) and sub-dimension, type,
unit, formula in words (Chinese and English), window, point-in-time rule, the raw-record
table and columns it reads, update frequency, sensitivity level and computation.
Definitions only: nothing is revealed to anyone here (the registry entries are the lab
catalog's public text).
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
DIMENSIONS_EN: dict[str, str] = {
    "financial_health": "financial health",
    "operating_activity": "operating activity",
    "risk_resilience": "risk resilience",
}


@dataclass(frozen=True)
class SubDimension:
    """A sub-dimension (子维度) of one dimension."""

    zh: str
    en: str
    dimension: Dimension


SUB_DIMENSIONS: dict[str, SubDimension] = {
    "solvency": SubDimension("偿债能力", "solvency", "financial_health"),
    "profitability": SubDimension("盈利能力", "profitability", "financial_health"),
    "cash_flow": SubDimension("现金流状况", "cash flow", "financial_health"),
    "tax_contribution": SubDimension("纳税贡献", "tax contribution", "financial_health"),
    "scale": SubDimension("经营规模", "business scale", "operating_activity"),
    "growth": SubDimension("经营增长", "growth", "operating_activity"),
    "turnover": SubDimension("营运效率", "operating efficiency", "operating_activity"),
    "customers": SubDimension(
        "客户与交易对手", "customers and counterparties", "operating_activity"
    ),
    "workforce": SubDimension("用工与人员趋势", "workforce and headcount", "operating_activity"),
    "energy": SubDimension("生产用能", "energy and water use", "operating_activity"),
    "innovation": SubDimension("创新能力", "innovation", "operating_activity"),
    "stability": SubDimension("稳定性与集中度", "stability and concentration", "risk_resilience"),
    "payment": SubDimension("履约记录", "payment record", "risk_resilience"),
    "litigation": SubDimension("司法涉诉", "litigation", "risk_resilience"),
    "regulatory": SubDimension("行政监管", "regulatory record", "risk_resilience"),
    "reputation": SubDimension("舆情声誉", "public opinion", "risk_resilience"),
    "longevity": SubDimension("存续经营", "longevity", "risk_resilience"),
}
SENSITIVITY: dict[str, str] = {
    "L1": "公开 (public)",
    "L2": "内部 (internal)",
    "L3": "敏感：仅可用于联邦建模 (sensitive: usable in federated models only)",
    "L4": "高度敏感：仅聚合或联邦使用，不得导出 "
    "(highly sensitive: aggregated or federated use only, never exported)",
}
OWNERS: dict[str, str] = {
    "bank": "银行 (guest bank)",
    "tax": "税务局 (tax bureau)",
    "social_insurance": "人社局 (social insurance)",
    "housing_fund": "住房公积金管理中心 (housing provident fund centre)",
    "utilities": "水电公司 (utilities)",
    "courts": "法院 (courts)",
    "market_regulation": "市场监管局 (market regulation)",
}


@dataclass(frozen=True)
class Table:
    """One raw-record table an owner keeps (``records_<name>.csv`` for the synthetic ones)."""

    owner: str
    date_col: str
    frequency: Literal["monthly", "annual", "event"]
    columns: tuple[str, ...]
    zh: str
    en: str

    @property
    def date_columns(self) -> tuple[str, ...]:
        """Columns holding ISO dates (the record date among them)."""
        return tuple(c for c in self.columns if c in RECORD_DATE_COLUMNS)

    @property
    def text_columns(self) -> tuple[str, ...]:
        """Columns holding codes or names (kept as text)."""
        return tuple(c for c in self.columns if c in RECORD_TEXT_COLUMNS)

    @property
    def numeric_columns(self) -> tuple[str, ...]:
        """Columns holding numbers (every column but the ID, dates and text)."""
        skip = {"uscc", *self.date_columns, *self.text_columns}
        return tuple(c for c in self.columns if c not in skip)


#: record-table columns that hold ISO dates (YYYY-MM-DD)
RECORD_DATE_COLUMNS = frozenset(
    {
        "period",
        "date",
        "due_on",
        "paid_on",
        "fiscal_year_end",
        "filed_on",
        "valid_until",
        "resolved_on",
    }
)
#: record-table columns that hold codes or names
RECORD_TEXT_COLUMNS = frozenset(
    {"direction", "counterparty", "category", "case_type", "event", "kind", "channel"}
)


TABLES: dict[str, Table] = {
    "bank": Table(
        "bank",
        R.PERIOD,
        "monthly",
        ("uscc", "period", "inflow", "outflow", "balance", "txn_count"),
        "账户月度流水汇总",
        "monthly account flows",
    ),
    "bank_txns": Table(
        "bank",
        R.DATE,
        "event",
        ("uscc", "date", "direction", "counterparty", "category", "amount"),
        "收支流水明细（含交易对手）",
        "account transactions with counterparties",
    ),
    "tax": Table(
        "tax",
        R.PERIOD,
        "monthly",
        ("uscc", "period", "tax_paid", "invoice_count", "invoice_amount", "filed_late", "arrears"),
        "月度纳税申报",
        "monthly tax filings",
    ),
    "tax_statements": Table(
        "tax",
        "filed_on",
        "annual",
        (
            "uscc",
            "fiscal_year_end",
            "filed_on",
            "revenue",
            "cost_of_sales",
            "net_profit",
            "total_assets",
            "total_liabilities",
            "current_assets",
            "current_liabilities",
            "inventory",
            "receivables",
            "payables",
        ),
        "年度财务报表（随企业所得税汇算清缴报送）",
        "annual financial statements (filed with the corporate income tax return)",
    ),
    "social_insurance": Table(
        "social_insurance",
        R.PERIOD,
        "monthly",
        ("uscc", "period", "insured_employees", "due", "paid"),
        "社保月度缴费",
        "monthly social-insurance contributions",
    ),
    "housing_fund": Table(
        "housing_fund",
        R.PERIOD,
        "monthly",
        ("uscc", "period", "contributors", "due", "paid"),
        "住房公积金月度缴存",
        "monthly housing-fund contributions",
    ),
    "utilities": Table(
        "utilities",
        R.PERIOD,
        "monthly",
        ("uscc", "period", "electricity_kwh", "water_tons", "amount", "due_on", "paid_on"),
        "水电月度账单",
        "monthly utility bills",
    ),
    "courts": Table(
        "courts",
        R.DATE,
        "event",
        ("uscc", "date", "case_type", "amount"),
        "涉诉案件（立案登记、民事被告、被执行）",
        "court cases (registered, civil defendant, enforcement)",
    ),
    "market_regulation": Table(
        "market_regulation",
        R.DATE,
        "event",
        ("uscc", "date", "event", "amount"),
        "登记与监管事件（成立、处罚、经营异常列入/移出）",
        "register events (established, penalty, abnormal listing and removal)",
    ),
    "ip_registrations": Table(
        "market_regulation",
        R.DATE,
        "event",
        ("uscc", "date", "kind", "valid_until"),
        "知识产权登记（商标、发明/实用新型/外观设计专利）",
        "intellectual-property registrations (trademarks, patents)",
    ),
    "complaints": Table(
        "market_regulation",
        R.DATE,
        "event",
        ("uscc", "date", "channel", "severity", "resolved_on"),
        "投诉举报与负面舆情（12315 投诉、举报、媒体报道）",
        "complaints, reports and negative media coverage",
    ),
}
#: Each table's date column (the date a record became known).
DATE_COLUMN: dict[str, str] = {name: t.date_col for name, t in TABLES.items()}

#: Point-in-time rules, one per kind of reading (Chinese, English).
PIT_RULES: dict[str, tuple[str, str]] = {
    "window": (
        "只读日期在 (观察日−窗口, 观察日] 内的记录，观察日之后的记录一律不读",
        "reads only records dated in (as_of − window, as_of]; nothing dated after as_of",
    ),
    "latest": (
        "取观察日当日或之前最近一条记录的值",
        "the value of the latest record dated on or before as_of",
    ),
    "history": (
        "读观察日当日或之前的全部记录",
        "reads every record dated on or before as_of",
    ),
    "filed": (
        "报表自申报日期（filed_on）起可用，而非财务年度截止日；取观察日前最近申报的报表",
        "a statement counts from its filing date, not its fiscal year end; the latest "
        "statement filed on or before as_of",
    ),
    "due": (
        "账单在观察日前已到期才计入；观察日之后的付款视为观察日时未付",
        "a bill counts once due by as_of; a payment dated after as_of is unpaid on as_of",
    ),
    "state": (
        "观察日当日或之前最近一次列入/移出事件决定状态",
        "the latest listing or removal on or before as_of decides the state",
    ),
    "in_force": (
        "观察日当日或之前获得登记、且有效期届满日晚于观察日",
        "registered on or before as_of and valid past as_of",
    ),
    "resolved": (
        "办结日期晚于观察日的投诉视为观察日时未办结",
        "a complaint resolved after as_of is unresolved on as_of",
    ),
}

Compute = Callable[[pd.DataFrame, str], pd.Series]


@dataclass(frozen=True)
class Indicator:
    """One indicator of the library; ``compute(records, as_of)`` reads ``table``'s records
    (already restricted to those dated on or before ``as_of``)."""

    code: str
    name_zh: str
    name_en: str
    sub_dimension: str
    dtype: Literal["int", "float", "ratio", "flag"]
    unit: str
    window: str
    sensitivity: Literal["L1", "L2", "L3", "L4"]
    formula_zh: str
    formula_en: str
    table: str
    needs: tuple[str, ...]
    pit: str
    compute: Compute
    default: float | None = 0.0  # value for enterprises with no record to aggregate

    @property
    def owner(self) -> str:
        return TABLES[self.table].owner

    @property
    def dimension(self) -> Dimension:
        return SUB_DIMENSIONS[self.sub_dimension].dimension

    @property
    def frequency(self) -> str:
        return {"monthly": "monthly", "annual": "annual", "event": "daily"}[
            TABLES[self.table].frequency
        ]

    def record(self) -> dict[str, Any]:
        """The registry entry without the computation (for the catalog and the docs)."""
        sub = SUB_DIMENSIONS[self.sub_dimension]
        pit_zh, pit_en = PIT_RULES[self.pit]
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "owner": self.owner,
            "owner_zh": OWNERS[self.owner],
            "dimension": self.dimension,
            "dimension_zh": DIMENSIONS[self.dimension],
            "sub_dimension": self.sub_dimension,
            "sub_dimension_zh": sub.zh,
            "sub_dimension_en": sub.en,
            "dtype": self.dtype,
            "unit": self.unit,
            "formula_zh": self.formula_zh,
            "formula_en": self.formula_en,
            "window": self.window,
            "pit_rule_zh": pit_zh,
            "pit_rule_en": pit_en,
            "table": self.table,
            "columns": list(self.needs),
            "frequency": self.frequency,
            "sensitivity": self.sensitivity,
        }


@dataclass(frozen=True)
class For:
    """Declares the indicators of one table: ``For("bank")(code, ...)`` is an
    :class:`Indicator` with ``table="bank"`` (the other fields in their order)."""

    table: str

    def __call__(
        self,
        code: str,
        name_zh: str,
        name_en: str,
        sub_dimension: str,
        dtype: Literal["int", "float", "ratio", "flag"],
        unit: str,
        window: str,
        sensitivity: Literal["L1", "L2", "L3", "L4"],
        formula_zh: str,
        formula_en: str,
        needs: tuple[str, ...],
        pit: str,
        compute: Compute,
        default: float | None = 0.0,
    ) -> Indicator:
        return Indicator(
            code,
            name_zh,
            name_en,
            sub_dimension,
            dtype,
            unit,
            window,
            sensitivity,
            formula_zh,
            formula_en,
            self.table,
            needs,
            pit,
            compute,
            default,
        )


def col_equals(name: str, value: Any) -> Callable[[pd.DataFrame], pd.Series]:
    """Row predicate: column ``name`` equals ``value``."""
    return lambda d: d[name] == value


__all__ = [
    "Compute",
    "DATE_COLUMN",
    "DIMENSIONS",
    "DIMENSIONS_EN",
    "Dimension",
    "For",
    "Indicator",
    "OWNERS",
    "PIT_RULES",
    "RECORD_DATE_COLUMNS",
    "RECORD_TEXT_COLUMNS",
    "SENSITIVITY",
    "SUB_DIMENSIONS",
    "SubDimension",
    "TABLES",
    "Table",
    "col_equals",
]
