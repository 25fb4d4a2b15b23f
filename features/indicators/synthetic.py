"""The second family of the catalog's 指标库: the pre-aggregated synthetic columns
(合成汇总指标) of ``features.synth``'s enterprise-level tables.

These columns are already aggregated (one value per enterprise as of ``synth.AS_OF``); the
seeded demo experiments train on them, so the lab keeps them registered, clearly marked as
their own family, next to the registry's point-in-time indicators. Here each column gets
its dimension, sub-dimension and a Chinese description (the English one is the column's
``meaning``). Definitions only: nothing is revealed to anyone here.
"""

from __future__ import annotations

from dataclasses import dataclass

from features.indicators.spec import SUB_DIMENSIONS
from features.synth import AGENCIES, BANK_COLUMNS, PARTY_COLUMNS, Column

FAMILY_REGISTRY = "registry"
FAMILY_AGGREGATED = "aggregated"
FAMILIES: dict[str, str] = {
    FAMILY_REGISTRY: "记录指标 (point-in-time indicators from raw records)",
    FAMILY_AGGREGATED: "合成汇总指标 (pre-aggregated columns of a registered dataset)",
}


@dataclass(frozen=True)
class SyntheticColumn:
    """One pre-aggregated synthetic column as an indicator of the second family."""

    owner: str  # "bank" or an agency of features.synth
    column: Column
    sub_dimension: str
    description_zh: str

    @property
    def dimension(self) -> str:
        return SUB_DIMENSIONS[self.sub_dimension].dimension


#: column -> (sub-dimension, Chinese description)
_META: dict[str, tuple[str, str]] = {
    "acct_avg_monthly_inflow": ("scale", "近12个月结算账户月均流入额"),
    "acct_avg_monthly_outflow": ("scale", "近12个月结算账户月均流出额"),
    "acct_avg_balance": ("cash_flow", "近12个月结算账户日均余额"),
    "acct_inflow_volatility": ("stability", "近12个月月流入额的变异系数"),
    "acct_months_active": ("stability", "近24个月内有交易的月数"),
    "loan_count_5y": ("scale", "近5年在本行获得的贷款笔数"),
    "loan_overdue_count_24m": ("payment", "近24个月逾期超过30天的还款次数"),
    "loan_max_overdue_days": ("payment", "近24个月最长逾期天数（0为从未逾期）"),
    "credit_line_total": ("solvency", "在本行的现有授信总额"),
    "credit_line_utilization": ("solvency", "已用额度 ÷ 授信额度（无授信为0）"),
    "taxes_paid_12m": ("tax_contribution", "近12个月缴纳的全部税款"),
    "tax_credit_grade": ("payment", "纳税信用等级：A最好，B，M（新设或小微），C，D最差"),
    "vat_invoice_count_12m": ("scale", "近12个月开具的增值税发票张数"),
    "vat_invoice_amount_12m": ("scale", "近12个月开具的增值税发票金额"),
    "vat_invoice_growth_yoy": ("growth", "近12个月开票金额 ÷ 此前12个月 − 1"),
    "tax_arrears_amount": ("payment", "观察日逾期未缴的税款"),
    "insured_employees": ("workforce", "观察日的参保职工人数"),
    "insured_employees_change_6m": ("workforce", "当前参保人数 ÷ 6个月前 − 1"),
    "contribution_months_36m": ("payment", "近36个月足额缴费的月数"),
    "contribution_arrears_months_12m": ("payment", "近12个月欠缴的月数"),
    "lawsuits_defendant_24m": ("litigation", "近24个月企业为被告的民商事案件数"),
    "enforcement_cases_24m": ("litigation", "近24个月企业为被执行人的案件数"),
    "enforcement_amount": ("litigation", "上述被执行案件的执行标的金额"),
    "dishonest_debtor": ("litigation", "观察日被列为失信被执行人时为1"),
    "electricity_kwh_12m": ("energy", "近12个月用电量"),
    "electricity_growth_yoy": ("growth", "近12个月用电量 ÷ 此前12个月 − 1"),
    "water_tons_12m": ("energy", "近12个月用水量"),
    "utility_late_payments_12m": ("payment", "近12个月水电费逾期的月数"),
    "registered_capital": ("solvency", "注册资本"),
    "company_age_years": ("longevity", "成立日期至观察日的年数"),
    "industry": ("longevity", "国民经济行业门类（GB/T 4754）"),
    "region": ("longevity", "注册地区（与统一社会信用代码第3–8位一致）"),
    "admin_penalties_36m": ("regulatory", "近36个月行政处罚次数"),
    "abnormal_operation": ("regulatory", "列入经营异常名录时为1"),
}


def synthetic_columns() -> list[SyntheticColumn]:
    """Every pre-aggregated synthetic column that is an indicator (not the ID, the label or
    a date), the bank's first."""
    parties = [("bank", BANK_COLUMNS), *((a, PARTY_COLUMNS[a]) for a in AGENCIES)]
    out = []
    for owner, columns in parties:
        for col in columns:
            if col.kind in ("id", "label", "date"):
                continue
            sub, zh = _META[col.name]
            out.append(SyntheticColumn(owner, col, sub, zh))
    return out


__all__ = [
    "FAMILIES",
    "FAMILY_AGGREGATED",
    "FAMILY_REGISTRY",
    "SyntheticColumn",
    "synthetic_columns",
]
