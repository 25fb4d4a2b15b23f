"""Each synthetic party's table, drawn from the hidden population.

The bank's table (its customers, with the label), one table per agency (the enterprises it
covers) and the authorization table, each column a noisy function of the latent factors
(see ``features.synth``). Each party's table holds only what that party would hold; the
latent factors themselves are revealed to no one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.metrics import sigmoid
from features.synth.population import Population, days_before, money
from features.synth.schema import AS_OF, ID, LABEL
from features.uscc import REGIONS


def bank_table(pop: Population, idx: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """The bank's table for its customers ``idx``: account flows, loans, lines, the label."""
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
    util = np.where(has_line, sigmoid(-0.3 - 0.4 * f + e(0.9)), 0.0)
    df = pd.DataFrame(
        {
            ID: pop.uscc[idx],
            "acct_avg_monthly_inflow": money(inflow),
            "acct_avg_monthly_outflow": money(outflow),
            "acct_avg_balance": money(balance),
            "acct_inflow_volatility": np.round(volatility, 4),
            "acct_months_active": months_active,
            "customer_since": days_before(AS_OF, tenure_years * 365.25),
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
    arrears = rng.random(n) < sigmoid(-2.6 - 0.8 * f - 0.4 * r)
    return pd.DataFrame(
        {
            ID: pop.uscc[idx],
            "taxes_paid_12m": money(np.exp(10.5 + 1.0 * s + 0.35 * f + 0.3 * o + e(0.5))),
            "tax_credit_grade": grade,
            "vat_invoice_count_12m": rng.poisson(np.exp(3.0 + 0.8 * s + 0.5 * o)),
            "vat_invoice_amount_12m": money(np.exp(12.5 + 1.0 * s + 0.5 * o + 0.1 * f + e(0.4))),
            "vat_invoice_growth_yoy": np.round(0.05 + 0.15 * o + 0.05 * f + e(0.12), 4),
            "tax_arrears_amount": np.where(arrears, money(np.exp(9.0 + s + e(0.8))), 0.0),
        }
    )


def _social_table(pop: Population, idx: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    n = idx.shape[0]
    s, f, o, r = pop.size[idx], pop.financial[idx], pop.operating[idx], pop.resilience[idx]
    age = pop.age_years[idx]
    e = lambda sd: sd * rng.standard_normal(n)  # noqa: E731
    employees = np.maximum(1, np.round(np.exp(2.2 + 0.9 * s + 0.1 * o + e(0.3)))).astype(int)
    possible = np.minimum(36, np.ceil(age * 12)).astype(int)
    paid = rng.binomial(possible, sigmoid(2.8 + 0.6 * f + 0.6 * r))
    return pd.DataFrame(
        {
            ID: pop.uscc[idx],
            "insured_employees": employees,
            "insured_employees_change_6m": np.round(0.02 + 0.10 * o + 0.02 * f + e(0.06), 4),
            "contribution_months_36m": paid,
            "contribution_arrears_months_12m": rng.binomial(12, sigmoid(-3.2 - 0.7 * f - 0.6 * o)),
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
                cases > 0, money(cases * np.exp(11.0 + 0.5 * s + e(1.0))), 0.0
            ),
            "dishonest_debtor": (
                rng.random(n) < sigmoid(-4.6 - 1.2 * r - 0.6 * f + 0.8 * cases)
            ).astype(np.int8),
        }
    )


POWER_INTENSITY = {
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
    intensity = pd.Series(pop.industry[idx]).map(POWER_INTENSITY).to_numpy(float)
    return pd.DataFrame(
        {
            ID: pop.uscc[idx],
            "electricity_kwh_12m": np.round(
                np.exp(9.5 + 0.9 * s + 0.4 * o + intensity + e(0.5)), 1
            ),
            "electricity_growth_yoy": np.round(0.03 + 0.15 * o + e(0.12), 4),
            "water_tons_12m": np.round(np.exp(6.0 + 0.8 * s + 0.3 * o + e(0.6)), 1),
            "utility_late_payments_12m": rng.binomial(12, sigmoid(-2.4 - 0.6 * f - 0.4 * r)),
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
            "established_on": days_before(AS_OF, age * 365.25),
            "company_age_years": np.round(age, 2),
            "industry": pop.industry[idx],
            "region": pop.region[idx],
            "admin_penalties_36m": rng.poisson(np.exp(-2.0 + 0.2 * s - 0.6 * r)),
            "abnormal_operation": (rng.random(n) < sigmoid(-3.6 - 0.9 * r - 0.6 * o)).astype(
                np.int8
            ),
        }
    )


AGENCY_BUILDERS = {
    "tax": _tax_table,
    "social_insurance": _social_table,
    "courts": _courts_table,
    "utilities": _utilities_table,
    "market_regulation": _market_table,
}


def bank_customers(
    pop: Population, bank_no: int, n_banks: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of a bank's customers: larger firms more often; with several banks each one
    leans toward its own regions (non-IID across banks)."""
    logit = 0.1 + 0.5 * pop.size
    if n_banks > 1:
        region_no = pd.Series(pop.region).map({r: i for i, r in enumerate(REGIONS.values())})
        home = (region_no.to_numpy(int) % n_banks) == bank_no
        logit = logit + np.where(home, 1.0, -1.0)
    return np.flatnonzero(rng.random(pop.uscc.shape[0]) < sigmoid(logit))


def authorizations(
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
            "granted_on": days_before(AS_OF, granted),
            "expires_on": days_before(AS_OF, expires),
        }
    )


__all__ = ["AGENCY_BUILDERS", "POWER_INTENSITY", "authorizations", "bank_customers", "bank_table"]
