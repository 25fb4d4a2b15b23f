"""Synthetic multi-party enterprise credit data, keyed by USCC.

One call draws a population of enterprises with a latent creditworthiness and writes what
each party would hold about them: the bank (guest: account flows, loans, credit lines and
the label ``default_12m``), five agencies (hosts: tax, social insurance, courts, utilities,
market regulation) and the enterprise-authorization table.

Latent model (documented in docs/data_dictionary.md)::

    c ~ N(0, 1)                               common factor
    F = 0.5 c + sqrt(0.75) e_F                financial health   (财务健康度)
    O = 0.5 c + sqrt(0.75) e_O                operating activity (运营活跃度)
    R = 0.5 c + sqrt(0.75) e_R                risk resilience    (风险抗逆力)
    s ~ N(0, 1)                               enterprise size (log scale)
    logit P(default_12m) = b0 - 0.9 F - 1.0 O - 1.2 R + industry_risk - 0.3 log(age / 5)

The bank's columns carry mostly F (noisily) and a little R; O and most of R are visible
only at the agencies, so a joint model beats a bank-only model by a clear margin.

Each party's row set differs: agencies cover 75-96 % of enterprises, each bank holds only
its customers. Same seed -> byte-identical files (one numpy Generator per concern, fixed
rounding, sorted rows, ``\\n`` line ends).

``dirty=True`` adds, deterministically and on top of the clean data: missing cells, a unit
mix-up (skew), outliers, duplicate rows and malformed IDs (see :data:`DIRT`).

Nothing leaves any party here: this module only writes local files, one per party.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from crypto.errors import ConfigError
from features.uscc import REGIONS, generate_usccs, region_of

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

DIRT = {
    "missing_rate": 0.03,
    "grade_extra_missing_rate": 0.05,
    "unit_mixup_rate": 0.01,
    "outlier_rate": 0.002,
    "negative_reading_rate": 0.001,
    "duplicate_rate": 0.002,
    "conflicting_duplicate_rate": 0.001,
    "malformed_id_rate": 0.001,
}
"""What ``dirty=True`` adds to each party table (rates are shares of its rows; each kind of
duplicate and malformed ID appears at least once in a table of 50+ rows):

- ``missing_rate`` of every feature cell becomes empty; ``tax_credit_grade`` loses another
  ``grade_extra_missing_rate``;
- skew: ``unit_mixup_rate`` of ``registered_capital`` is reported in yuan instead of 10k yuan
  and of ``taxes_paid_12m`` in fen (x100);
- outliers: ``outlier_rate`` of each money column multiplied by 1000; ``negative_reading_rate``
  of ``electricity_kwh_12m`` negative (meter reset);
- ``duplicate_rate`` of rows repeated exactly, ``conflicting_duplicate_rate`` repeated with
  other values;
- ``malformed_id_rate`` of IDs broken, cycling through: lower case, trailing space, wrong
  check character, 15-digit old registration number (工商注册号).
