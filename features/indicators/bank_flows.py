"""The bank's indicators over its customers' monthly account flows (收支流水, the 流水贷 family:
level, stability, seasonality, buffers).

Each indicator is computed at the bank from its own monthly records; nothing leaves the
party here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import records as R
from features.indicators.spec import For, Indicator

_I = For("bank")


def _net_flow(d: pd.DataFrame, a: str) -> pd.Series:
    w = R.in_window(d, a, 12)
    return (w["inflow"] - w["outflow"]).groupby(w[R.ID], sort=True).sum().astype(np.float64)


def _cashflow_cv(d: pd.DataFrame, a: str) -> pd.Series:
    w = R.in_window(d, a, 12)
    net = (w["inflow"] - w["outflow"]).groupby(w[R.ID], sort=True).std(ddof=0)
    mean_in = w.groupby(R.ID, sort=True)["inflow"].mean()
    return (net / mean_in.where(mean_in > 0)).astype(np.float64)


def _to_mean(d: pd.DataFrame, a: str, how: str) -> pd.Series:
    w = R.in_window(d, a, 12)
    g = w.groupby(R.ID, sort=True)["inflow"]
    mean = g.mean()
    return (g.agg(how) / mean.where(mean > 0)).astype(np.float64)


def _drop_months(d: pd.DataFrame, a: str) -> pd.Series:
    w = R.in_window(d, a, 12)
    mean = w.groupby(R.ID, sort=True)["inflow"].transform("mean")
    low = w["inflow"] < 0.5 * mean
    return low.groupby(w[R.ID], sort=True).sum().astype(np.float64)


def _coverage(d: pd.DataFrame, a: str) -> pd.Series:
    bal = R.window_mean(d, "balance", a, 12)
    out = R.window_mean(d, "outflow", a, 12)
    return (bal / out.where(out > 0)).astype(np.float64)


def _net_margin(d: pd.DataFrame, a: str) -> pd.Series:
    return R.window_ratio(d.assign(_net=d["inflow"] - d["outflow"]), "_net", "inflow", a, 12)


_FLOWS = ("inflow", "outflow")
BANK_FLOWS: tuple[Indicator, ...] = (
    _I(
        "BK_INFLOW_AVG_12M",
        "近12月账户月均流入",
        "average monthly inflow, 12 months",
        "scale",
        "float",
        "元 yuan",
        "12 months",
        "L3",
        "近12个月有记录月份的结算账户月流入额的均值",
        "mean of the monthly credits to the settlement accounts over the months with a record",
        ("period", "inflow"),
        "window",
        lambda d, a: R.window_mean(d, "inflow", a, 12),
        None,
    ),
    _I(
        "BK_OUTFLOW_AVG_12M",
        "近12月账户月均流出",
        "average monthly outflow, 12 months",
        "scale",
        "float",
        "元 yuan",
        "12 months",
        "L3",
        "近12个月月流出额的均值",
        "mean of the monthly debits",
        ("period", "outflow"),
        "window",
        lambda d, a: R.window_mean(d, "outflow", a, 12),
        None,
    ),
    _I(
        "BK_BALANCE_AVG_12M",
        "近12月日均余额",
        "average balance, 12 months",
        "cash_flow",
        "float",
        "元 yuan",
        "12 months",
        "L3",
        "近12个月各月日均余额的均值",
        "mean of the monthly average daily balances",
        ("period", "balance"),
        "window",
        lambda d, a: R.window_mean(d, "balance", a, 12),
        None,
    ),
    _I(
        "BK_INFLOW_CV_12M",
        "近12月流入波动系数",
        "inflow volatility, 12 months",
        "stability",
        "ratio",
        "比值 ratio",
        "12 months",
        "L3",
        "近12个月月流入额的总体标准差 ÷ 月流入额均值",
        "population standard deviation / mean of the monthly inflows",
        ("period", "inflow"),
        "window",
        lambda d, a: R.window_cv(d, "inflow", a, 12),
        None,
    ),
    _I(
        "BK_INFLOW_CV_24M",
        "近24月流入波动系数",
        "inflow volatility, 24 months",
        "stability",
        "ratio",
        "比值 ratio",
        "24 months",
        "L3",
        "近24个月月流入额的总体标准差 ÷ 月流入额均值",
        "population standard deviation / mean of the monthly inflows over 24 months",
        ("period", "inflow"),
        "window",
        lambda d, a: R.window_cv(d, "inflow", a, 24),
        None,
    ),
    _I(
        "BK_CASHFLOW_CV_12M",
        "现金流波动系数",
        "cash-flow volatility coefficient, 12 months",
        "stability",
        "ratio",
        "比值 ratio",
        "12 months",
        "L3",
        "近12个月月净现金流（流入−流出）的总体标准差 ÷ 月流入额均值",
        "population standard deviation of the monthly net flow (inflow − outflow) / mean "
        "monthly inflow",
        ("period", *_FLOWS),
        "window",
        _cashflow_cv,
        None,
    ),
    _I(
        "BK_ACTIVE_MONTHS_24M",
        "近24月活跃月数",
        "active months, 24 months",
        "stability",
        "int",
        "月 months",
        "24 months",
        "L2",
        "近24个月内至少有一笔交易的月数",
        "months with at least one transaction",
        ("period", "txn_count"),
        "window",
        lambda d, a: R.window_count(d, a, 24, where=lambda x: x["txn_count"] > 0),
    ),
    _I(
        "BK_INFLOW_MONTHS_12M",
        "近12月有流入月数",
        "months with an inflow, 12 months",
        "stability",
        "int",
        "月 months",
        "12 months",
        "L3",
        "近12个月内流入额大于0的月数（流入稳定性）",
        "months whose inflow is above 0 (inflow stability)",
        ("period", "inflow"),
        "window",
        lambda d, a: R.window_count(d, a, 12, where=lambda x: x["inflow"] > 0),
    ),
    _I(
        "BK_INFLOW_FLOOR_12M",
        "近12月最低月流入占均值比",
        "lowest monthly inflow to the mean, 12 months",
        "stability",
        "ratio",
        "比值 ratio",
        "12 months",
        "L3",
        "近12个月最低月流入额 ÷ 月流入额均值",
        "lowest monthly inflow / mean monthly inflow",
        ("period", "inflow"),
        "window",
        lambda d, a: _to_mean(d, a, "min"),
        None,
    ),
    _I(
        "BK_SEASONALITY_12M",
        "近12月流入季节性指数",
        "inflow seasonality (peak to mean), 12 months",
        "stability",
        "ratio",
        "比值 ratio",
        "12 months",
        "L3",
        "近12个月最高月流入额 ÷ 月流入额均值（1为全年均匀，越大越集中于旺季）",
        "highest monthly inflow / mean monthly inflow (1: even over the year; larger: "
        "concentrated in a season)",
        ("period", "inflow"),
        "window",
        lambda d, a: _to_mean(d, a, "max"),
        None,
    ),
    _I(
        "BK_INFLOW_DROP_MONTHS_12M",
        "近12月流入骤降月数",
        "months of sharply lower inflow, 12 months",
        "stability",
        "int",
        "月 months",
        "12 months",
        "L3",
        "近12个月内月流入额低于该窗口月均流入额50%的月数",
        "months whose inflow is below half of the window's mean monthly inflow",
        ("period", "inflow"),
        "window",
        _drop_months,
    ),
    _I(
        "BK_NET_FLOW_12M",
        "近12月净流入",
        "net inflow, 12 months",
        "cash_flow",
        "float",
        "元 yuan",
        "12 months",
        "L3",
        "近12个月各月（流入−流出）之和",
        "sum of monthly inflow minus outflow",
        ("period", *_FLOWS),
        "window",
        _net_flow,
    ),
    _I(
        "BK_NET_MARGIN_12M",
        "近12月净流入率",
        "net inflow rate, 12 months",
        "cash_flow",
        "ratio",
        "比值 ratio",
        "12 months",
        "L3",
        "近12个月（流入−流出）之和 ÷ 流入之和",
        "sum of (inflow − outflow) / sum of inflow",
        ("period", *_FLOWS),
        "window",
        _net_margin,
        None,
    ),
    _I(
        "BK_BALANCE_MIN_12M",
        "近12月最低月日均余额",
        "lowest monthly balance, 12 months",
        "cash_flow",
        "float",
        "元 yuan",
        "12 months",
        "L3",
        "近12个月各月日均余额的最小值",
        "lowest of the monthly average daily balances",
        ("period", "balance"),
        "window",
        lambda d, a: R.window_agg(d, "balance", a, 12, "min"),
        None,
    ),
    _I(
        "BK_BALANCE_COVERAGE_12M",
        "余额覆盖支出月数",
        "months of outflow covered by the balance",
        "solvency",
        "ratio",
        "月 months",
        "12 months",
        "L3",
        "近12个月日均余额均值 ÷ 月均流出额",
        "mean balance / mean monthly outflow over 12 months",
        ("period", "balance", "outflow"),
        "window",
        _coverage,
        None,
    ),
    _I(
        "BK_INFLOW_SUM_12M",
        "近12月流入总额",
        "total inflow, 12 months",
        "scale",
        "float",
        "元 yuan",
        "12 months",
        "L3",
        "近12个月月流入额之和（流水贷的核定基数）",
        "sum of the monthly inflows (the base of a cash-flow loan)",
        ("period", "inflow"),
        "window",
        lambda d, a: R.window_sum(d, "inflow", a, 12),
    ),
    _I(
        "BK_INFLOW_GROWTH_6M",
        "近6月流入环比增长",
        "inflow growth, 6 months on 6 months",
        "growth",
        "ratio",
        "比值 ratio",
        "2 x 6 months",
        "L3",
        "近6个月流入之和 ÷ 此前6个月流入之和 − 1",
        "inflow of the last 6 months / inflow of the 6 months before − 1",
        ("period", "inflow"),
        "window",
        lambda d, a: R.window_growth(d, "inflow", a, 6),
        None,
    ),
    _I(
        "BK_INFLOW_GROWTH_YOY",
        "流入同比增长",
        "inflow growth, year on year",
        "growth",
        "ratio",
        "比值 ratio",
        "2 x 12 months",
        "L3",
        "近12个月流入之和 ÷ 此前12个月流入之和 − 1",
        "inflow of the last 12 months / of the 12 months before − 1",
        ("period", "inflow"),
        "window",
        lambda d, a: R.window_growth(d, "inflow", a, 12),
        None,
    ),
    _I(
        "BK_TXN_COUNT_12M",
        "近12月交易笔数",
        "transactions, 12 months",
        "scale",
        "int",
        "笔 count",
        "12 months",
        "L2",
        "近12个月各月交易笔数之和",
        "sum of the monthly transaction counts",
        ("period", "txn_count"),
        "window",
        lambda d, a: R.window_sum(d, "txn_count", a, 12),
    ),
)

__all__ = ["BANK_FLOWS"]
