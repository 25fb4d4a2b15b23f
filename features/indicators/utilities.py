"""The utilities' indicators over monthly electricity and water bills (用电、用水, payment
of the bills).

A bill's payment date may lie after the observation date; it is only read through
comparisons already decided on that date (was the bill unpaid at its due date, is it
unpaid on the observation date). Each indicator is computed at the utility from its own
records; nothing leaves the party here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features import records as R
from features.indicators.spec import For, Indicator

_I = For("utilities")


def late_bill(as_of: str) -> Callable[[pd.DataFrame], pd.Series]:
    """A bill is late on ``as_of`` when it fell due by then and was not paid by its due
    date (a payment after ``as_of`` only tells what was already true: unpaid at due)."""
    a = R.as_of_ts(as_of)

    def pred(d: pd.DataFrame) -> pd.Series:
        due = pd.to_datetime(d["due_on"], errors="coerce")
        paid = pd.to_datetime(d["paid_on"], errors="coerce")
        return (due <= a) & (paid.isna() | (paid > due))

    return pred


def _unpaid_on(d: pd.DataFrame, a: pd.Timestamp) -> pd.Series:
    """Bills due by ``a`` and not paid on ``a`` (paid later or never)."""
    due = pd.to_datetime(d["due_on"], errors="coerce")
    paid = pd.to_datetime(d["paid_on"], errors="coerce")
    return (due <= a) & (paid.isna() | (paid > a))


def _unpaid_amount(d: pd.DataFrame, a: str) -> pd.Series:
    k = R.known_by(d, a)
    owed = k["amount"].where(_unpaid_on(k, R.as_of_ts(a)), 0.0)
    return owed.groupby(k[R.ID], sort=True).sum().astype(np.float64)


def _delay_days(d: pd.DataFrame, a: str) -> pd.Series:
    ts = R.as_of_ts(a)
    w = R.in_window(d, a, 12)
    due = pd.to_datetime(w["due_on"], errors="coerce")
    paid = pd.to_datetime(w["paid_on"], errors="coerce")
    settled = paid.where(paid <= ts, ts)  # unpaid on as_of: late until as_of
    days = (settled - due).dt.days.clip(lower=0).where(due <= ts)
    return days.groupby(w[R.ID], sort=True).mean().astype(np.float64)


def _low_load(d: pd.DataFrame, a: str) -> pd.Series:
    w = R.in_window(d, a, 12)
    mean = w.groupby(R.ID, sort=True)["electricity_kwh"].transform("mean")
    low = w["electricity_kwh"] < 0.5 * mean
    return low.groupby(w[R.ID], sort=True).sum().astype(np.float64)


_E = ("period", "electricity_kwh")
_PAY = ("period", "due_on", "paid_on")
UTILITIES: tuple[Indicator, ...] = (
    _I(
        "UT_ELEC_KWH_12M",
        "近12月用电量",
        "electricity used, 12 months",
        "energy",
        "float",
        "千瓦时 kWh",
        "12 months",
        "L2",
        "近12个月计费用电量之和",
        "sum of billed electricity",
        _E,
        "window",
        lambda d, a: R.window_sum(d, "electricity_kwh", a, 12),
    ),
    _I(
        "UT_ELEC_GROWTH_YOY",
        "用电量同比增长",
        "electricity growth, year on year",
        "growth",
        "ratio",
        "比值 ratio",
        "2 x 12 months",
        "L2",
        "近12个月用电量 ÷ 此前12个月用电量 − 1",
        "electricity of the last 12 months / of the 12 months before − 1",
        _E,
        "window",
        lambda d, a: R.window_growth(d, "electricity_kwh", a, 12),
        None,
    ),
    _I(
        "UT_ELEC_GROWTH_6M",
        "近6月用电环比增长",
        "electricity growth, 6 months on 6 months",
        "growth",
        "ratio",
        "比值 ratio",
        "2 x 6 months",
        "L2",
        "近6个月用电量 ÷ 此前6个月用电量 − 1",
        "electricity of the last 6 months / of the 6 months before − 1",
        _E,
        "window",
        lambda d, a: R.window_growth(d, "electricity_kwh", a, 6),
        None,
    ),
    _I(
        "UT_ELEC_CV_12M",
        "用电量波动系数",
        "electricity volatility, 12 months",
        "stability",
        "ratio",
        "比值 ratio",
        "12 months",
        "L2",
        "近12个月月用电量的总体标准差 ÷ 均值",
        "population standard deviation / mean of the monthly electricity",
        _E,
        "window",
        lambda d, a: R.window_cv(d, "electricity_kwh", a, 12),
        None,
    ),
    _I(
        "UT_LOW_LOAD_MONTHS_12M",
        "近12月低负荷用电月数",
        "months of low electricity load, 12 months",
        "stability",
        "int",
        "月 months",
        "12 months",
        "L2",
        "近12个月月用电量低于该窗口月均用电量50%的月数（停产、半停产迹象）",
        "months whose electricity is below half of the window's monthly mean (signs of a stoppage)",
        _E,
        "window",
        _low_load,
    ),
    _I(
        "UT_WATER_TONS_12M",
        "近12月用水量",
        "water used, 12 months",
        "energy",
        "float",
        "吨 tons",
        "12 months",
        "L2",
        "近12个月计费用水量之和",
        "sum of billed water",
        ("period", "water_tons"),
        "window",
        lambda d, a: R.window_sum(d, "water_tons", a, 12),
    ),
    _I(
        "UT_BILL_AMOUNT_12M",
        "近12月水电费金额",
        "utility bills, 12 months",
        "cash_flow",
        "float",
        "元 yuan",
        "12 months",
        "L2",
        "近12个月水电账单金额之和",
        "sum of the billed amounts",
        ("period", "amount"),
        "window",
        lambda d, a: R.window_sum(d, "amount", a, 12),
    ),
    _I(
        "UT_LATE_MONTHS_12M",
        "近12月水电费逾期月数",
        "months with a late utility bill, 12 months",
        "payment",
        "int",
        "月 months",
        "12 months",
        "L3",
        "近12个月账单中，观察日前已到期且未在到期日前缴清的月数",
        "bills of the window due by the observation date and not paid by their due date",
        _PAY,
        "due",
        lambda d, a: R.window_count(d, a, 12, where=late_bill(a)),
    ),
    _I(
        "UT_LATE_MONTHS_24M",
        "近24月水电费逾期月数",
        "months with a late utility bill, 24 months",
        "payment",
        "int",
        "月 months",
        "24 months",
        "L3",
        "近24个月账单中，观察日前已到期且未在到期日前缴清的月数",
        "bills of 24 months due by the observation date and not paid by their due date",
        _PAY,
        "due",
        lambda d, a: R.window_count(d, a, 24, where=late_bill(a)),
    ),
    _I(
        "UT_UNPAID_AMOUNT",
        "当前欠缴水电费金额",
        "utility bills unpaid on the observation date",
        "payment",
        "float",
        "元 yuan",
        "all history",
        "L3",
        "观察日前已到期、观察日时仍未缴纳的账单金额之和",
        "sum of the bills due by the observation date and still unpaid on it",
        (*_PAY, "amount"),
        "due",
        _unpaid_amount,
    ),
    _I(
        "UT_PAY_DELAY_DAYS_12M",
        "近12月平均缴费延迟天数",
        "average payment delay, 12 months",
        "payment",
        "float",
        "天 days",
        "12 months",
        "L3",
        "近12个月已到期账单的延迟天数均值：缴费日（观察日时未缴则取观察日）− 到期日，不低于0",
        "mean over the window's bills due by the observation date of (payment date, or the "
        "observation date when unpaid on it, − due date), at least 0",
        _PAY,
        "due",
        _delay_days,
        None,
    ),
)

__all__ = ["UTILITIES", "late_bill"]
