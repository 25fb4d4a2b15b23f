"""Social insurance's and the housing fund's indicators: monthly contributions and the
headcounts they cover (社保参保人数, 公积金缴存人数: level, trend, drawdown, arrears).

Each indicator is computed at its owner from the owner's own monthly records; nothing
leaves the party here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import records as R
from features.indicators.spec import For, Indicator

_SI = For("social_insurance")
_HF = For("housing_fund")


def _paid_months(d: pd.DataFrame, a: str) -> pd.Series:
    return R.window_count(d, a, 36, where=lambda x: x["paid"] >= x["due"])


def _arrears_months(d: pd.DataFrame, a: str) -> pd.Series:
    return R.window_count(d, a, 12, where=lambda x: x["paid"] < x["due"])


def _drawdown(d: pd.DataFrame, a: str) -> pd.Series:
    peak = R.window_agg(d, "insured_employees", a, 12, "max")
    now = R.latest(d, "insured_employees", a).reindex(peak.index)
    return (1.0 - now / peak.where(peak > 0)).astype(np.float64)


def _arrears_amount(d: pd.DataFrame, a: str) -> pd.Series:
    short = (d["due"] - d["paid"]).clip(lower=0)
    return R.window_sum(d.assign(_short=short), "_short", a, 12)


def _per_head(d: pd.DataFrame, a: str) -> pd.Series:
    paid = R.latest(d, "paid", a)
    heads = R.latest(d, "contributors", a)
    return (paid / heads.where(heads > 0)).astype(np.float64)


_SI_N = ("period", "insured_employees")
_SI_P = ("period", "due", "paid")
SOCIAL_INSURANCE: tuple[Indicator, ...] = (
    _SI(
        "SI_EMPLOYEES_LATEST",
        "参保人数",
        "insured employees, latest",
        "workforce",
        "int",
        "人 persons",
        "latest",
        "L3",
        "观察日当日或之前最近一个月的参保职工人数",
        "insured employees in the latest monthly record",
        _SI_N,
        "latest",
        lambda d, a: R.latest(d, "insured_employees", a),
        None,
    ),
    _SI(
        "SI_EMPLOYEES_AVG_12M",
        "近12月平均参保人数",
        "average insured employees, 12 months",
        "workforce",
        "float",
        "人 persons",
        "12 months",
        "L3",
        "近12个月各月参保人数的均值",
        "mean of the monthly insured employees",
        _SI_N,
        "window",
        lambda d, a: R.window_mean(d, "insured_employees", a, 12),
        None,
    ),
    _SI(
        "SI_EMPLOYEE_CHANGE_6M",
        "参保人数6月变化率",
        "change in insured employees, 6 months",
        "workforce",
        "ratio",
        "比值 ratio",
        "6 months",
        "L3",
        "当前参保人数 ÷ 6个月前参保人数 − 1",
        "insured employees now / 6 months before − 1",
        _SI_N,
        "latest",
        lambda d, a: R.change_ratio(d, "insured_employees", a, 6),
        None,
    ),
    _SI(
        "SI_EMPLOYEE_CHANGE_12M",
        "参保人数12月变化率",
        "change in insured employees, 12 months",
        "workforce",
        "ratio",
        "比值 ratio",
        "12 months",
        "L3",
        "当前参保人数 ÷ 12个月前参保人数 − 1",
        "insured employees now / 12 months before − 1",
        _SI_N,
        "latest",
        lambda d, a: R.change_ratio(d, "insured_employees", a, 12),
        None,
    ),
    _SI(
        "SI_EMPLOYEE_CV_12M",
        "参保人数波动系数",
        "volatility of insured employees, 12 months",
        "stability",
        "ratio",
        "比值 ratio",
        "12 months",
        "L3",
        "近12个月月参保人数的总体标准差 ÷ 均值（用工稳定性）",
        "population standard deviation / mean of the monthly insured employees",
        _SI_N,
        "window",
        lambda d, a: R.window_cv(d, "insured_employees", a, 12),
        None,
    ),
    _SI(
        "SI_EMPLOYEE_DRAWDOWN_12M",
        "参保人数12月最大回落",
        "fall of insured employees from the 12-month peak",
        "stability",
        "ratio",
        "比值 ratio",
        "12 months",
        "L3",
        "1 − 当前参保人数 ÷ 近12个月最高参保人数",
        "1 − insured employees now / the highest month of the last 12",
        _SI_N,
        "window",
        _drawdown,
        None,
    ),
    _SI(
        "SI_PAID_MONTHS_36M",
        "近36月足额缴费月数",
        "months paid in full, 36 months",
        "payment",
        "int",
        "月 months",
        "36 months",
        "L3",
        "近36个月实缴额不低于应缴额的月数",
        "months whose contribution was paid in full",
        _SI_P,
        "window",
        _paid_months,
    ),
    _SI(
        "SI_ARREARS_MONTHS_12M",
        "近12月欠缴月数",
        "months in arrears, 12 months",
        "payment",
        "int",
        "月 months",
        "12 months",
        "L3",
        "近12个月实缴额低于应缴额的月数",
        "months whose contribution was not paid in full",
        _SI_P,
        "window",
        _arrears_months,
    ),
    _SI(
        "SI_ARREARS_AMOUNT_12M",
        "近12月社保欠缴金额",
        "contributions in arrears, 12 months",
        "payment",
        "float",
        "元 yuan",
        "12 months",
        "L3",
        "近12个月各月（应缴额 − 实缴额，不低于0）之和",
        "sum over the months of (due − paid, at least 0)",
        _SI_P,
        "window",
        _arrears_amount,
    ),
    _SI(
        "SI_MONTHS_SINCE_ARREARS",
        "距最近欠缴月数",
        "months since the latest arrears",
        "payment",
        "int",
        "月 months",
        "all history",
        "L3",
        "最近一个欠缴月份至观察日的整月数（空：从未欠缴）",
        "whole months from the latest month in arrears to the observation date (empty: never)",
        _SI_P,
        "history",
        lambda d, a: R.months_since(d, a, where=lambda x: x["paid"] < x["due"], date_col=R.PERIOD),
        None,
    ),
    _SI(
        "SI_PAID_RATIO_12M",
        "近12月社保缴费足额率",
        "share of contributions paid, 12 months",
        "payment",
        "ratio",
        "比值 ratio",
        "12 months",
        "L3",
        "近12个月实缴额之和 ÷ 应缴额之和",
        "sum of contributions paid / sum due",
        _SI_P,
        "window",
        lambda d, a: R.window_ratio(d, "paid", "due", a, 12),
        None,
    ),
    _SI(
        "SI_PAID_AMOUNT_12M",
        "近12月缴费金额",
        "contributions paid, 12 months",
        "cash_flow",
        "float",
        "元 yuan",
        "12 months",
        "L3",
        "近12个月社保实缴额之和",
        "sum of contributions paid",
        ("period", "paid"),
        "window",
        lambda d, a: R.window_sum(d, "paid", a, 12),
    ),
)

_HF_N = ("period", "contributors")
_HF_P = ("period", "due", "paid")
HOUSING_FUND: tuple[Indicator, ...] = (
    _HF(
        "HF_CONTRIBUTORS_LATEST",
        "公积金缴存人数",
        "housing-fund contributors, latest",
        "workforce",
        "int",
        "人 persons",
        "latest",
        "L3",
        "观察日当日或之前最近一个月的住房公积金缴存职工人数",
        "employees with housing-fund contributions in the latest monthly record",
        _HF_N,
        "latest",
        lambda d, a: R.latest(d, "contributors", a),
        None,
    ),
    _HF(
        "HF_CONTRIBUTOR_CHANGE_6M",
        "公积金缴存人数6月变化率",
        "change in housing-fund contributors, 6 months",
        "workforce",
        "ratio",
        "比值 ratio",
        "6 months",
        "L3",
        "当前缴存人数 ÷ 6个月前缴存人数 − 1",
        "contributors now / 6 months before − 1",
        _HF_N,
        "latest",
        lambda d, a: R.change_ratio(d, "contributors", a, 6),
        None,
    ),
    _HF(
        "HF_CONTRIBUTOR_CHANGE_12M",
        "公积金缴存人数12月变化率",
        "change in housing-fund contributors, 12 months",
        "workforce",
        "ratio",
        "比值 ratio",
        "12 months",
        "L3",
        "当前缴存人数 ÷ 12个月前缴存人数 − 1",
        "contributors now / 12 months before − 1",
        _HF_N,
        "latest",
        lambda d, a: R.change_ratio(d, "contributors", a, 12),
        None,
    ),
    _HF(
        "HF_PAID_AMOUNT_12M",
        "近12月公积金缴存额",
        "housing-fund contributions paid, 12 months",
        "cash_flow",
        "float",
        "元 yuan",
        "12 months",
        "L3",
        "近12个月住房公积金实缴额之和",
        "sum of housing-fund contributions paid",
        ("period", "paid"),
        "window",
        lambda d, a: R.window_sum(d, "paid", a, 12),
    ),
    _HF(
        "HF_PER_HEAD_LATEST",
        "人均月缴存额",
        "contribution per contributor, latest month",
        "profitability",
        "float",
        "元 yuan",
        "latest",
        "L3",
        "最近一个月实缴额 ÷ 缴存人数（工资水平的代理）",
        "paid / contributors in the latest monthly record (a proxy of the wage level)",
        ("period", "paid", "contributors"),
        "latest",
        _per_head,
        None,
    ),
    _HF(
        "HF_ARREARS_MONTHS_12M",
        "近12月公积金欠缴月数",
        "housing-fund months in arrears, 12 months",
        "payment",
        "int",
        "月 months",
        "12 months",
        "L3",
        "近12个月公积金实缴额低于应缴额的月数",
        "months whose housing-fund contribution was not paid in full",
        _HF_P,
        "window",
        _arrears_months,
    ),
)

__all__ = ["HOUSING_FUND", "SOCIAL_INSURANCE"]
