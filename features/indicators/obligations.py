"""Social insurance's and the utilities' indicators: contributions and monthly bills.

Each indicator is computed at its owner from the owner's own monthly records; nothing
leaves the party here.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from features import records as R
from features.indicators.spec import Indicator


def late_bill(as_of: str) -> Callable[[pd.DataFrame], pd.Series]:
    """A bill is late on ``as_of`` when it fell due by then and was not paid by its due
    date (a payment after ``as_of`` only tells what was already true: unpaid at due)."""
    a = R.as_of_ts(as_of)

    def pred(d: pd.DataFrame) -> pd.Series:
        due = pd.to_datetime(d["due_on"], errors="coerce")
        paid = pd.to_datetime(d["paid_on"], errors="coerce")
        return (due <= a) & (paid.isna() | (paid > due))

    return pred


def _paid_months(d: pd.DataFrame, a: str) -> pd.Series:
    return R.window_count(d, a, 36, where=lambda x: x["paid"] >= x["due"])


def _arrears_months(d: pd.DataFrame, a: str) -> pd.Series:
    return R.window_count(d, a, 12, where=lambda x: x["paid"] < x["due"])


_I = Indicator
SOCIAL_INSURANCE: tuple[Indicator, ...] = (
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
)

UTILITIES: tuple[Indicator, ...] = (
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
        lambda d, a: R.window_count(d, a, 12, where=late_bill(a)),
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
)

__all__ = ["SOCIAL_INSURANCE", "UTILITIES", "late_bill"]