The label column is never dirtied.
"""

_MONEY = {
    "acct_avg_monthly_inflow",
    "acct_avg_monthly_outflow",
    "acct_avg_balance",
    "credit_line_total",
    "taxes_paid_12m",
    "vat_invoice_amount_12m",
    "tax_arrears_amount",
    "enforcement_amount",
    "registered_capital",
}


def party_columns(party: str) -> tuple[Column, ...]:
    """The documented columns of a synthetic party (any bank name gives the bank's)."""
    if party in PARTY_COLUMNS:
        return PARTY_COLUMNS[party]
    if party == "authorizations":
        return AUTHORIZATION_COLUMNS
    return BANK_COLUMNS


# ---------------------------------------------------------------------------------------
# population and latent model


@dataclass(frozen=True)
class Population:
    """The hidden truth behind the parties' tables (never written to any party file)."""

    uscc: np.ndarray
    size: np.ndarray
    age_years: np.ndarray
    industry: np.ndarray
    region: np.ndarray
    financial: np.ndarray
    operating: np.ndarray
    resilience: np.ndarray
    default_prob: np.ndarray
    default: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def draw_population(n: int, seed: int) -> Population:
    """Draw ``n`` enterprises and their latent creditworthiness (deterministic in ``seed``)."""
    rng = np.random.default_rng([seed, 0])
    uscc = generate_usccs(n, rng)
    region = pd.Series(region_of(uscc)).map(REGIONS).to_numpy(dtype=object)
    codes = np.array(list(INDUSTRIES))
    shares = np.array([v[2] for v in INDUSTRIES.values()])
    industry = codes[rng.choice(len(codes), size=n, p=shares / shares.sum())]
    size = rng.standard_normal(n)
    age_years = np.clip(rng.lognormal(np.log(6.0), 0.8, n), 0.1, 45.0)
    common = rng.standard_normal(n)
    k = np.sqrt(0.75)
    financial = 0.5 * common + k * rng.standard_normal(n)
    operating = 0.5 * common + k * rng.standard_normal(n)
    resilience = 0.5 * common + k * rng.standard_normal(n)
    risk_shift = pd.Series(industry).map({c: v[3] for c, v in INDUSTRIES.items()}).to_numpy(float)
    logit = (
        B0
        - 0.9 * financial
        - 1.0 * operating
        - 1.2 * resilience
        + risk_shift
        - 0.3 * np.log(age_years / 5.0)
    )
    p = _sigmoid(logit)
    default = (rng.random(n) < p).astype(np.int8)
    return Population(
        uscc, size, age_years, industry, region, financial, operating, resilience, p, default
    )


def _days_before(as_of: np.datetime64, days: np.ndarray) -> np.ndarray:
    return (as_of - np.round(days).astype("timedelta64[D]")).astype(str)


def _money(x: np.ndarray) -> np.ndarray:
    return np.round(x, 2)


# ---------------------------------------------------------------------------------------
# party tables


def _bank_table(pop: Population, idx: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    n = idx.shape[0]
    s, f, o, r = pop.size[idx], pop.financial[idx], pop.operating[idx], pop.resilience[idx]
    age = pop.age_years[idx]
    e = lambda sd: sd * rng.standard_normal(n)  # noqa: E731
    inflow = np.exp(11.0 + 1.0 * s + 0.25 * f + 0.1 * o + e(0.5))
    outflow = inflow * np.exp(0.02 - 0.08 * f + e(0.08))
    balance = inflow * np.exp(-0.6 + 0.35 * f + e(0.7))
    volatility = np.exp(-1.0 - 0.2 * f - 0.1 * o + e(0.35))
    tenure_years = rng.uniform(0.1, 1.0, n) * np.minimum(age, 15.0)
    months = np.round(tenure_years * 12 * rng.uniform(0.7, 1.0, n))
    months_active = np.minimum(24, months).astype(int)
    loans = rng.poisson(np.exp(0.2 + 0.4 * s) * np.minimum(tenure_years, 5.0) / 3.0)
    overdue = rng.poisson(np.exp(-1.6 - 0.4 * r - 0.3 * f)) * (loans > 0)
    max_days = np.where(overdue > 0, np.round(30 + np.exp(3.0 - 0.3 * r + e(0.6))), 0).astype(int)
    has_line = rng.random(n) < 0.75
    line = np.where(has_line, np.round(np.exp(13.0 + 0.8 * s + 0.1 * f + e(0.5)), -4), 0.0)
    util = np.where(has_line, _sigmoid(-0.3 - 0.4 * f + e(0.9)), 0.0)
    df = pd.DataFrame(
        {
            ID: pop.uscc[idx],
            "acct_avg_monthly_inflow": _money(inflow),
            "acct_avg_monthly_outflow": _money(outflow),
            "acct_avg_balance": _money(balance),
            "acct_inflow_volatility": np.round(volatility, 4),
            "acct_months_active": months_active,
            "customer_since": _days_before(AS_OF, tenure_years * 365.25),
            "loan_count_5y": loans,
            "loan_overdue_count_24m": overdue,
            "loan_max_overdue_days": max_days,
            "credit_line_total": line,
            "credit_line_utilization": np.round(util, 4),
            LABEL: pop.default[idx],
        }
    )
    return df


def _tax_table(pop: Population, idx: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    n = idx.shape[0]
    s, f, o, r = pop.size[idx], pop.financial[idx], pop.operating[idx], pop.resilience[idx]
    age = pop.age_years[idx]
    e = lambda sd: sd * rng.standard_normal(n)  # noqa: E731
    score = 0.7 * f + 0.5 * r + 0.2 * o + 0.3 * np.log(age / 5.0) + e(0.6)
    grade = np.select([score > 0.7, score > -0.5, score > -1.3], ["A", "B", "C"], "D")
    grade = grade.astype(object)
    grade[age < 1.0] = "M"
    arrears = rng.random(n) < _sigmoid(-2.6 - 0.8 * f - 0.4 * r)
    return pd.DataFrame(
        {
            ID: pop.uscc[idx],
            "taxes_paid_12m": _money(np.exp(10.5 + 1.0 * s + 0.35 * f + 0.3 * o + e(0.5))),
            "tax_credit_grade": grade,
            "vat_invoice_count_12m": rng.poisson(np.exp(3.0 + 0.8 * s + 0.5 * o)),
            "vat_invoice_amount_12m": _money(np.exp(12.5 + 1.0 * s + 0.5 * o + 0.1 * f + e(0.4))),
            "vat_invoice_growth_yoy": np.round(0.05 + 0.15 * o + 0.05 * f + e(0.12), 4),
            "tax_arrears_amount": np.where(arrears, _money(np.exp(9.0 + s + e(0.8))), 0.0),
        }
    )


def _social_table(pop: Population, idx: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    n = idx.shape[0]
    s, f, o, r = pop.size[idx], pop.financial[idx], pop.operating[idx], pop.resilience[idx]
    age = pop.age_years[idx]
    e = lambda sd: sd * rng.standard_normal(n)  # noqa: E731
    employees = np.maximum(1, np.round(np.exp(2.2 + 0.9 * s + 0.1 * o + e(0.3)))).astype(int)
    possible = np.minimum(36, np.ceil(age * 12)).astype(int)
    paid = rng.binomial(possible, _sigmoid(2.8 + 0.6 * f + 0.6 * r))
    return pd.DataFrame(
        {
            ID: pop.uscc[idx],
            "insured_employees": employees,
            "insured_employees_change_6m": np.round(0.02 + 0.10 * o + 0.02 * f + e(0.06), 4),
            "contribution_months_36m": paid,
            "contribution_arrears_months_12m": rng.binomial(12, _sigmoid(-3.2 - 0.7 * f - 0.6 * o)),
        }
    )


def _courts_table(pop: Population, idx: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    n = idx.shape[0]
    s, f, r = pop.size[idx], pop.financial[idx], pop.resilience[idx]
    e = lambda sd: sd * rng.standard_normal(n)  # noqa: E731
    cases = rng.poisson(np.exp(-2.0 - 0.9 * r - 0.4 * f))
    return pd.DataFrame(
        {
            ID: pop.uscc[idx],
            "lawsuits_defendant_24m": rng.poisson(np.exp(-1.0 + 0.3 * s - 0.7 * r)),
            "enforcement_cases_24m": cases,
            "enforcement_amount": np.where(
                cases > 0, _money(cases * np.exp(11.0 + 0.5 * s + e(1.0))), 0.0
            ),
            "dishonest_debtor": (
                rng.random(n) < _sigmoid(-4.6 - 1.2 * r - 0.6 * f + 0.8 * cases)
            ).astype(np.int8),
        }
    )


_POWER_INTENSITY = {
    "C": 1.2,
    "A": 0.5,
    "E": 0.3,
    "G": 0.4,
    "H": 0.6,
    "I": -0.2,
    "K": -0.3,
    "F": 0.0,
    "L": -0.3,
    "M": 0.0,
}


def _utilities_table(pop: Population, idx: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    n = idx.shape[0]
    s, f, o, r = pop.size[idx], pop.financial[idx], pop.operating[idx], pop.resilience[idx]
    e = lambda sd: sd * rng.standard_normal(n)  # noqa: E731
    intensity = pd.Series(pop.industry[idx]).map(_POWER_INTENSITY).to_numpy(float)
    return pd.DataFrame(
        {
            ID: pop.uscc[idx],
            "electricity_kwh_12m": np.round(
                np.exp(9.5 + 0.9 * s + 0.4 * o + intensity + e(0.5)), 1
            ),
            "electricity_growth_yoy": np.round(0.03 + 0.15 * o + e(0.12), 4),
            "water_tons_12m": np.round(np.exp(6.0 + 0.8 * s + 0.3 * o + e(0.6)), 1),
            "utility_late_payments_12m": rng.binomial(12, _sigmoid(-2.4 - 0.6 * f - 0.4 * r)),
        }
    )


def _market_table(pop: Population, idx: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    n = idx.shape[0]
    s, o, r = pop.size[idx], pop.operating[idx], pop.resilience[idx]
    age = pop.age_years[idx]
    e = lambda sd: sd * rng.standard_normal(n)  # noqa: E731
    return pd.DataFrame(
        {
            ID: pop.uscc[idx],
            "registered_capital": np.maximum(1.0, np.round(np.exp(5.0 + 0.8 * s + e(0.9)))),
            "established_on": _days_before(AS_OF, age * 365.25),
            "company_age_years": np.round(age, 2),
            "industry": pop.industry[idx],
            "region": pop.region[idx],
            "admin_penalties_36m": rng.poisson(np.exp(-2.0 + 0.2 * s - 0.6 * r)),
            "abnormal_operation": (rng.random(n) < _sigmoid(-3.6 - 0.9 * r - 0.6 * o)).astype(
                np.int8
            ),
        }
    )


_AGENCY_BUILDERS = {
    "tax": _tax_table,
    "social_insurance": _social_table,
    "courts": _courts_table,
    "utilities": _utilities_table,
    "market_regulation": _market_table,
}


def _bank_customers(
    pop: Population, bank_no: int, n_banks: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of a bank's customers: larger firms more often; with several banks each one
    leans toward its own regions (non-IID across banks)."""
    logit = 0.1 + 0.5 * pop.size
    if n_banks > 1:
        region_no = pd.Series(pop.region).map({r: i for i, r in enumerate(REGIONS.values())})
        home = (region_no.to_numpy(int) % n_banks) == bank_no
        logit = logit + np.where(home, 1.0, -1.0)
    return np.flatnonzero(rng.random(pop.uscc.shape[0]) < _sigmoid(logit))


def _authorizations(
    pop: Population, bank: str, customers: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """~85 % of customers hold a valid authorization for ``bank``, ~7 % an expired one, ~8 %
    none; ~3 % of non-customers (loan applicants) authorized it too."""
    n_all = pop.uscc.shape[0]
    others = np.setdiff1d(np.arange(n_all), customers, assume_unique=True)
    applicants = others[rng.random(others.shape[0]) < 0.03]
    u = rng.random(customers.shape[0])
    valid = customers[u < 0.85]
    expired = customers[(u >= 0.85) & (u < 0.92)]
    valid = np.concatenate([valid, applicants])
    granted_valid = rng.uniform(1, 700, valid.shape[0])
    term_days = rng.choice([365, 730, 1095], size=valid.shape[0]) + 0.0
    term_days = np.maximum(term_days, granted_valid + rng.uniform(1, 365, valid.shape[0]))
    granted_expired = rng.uniform(400, 1500, expired.shape[0])
    expired_ago = rng.uniform(1, 365, expired.shape[0])
    idx = np.concatenate([valid, expired])
    granted = np.concatenate([granted_valid, granted_expired])
    expires = np.concatenate([granted_valid - term_days, expired_ago])  # days before AS_OF
    expires = np.minimum(expires, granted - 1)
    return pd.DataFrame(
        {
            ID: pop.uscc[idx],
            "bank": bank,
            "granted_on": _days_before(AS_OF, granted),
            "expires_on": _days_before(AS_OF, expires),
        }
    )


# ---------------------------------------------------------------------------------------
# dirt


def _at_least(rate: float, n: int) -> int:
    return int(max(1, round(rate * n))) if n >= 50 else int(round(rate * n))


def _break_id(code: str, kind: int, rng: np.random.Generator) -> str:
    if kind == 0:
        return code.lower()
    if kind == 1:
        return code + " "
    if kind == 2:
        wrong = "0123456789ABCDEFGHJKLMNPQRTUWXY".replace(code[17], "")
        return code[:17] + wrong[int(rng.integers(len(wrong)))]
    return code[2:8] + "".join(str(int(d)) for d in rng.integers(0, 10, 9))  # 15-digit old reg. no.


def dirty_table(df: pd.DataFrame, name: str, rng: np.random.Generator) -> pd.DataFrame:
    """Apply :data:`DIRT` to one party table (deterministic given ``rng``)."""
    out = df.copy()
    n = len(out)
    features = [c for c in out.columns if c not in (ID, LABEL)]
    for col in features:
        if col in _MONEY and n:
            k = _at_least(DIRT["outlier_rate"], n)
            rows = rng.choice(n, size=k, replace=False)
            out.loc[rows, col] = out[col].to_numpy()[rows] * 1000
    if "registered_capital" in out and n:
        rows = rng.choice(n, size=_at_least(DIRT["unit_mixup_rate"], n), replace=False)
        out.loc[rows, "registered_capital"] = out["registered_capital"].to_numpy()[rows] * 10_000
    if "taxes_paid_12m" in out and n:
        rows = rng.choice(n, size=_at_least(DIRT["unit_mixup_rate"], n), replace=False)
        out.loc[rows, "taxes_paid_12m"] = out["taxes_paid_12m"].to_numpy()[rows] * 100
    if "electricity_kwh_12m" in out and n:
        rows = rng.choice(n, size=_at_least(DIRT["negative_reading_rate"], n), replace=False)
        out.loc[rows, "electricity_kwh_12m"] = -out["electricity_kwh_12m"].to_numpy()[rows]
    for col in features:
        mask = rng.random(n) < DIRT["missing_rate"]
        if col == "tax_credit_grade":
            mask |= rng.random(n) < DIRT["grade_extra_missing_rate"]
        if pd.api.types.is_integer_dtype(out[col]):
            out[col] = out[col].astype("Int64")
        out.loc[mask, col] = pd.NA if out[col].dtype == "Int64" else np.nan
    # duplicates: exact and conflicting
    dup_rows = rng.choice(n, size=_at_least(DIRT["duplicate_rate"], n), replace=False)
    conflict_rows = rng.choice(
        n, size=_at_least(DIRT["conflicting_duplicate_rate"], n), replace=False
    )
    conflicts = out.iloc[conflict_rows].copy()
    num = [c for c in features if pd.api.types.is_numeric_dtype(conflicts[c])]
    if num:
        conflicts[num[0]] = conflicts[num[0]] * 2 + 1
    out = pd.concat([out, out.iloc[dup_rows], conflicts], ignore_index=True)
    # malformed IDs on rows that are not duplicated
    ids = out[ID].to_numpy(dtype=object).copy()
    k = max(_at_least(DIRT["malformed_id_rate"], n), 4 if n >= 50 else 0)
    pool = np.setdiff1d(np.arange(n), np.concatenate([dup_rows, conflict_rows]))
    for j, row in enumerate(rng.choice(pool, size=min(k, pool.shape[0]), replace=False)):
        ids[row] = _break_id(ids[row], j % 4, rng)
    out[ID] = ids
    return out.sort_values(ID, kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------
# public API

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def generate(
    n_enterprises: int,
    seed: int,
    *,
    dirty: bool = False,
    banks: Iterable[str] = ("bank",),
) -> dict[str, pd.DataFrame]:
    """All parties' tables for ``n_enterprises`` enterprises (deterministic in ``seed``).

    Keys: each bank's name (guest tables with the label ``default_12m``), the agencies in
    :data:`AGENCIES`, and ``authorizations`` (all banks in one table, column ``bank``).
    """
    banks = tuple(banks)
    if n_enterprises < 1:
        raise ConfigError(f"--enterprises must be at least 1, got {n_enterprises}")
    if not banks:
        raise ConfigError("at least one bank is needed")
    for b in banks:
        if not _NAME.match(b) or b in AGENCIES or b == "authorizations":
            raise ConfigError(
                f"bank name {b!r} must be lower snake_case and differ from the "
                f"agency names {AGENCIES} and 'authorizations'"
            )
    if len(set(banks)) != len(banks):
        raise ConfigError(f"bank names must be unique: {banks}")
    pop = draw_population(n_enterprises, seed)
    tables: dict[str, pd.DataFrame] = {}
    auths = []
    for i, bank in enumerate(banks):
        rng = np.random.default_rng([seed, 1, i])
        customers = _bank_customers(pop, i, len(banks), rng)
        tables[bank] = _bank_table(pop, customers, rng)
        auths.append(_authorizations(pop, bank, customers, rng))
    for j, name in enumerate(AGENCIES):
        rng = np.random.default_rng([seed, 2, j])
        covered = np.flatnonzero(rng.random(n_enterprises) < COVERAGE[name])
        tables[name] = _AGENCY_BUILDERS[name](pop, covered, rng)
    tables["authorizations"] = pd.concat(auths, ignore_index=True)
    for name, df in tables.items():
        tables[name] = df.sort_values(
            [ID] + (["bank"] if name == "authorizations" else []), kind="stable"
        ).reset_index(drop=True)
    if dirty:
        for j, name in enumerate([*banks, *AGENCIES]):
            tables[name] = dirty_table(tables[name], name, np.random.default_rng([seed, 3, j]))
    return tables


def write(out_dir: str | Path, tables: Mapping[str, pd.DataFrame]) -> dict[str, Path]:
    """Write each table to ``out_dir/<name>.csv`` (UTF-8, ``\\n``); returns the paths.

    Each file is written to a temporary name first and renamed, so a failure leaves no
    half-written party file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, df in tables.items():
        path = out / f"{name}.csv"
        tmp = out / f".{name}.csv.tmp"
        df.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
        os.replace(tmp, path)
        paths[name] = path
    return paths


__all__ = [
    "AGENCIES",
    "AS_OF",
    "AUTHORIZATION_COLUMNS",
    "BANK_COLUMNS",
    "COVERAGE",
    "Column",
    "DIRT",
    "ID",
    "INDUSTRIES",
    "LABEL",
    "PARTY_COLUMNS",
    "Population",
    "dirty_table",
    "draw_population",
    "generate",
    "party_columns",
    "write",
]
