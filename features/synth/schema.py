"""The synthetic parties' schema: observation date, agencies, industries, columns.

What each party's synthetic table holds, column by column, as docs/data_dictionary.md
lists it; :func:`party_columns` answers for any party name. Constants only: nothing is
revealed to anyone here (the schema is public documentation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

AS_OF = np.datetime64("2024-06-30", "D")
"""Observation date of the synthetic data: all windows end here."""

AGENCIES = ("tax", "social_insurance", "courts", "utilities", "market_regulation")
COVERAGE = {
    "tax": 0.93,
    "social_insurance": 0.88,
    "courts": 0.80,
    "utilities": 0.75,
    "market_regulation": 0.96,
}
"""Share of enterprises each agency holds a record for."""

INDUSTRIES: dict[str, tuple[str, str, float, float]] = {
    # GB/T 4754 section: (English, 中文, population share, default risk shift)
    "A": ("agriculture", "农林牧渔业", 0.03, 0.25),
    "C": ("manufacturing", "制造业", 0.25, 0.0),
    "E": ("construction", "建筑业", 0.08, 0.35),
    "F": ("wholesale and retail", "批发和零售业", 0.24, 0.1),
    "G": ("transport and storage", "交通运输、仓储和邮政业", 0.06, 0.1),
    "H": ("accommodation and catering", "住宿和餐饮业", 0.06, 0.3),
    "I": ("information technology", "信息传输、软件和信息技术服务业", 0.10, -0.15),
    "K": ("real estate", "房地产业", 0.03, 0.5),
    "L": ("leasing and business services", "租赁和商务服务业", 0.10, 0.0),
    "M": ("scientific research", "科学研究和技术服务业", 0.05, -0.25),
}

LABEL = "default_12m"
ID = "uscc"
B0 = -3.3
"""Intercept of the default model: gives a default rate of about 10 %."""

ColumnKind = Literal["id", "label", "int", "float", "category", "date"]


@dataclass(frozen=True)
class Column:
    """One column of a synthetic party table, as the data dictionary lists it."""

    name: str
    zh: str
    kind: ColumnKind
    unit: str
    meaning: str


_ID_COL = Column(ID, "统一社会信用代码", "id", "-", "enterprise ID, 18 characters, GB 32100-2015")

BANK_COLUMNS: tuple[Column, ...] = (
    _ID_COL,
    Column(
        "acct_avg_monthly_inflow",
        "账户月均流入",
        "float",
        "yuan",
        "average monthly credits to the enterprise's settlement accounts, last 12 months",
    ),
    Column(
        "acct_avg_monthly_outflow",
        "账户月均流出",
        "float",
        "yuan",
        "average monthly debits from the settlement accounts, last 12 months",
    ),
    Column(
        "acct_avg_balance",
        "账户日均余额",
        "float",
        "yuan",
        "average daily balance of the settlement accounts, last 12 months",
    ),
    Column(
        "acct_inflow_volatility",
        "流入波动系数",
        "float",
        "ratio",
        "coefficient of variation of monthly inflows, last 12 months",
    ),
    Column(
        "acct_months_active",
        "活跃月数",
        "int",
        "months",
        "months with at least one transaction, last 24 months",
    ),
    Column(
        "customer_since", "开户日期", "date", "ISO date", "date the enterprise became a customer"
    ),
    Column(
        "loan_count_5y", "近5年贷款笔数", "int", "count", "loans granted by this bank, last 5 years"
    ),
    Column(
        "loan_overdue_count_24m",
        "近24月逾期次数",
        "int",
        "count",
        "repayments more than 30 days late, last 24 months",
    ),
    Column(
        "loan_max_overdue_days",
        "最长逾期天数",
        "int",
        "days",
        "longest overdue spell, last 24 months (0 = never overdue)",
    ),
    Column("credit_line_total", "授信总额", "float", "yuan", "existing credit lines at this bank"),
    Column(
        "credit_line_utilization",
        "授信使用率",
        "float",
        "ratio",
        "drawn amount / credit line (0 when there is no line)",
    ),
    Column(
        LABEL,
        "12个月内违约",
        "label",
        "0/1",
        "1 when the enterprise defaulted (90+ days past due) within 12 months after the "
        "observation date",
    ),
)

PARTY_COLUMNS: dict[str, tuple[Column, ...]] = {
    "tax": (
        _ID_COL,
        Column(
            "taxes_paid_12m", "近12月纳税总额", "float", "yuan", "all taxes paid, last 12 months"
        ),
        Column(
            "tax_credit_grade",
            "纳税信用等级",
            "category",
            "A/B/M/C/D",
            "tax credit rating: A best, B, M (new or small enterprise), C, D worst",
        ),
        Column(
            "vat_invoice_count_12m",
            "近12月增值税发票张数",
            "int",
            "count",
            "VAT invoices issued, last 12 months",
        ),
        Column(
            "vat_invoice_amount_12m",
            "近12月开票金额",
            "float",
            "yuan",
            "amount of VAT invoices issued, last 12 months",
        ),
        Column(
            "vat_invoice_growth_yoy",
            "开票金额同比增长",
            "float",
            "ratio",
            "invoice amount last 12 months / previous 12 months - 1",
        ),
        Column(
            "tax_arrears_amount",
            "欠税金额",
            "float",
            "yuan",
            "tax owed and overdue at the observation date",
        ),
    ),
    "social_insurance": (
        _ID_COL,
        Column(
            "insured_employees",
            "参保人数",
            "int",
            "persons",
            "employees insured at the observation date",
        ),
        Column(
            "insured_employees_change_6m",
            "参保人数6月变化率",
            "float",
            "ratio",
            "insured employees now / six months ago - 1",
        ),
        Column(
            "contribution_months_36m",
            "近36月缴费月数",
            "int",
            "months",
            "months with contributions paid in full, last 36 months",
        ),
        Column(
            "contribution_arrears_months_12m",
            "近12月欠缴月数",
            "int",
            "months",
            "months with contributions in arrears, last 12 months",
        ),
    ),
    "courts": (
        _ID_COL,
        Column(
            "lawsuits_defendant_24m",
            "近24月被告涉诉数",
            "int",
            "count",
            "civil and commercial cases with the enterprise as defendant, last 24 months",
        ),
        Column(
            "enforcement_cases_24m",
            "近24月被执行案件数",
            "int",
            "count",
            "enforcement cases against the enterprise, last 24 months",
        ),
        Column(
            "enforcement_amount",
            "被执行金额",
            "float",
            "yuan",
            "amount under enforcement in those cases",
        ),
        Column(
            "dishonest_debtor",
            "失信被执行人",
            "int",
            "0/1",
            "1 when listed as a dishonest judgment debtor at the observation date",
        ),
    ),
    "utilities": (
        _ID_COL,
        Column(
            "electricity_kwh_12m",
            "近12月用电量",
            "float",
            "kWh",
            "electricity used, last 12 months",
        ),
        Column(
            "electricity_growth_yoy",
            "用电量同比增长",
            "float",
            "ratio",
            "electricity last 12 months / previous 12 months - 1",
        ),
        Column("water_tons_12m", "近12月用水量", "float", "tons", "water used, last 12 months"),
        Column(
            "utility_late_payments_12m",
            "近12月水电费逾期次数",
            "int",
            "count",
            "months with a late electricity or water bill, last 12 months",
        ),
    ),
    "market_regulation": (
        _ID_COL,
        Column("registered_capital", "注册资本", "float", "10k yuan (万元)", "registered capital"),
        Column("established_on", "成立日期", "date", "ISO date", "date of establishment"),
        Column(
            "company_age_years",
            "成立年限",
            "float",
            "years",
            "years from establishment to the observation date",
        ),
        Column(
            "industry",
            "行业门类",
            "category",
            "GB/T 4754 section",
            "industry section letter (see INDUSTRIES)",
        ),
        Column(
            "region",
            "注册地区",
            "category",
            "city",
            "registration region (matches USCC positions 3-8)",
        ),
        Column(
            "admin_penalties_36m",
            "近36月行政处罚次数",
            "int",
            "count",
            "administrative penalties, last 36 months",
        ),
        Column(
            "abnormal_operation",
            "经营异常名录",
            "int",
            "0/1",
            "1 when on the list of enterprises with abnormal operations",
        ),
    ),
}

AUTHORIZATION_COLUMNS: tuple[Column, ...] = (
    _ID_COL,
    Column(
        "bank",
        "被授权机构",
        "category",
        "-",
        "the bank the enterprise authorized to query its data",
    ),
    Column("granted_on", "授权日期", "date", "ISO date", "date the authorization was signed"),
    Column(
        "expires_on",
        "授权到期日",
        "date",
        "ISO date",
        "last day the authorization is valid (expired when before the observation date)",
    ),
)


def party_columns(party: str) -> tuple[Column, ...]:
    """The documented columns of a synthetic party (any bank name gives the bank's)."""
    if party in PARTY_COLUMNS:
        return PARTY_COLUMNS[party]
    if party == "authorizations":
        return AUTHORIZATION_COLUMNS
    return BANK_COLUMNS


__all__ = [
    "AGENCIES",
    "AS_OF",
    "AUTHORIZATION_COLUMNS",
    "B0",
    "BANK_COLUMNS",
    "COVERAGE",
    "Column",
    "ColumnKind",
    "ID",
    "INDUSTRIES",
    "LABEL",
    "PARTY_COLUMNS",
    "party_columns",
]
