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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from crypto.errors import ConfigError, DataValidationError
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


def _col(name: str, value: Any) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda d: d[name] == value


def _late_bill(as_of: str) -> Callable[[pd.DataFrame], pd.Series]:
    """A bill is late on ``as_of`` when it fell due by then and was not paid by its due
    date (a payment after ``as_of`` only tells what was already true: unpaid at due)."""
    a = R.as_of_ts(as_of)

    def pred(d: pd.DataFrame) -> pd.Series:
        due = pd.to_datetime(d["due_on"], errors="coerce")
        paid = pd.to_datetime(d["paid_on"], errors="coerce")
        return (due <= a) & (paid.isna() | (paid > due))

    return pred


def _net_flow(d: pd.DataFrame, a: str) -> pd.Series:
    w = R.in_window(d, a, 12)
    return (w["inflow"] - w["outflow"]).groupby(w[R.ID], sort=True).sum().astype(np.float64)


def _paid_months(d: pd.DataFrame, a: str) -> pd.Series:
    return R.window_count(d, a, 36, where=lambda x: x["paid"] >= x["due"])


def _arrears_months(d: pd.DataFrame, a: str) -> pd.Series:
    return R.window_count(d, a, 12, where=lambda x: x["paid"] < x["due"])


_I = Indicator
INDICATORS: tuple[Indicator, ...] = (
    # ---- bank: monthly account flows ------------------------------------------------
    _I(
        "BK_INFLOW_AVG_12M",
        "近12月账户月均流入",
        "average monthly inflow, 12 months",
        "bank",
        "financial_health",
        "float",
        "yuan",
        "mean of the monthly credits to the settlement accounts over the months with a record",
        "12 months",
        "monthly",
        "L3",
        lambda d, a: R.window_mean(d, "inflow", a, 12),
        None,
    ),
    _I(
        "BK_OUTFLOW_AVG_12M",
        "近12月账户月均流出",
        "average monthly outflow, 12 months",
        "bank",
        "operating_activity",
        "float",
        "yuan",
        "mean of the monthly debits",
        "12 months",
        "monthly",
        "L3",
        lambda d, a: R.window_mean(d, "outflow", a, 12),
        None,
    ),
    _I(
        "BK_BALANCE_AVG_12M",
        "近12月日均余额",
        "average balance, 12 months",
        "bank",
        "financial_health",
        "float",
        "yuan",
        "mean of the monthly average daily balances",
        "12 months",
        "monthly",
        "L3",
        lambda d, a: R.window_mean(d, "balance", a, 12),
        None,
    ),
    _I(
        "BK_INFLOW_CV_12M",
        "近12月流入波动系数",
        "inflow volatility, 12 months",
        "bank",
        "risk_resilience",
        "ratio",
        "ratio",
        "population standard deviation / mean of the monthly inflows",
        "12 months",
        "monthly",
        "L3",
        lambda d, a: R.window_cv(d, "inflow", a, 12),
        None,
    ),
    _I(
        "BK_ACTIVE_MONTHS_24M",
        "近24月活跃月数",
        "active months, 24 months",
        "bank",
        "operating_activity",
        "int",
        "months",
        "months with at least one transaction",
        "24 months",
        "monthly",
        "L2",
        lambda d, a: R.window_count(d, a, 24, where=lambda x: x["txn_count"] > 0),
    ),
    _I(
        "BK_NET_FLOW_12M",
        "近12月净流入",
        "net inflow, 12 months",
        "bank",
        "financial_health",
        "float",
        "yuan",
        "sum of monthly inflow minus outflow",
        "12 months",
        "monthly",
        "L3",
        _net_flow,
    ),
    _I(
        "BK_INFLOW_GROWTH_6M",
        "近6月流入环比增长",
        "inflow growth, 6 months on 6 months",
        "bank",
        "operating_activity",
        "ratio",
        "ratio",
        "inflow of the last 6 months / inflow of the 6 months before - 1",
        "2 x 6 months",
        "monthly",
        "L3",
        lambda d, a: R.window_growth(d, "inflow", a, 6),
        None,
    ),
    # ---- tax: monthly filings --------------------------------------------------------
    _I(
        "TX_PAID_12M",
        "近12月纳税总额",
        "taxes paid, 12 months",
        "tax",
        "financial_health",
        "float",
        "yuan",
        "sum of taxes paid in the monthly filings",
        "12 months",
        "monthly",
        "L4",
        lambda d, a: R.window_sum(d, "tax_paid", a, 12),
    ),
    _I(
        "TX_PAID_24M",
        "近24月纳税总额",
        "taxes paid, 24 months",
        "tax",
        "financial_health",
        "float",
        "yuan",
        "sum of taxes paid in the monthly filings",
        "24 months",
        "monthly",
        "L4",
        lambda d, a: R.window_sum(d, "tax_paid", a, 24),
    ),
    _I(
        "TX_INVOICE_COUNT_12M",
        "近12月开票张数",
        "VAT invoices issued, 12 months",
        "tax",
        "operating_activity",
        "int",
        "count",
        "sum of VAT invoices issued",
        "12 months",
        "monthly",
        "L3",
        lambda d, a: R.window_sum(d, "invoice_count", a, 12),
    ),
    _I(
        "TX_INVOICE_AMOUNT_12M",
        "近12月开票金额",
        "VAT invoice amount, 12 months",
        "tax",
        "operating_activity",
        "float",
        "yuan",
        "sum of the amounts of VAT invoices issued",
        "12 months",
        "monthly",
        "L4",
        lambda d, a: R.window_sum(d, "invoice_amount", a, 12),
    ),
    _I(
        "TX_INVOICE_GROWTH_YOY",
        "开票金额同比增长",
        "invoice amount growth, year on year",
        "tax",
        "operating_activity",
        "ratio",
        "ratio",
        "invoice amount of the last 12 months / of the 12 months before - 1",
        "2 x 12 months",
        "monthly",
        "L4",
        lambda d, a: R.window_growth(d, "invoice_amount", a, 12),
        None,
    ),
    _I(
        "TX_LATE_FILINGS_12M",
        "近12月逾期申报次数",
        "late tax filings, 12 months",
        "tax",
        "risk_resilience",
        "int",
        "count",
        "monthly filings submitted after the deadline",
        "12 months",
        "monthly",
        "L3",
        lambda d, a: R.window_count(d, a, 12, where=_col("filed_late", 1)),
    ),
    _I(
        "TX_ARREARS_LATEST",
        "当前欠税金额",
        "tax arrears, latest filing",
        "tax",
        "risk_resilience",
        "float",
        "yuan",
        "tax owed and overdue in the latest filing on or before the observation date",
        "latest",
        "monthly",
        "L3",
        lambda d, a: R.latest(d, "arrears", a),
    ),
    _I(
        "TX_ZERO_INVOICE_MONTHS_12M",
        "近12月零开票月数",
        "months without invoices, 12 months",
        "tax",
        "operating_activity",
        "int",
        "months",
        "filings with no VAT invoice issued",
        "12 months",
        "monthly",
        "L3",
        lambda d, a: R.window_count(d, a, 12, where=lambda x: x["invoice_count"] == 0),
    ),
    # ---- social insurance: monthly contributions ------------------------------------
    _I(
        "SI_EMPLOYEES_LATEST",
        "参保人数",
        "insured employees, latest",
        "social_insurance",
        "operating_activity",
        "int",
        "persons",
        "insured employees in the latest monthly record",
        "latest",
        "monthly",
        "L3",
        lambda d, a: R.latest(d, "insured_employees", a),
        None,
    ),
    _I(
        "SI_EMPLOYEE_CHANGE_6M",
        "参保人数6月变化率",
        "change in insured employees, 6 months",
        "social_insurance",
        "operating_activity",
        "ratio",
        "ratio",
        "insured employees now / 6 months before - 1",
        "6 months",
        "monthly",
        "L3",
        lambda d, a: R.change_ratio(d, "insured_employees", a, 6),
        None,
    ),
    _I(
        "SI_PAID_MONTHS_36M",
        "近36月足额缴费月数",
        "months paid in full, 36 months",
        "social_insurance",
        "financial_health",
        "int",
        "months",
        "months whose contribution was paid in full",
        "36 months",
        "monthly",
        "L3",
        _paid_months,
    ),
    _I(
        "SI_ARREARS_MONTHS_12M",
        "近12月欠缴月数",
        "months in arrears, 12 months",
        "social_insurance",
        "risk_resilience",
        "int",
        "months",
        "months whose contribution was not paid in full",
        "12 months",
        "monthly",
        "L3",
        _arrears_months,
    ),
    _I(
        "SI_PAID_AMOUNT_12M",
        "近12月缴费金额",
        "contributions paid, 12 months",
        "social_insurance",
        "financial_health",
        "float",
        "yuan",
        "sum of contributions paid",
        "12 months",
        "monthly",
        "L3",
        lambda d, a: R.window_sum(d, "paid", a, 12),
    ),
    # ---- utilities: monthly bills ----------------------------------------------------
    _I(
        "UT_ELEC_KWH_12M",
        "近12月用电量",
        "electricity used, 12 months",
        "utilities",
        "operating_activity",
        "float",
        "kWh",
        "sum of billed electricity",
        "12 months",
        "monthly",
        "L2",
        lambda d, a: R.window_sum(d, "electricity_kwh", a, 12),
    ),
    _I(
        "UT_ELEC_GROWTH_YOY",
        "用电量同比增长",
        "electricity growth, year on year",
        "utilities",
        "operating_activity",
        "ratio",
        "ratio",
        "electricity of the last 12 months / of the 12 months before - 1",
        "2 x 12 months",
        "monthly",
        "L2",
        lambda d, a: R.window_growth(d, "electricity_kwh", a, 12),
        None,
    ),
    _I(
        "UT_WATER_TONS_12M",
        "近12月用水量",
        "water used, 12 months",
        "utilities",
        "operating_activity",
        "float",
        "tons",
        "sum of billed water",
        "12 months",
        "monthly",
        "L2",
        lambda d, a: R.window_sum(d, "water_tons", a, 12),
    ),
    _I(
        "UT_LATE_MONTHS_12M",
        "近12月水电费逾期月数",
        "months with a late utility bill, 12 months",
        "utilities",
        "risk_resilience",
        "int",
        "months",
        "bills of the window due by the observation date and not paid by their due date",
        "12 months",
        "monthly",
        "L3",
        lambda d, a: R.window_count(d, a, 12, where=_late_bill(a)),
    ),
    _I(
        "UT_BILL_AMOUNT_12M",
        "近12月水电费金额",
        "utility bills, 12 months",
        "utilities",
        "financial_health",
        "float",
        "yuan",
        "sum of the billed amounts",
        "12 months",
        "monthly",
        "L2",
        lambda d, a: R.window_sum(d, "amount", a, 12),
    ),
    # ---- courts: events -------------------------------------------------------------
    _I(
        "CT_DEFENDANT_CASES_24M",
        "近24月被告涉诉数",
        "lawsuits as defendant, 24 months",
        "courts",
        "risk_resilience",
        "int",
        "count",
        "civil and commercial cases filed with the enterprise as defendant",
        "24 months",
        "daily",
        "L2",
        lambda d, a: R.window_count(
            d, a, 24, where=_col("case_type", "civil_defendant"), date_col=R.DATE
        ),
    ),
    _I(
        "CT_ENFORCEMENT_CASES_24M",
        "近24月被执行案件数",
        "enforcement cases, 24 months",
        "courts",
        "risk_resilience",
        "int",
        "count",
        "enforcement cases filed against the enterprise",
        "24 months",
        "daily",
        "L2",
        lambda d, a: R.window_count(
            d, a, 24, where=_col("case_type", "enforcement"), date_col=R.DATE
        ),
    ),
    _I(
        "CT_ENFORCEMENT_AMOUNT_24M",
        "近24月被执行金额",
        "amount under enforcement, 24 months",
        "courts",
        "risk_resilience",
        "float",
        "yuan",
        "sum of the amounts of those enforcement cases",
        "24 months",
        "daily",
        "L2",
        lambda d, a: R.window_sum(
            d.loc[d["case_type"] == "enforcement"], "amount", a, 24, date_col=R.DATE
        ),
    ),
    _I(
        "CT_MONTHS_SINCE_CASE",
        "距最近涉诉月数",
        "months since the latest case",
        "courts",
        "risk_resilience",
        "int",
        "months",
        "whole months from the latest civil or "
        "enforcement case to the observation date (empty: never)",
        "all history",
        "daily",
        "L2",
        lambda d, a: R.months_since(d, a, where=lambda x: x["case_type"] != "registered"),
        None,
    ),
    # ---- market regulation: events ---------------------------------------------------
    _I(
        "MR_COMPANY_AGE_YEARS",
        "成立年限",
        "company age",
        "market_regulation",
        "risk_resilience",
        "float",
        "years",
        "years from establishment to the observation date",
        "all history",
        "daily",
        "L1",
        lambda d, a: R.years_since(d, a, where=_col("event", "established")),
        None,
    ),
    _I(
        "MR_PENALTIES_36M",
        "近36月行政处罚次数",
        "administrative penalties, 36 months",
        "market_regulation",
        "risk_resilience",
        "int",
        "count",
        "administrative penalties decided",
        "36 months",
        "daily",
        "L1",
        lambda d, a: R.window_count(d, a, 36, where=_col("event", "penalty"), date_col=R.DATE),
    ),
    _I(
        "MR_PENALTY_AMOUNT_36M",
        "近36月罚没金额",
        "penalty amount, 36 months",
        "market_regulation",
        "risk_resilience",
        "float",
        "yuan",
        "sum of the fines of those penalties",
        "36 months",
        "daily",
        "L1",
        lambda d, a: R.window_sum(d.loc[d["event"] == "penalty"], "amount", a, 36, date_col=R.DATE),
    ),
    _I(
        "MR_ABNORMAL_LISTED",
        "经营异常名录在列",
        "on the abnormal-operation list",
        "market_regulation",
        "risk_resilience",
        "flag",
        "0/1",
        "1 when the latest listing or removal on or before the observation date is a listing",
        "latest",
        "daily",
        "L1",
        lambda d, a: R.latest_state(d, a, "event", "abnormal_listed", "abnormal_removed"),
    ),
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


__all__ = [
    "DIMENSIONS",
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
