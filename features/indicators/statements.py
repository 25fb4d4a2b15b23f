"""The tax bureau's indicators over annual financial statements (年度财务报表, filed with the
corporate income tax return): leverage, liquidity, margins, turnover days.

A statement counts from the day it was filed (``filed_on``), not from its fiscal year end:
as of 2024-03-31 the 2023 statement filed on 2024-05-20 is not known yet. Each indicator
is computed at the tax bureau from its own records; nothing leaves the party here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features import records as R
from features.indicators.spec import For, Indicator

_I = For("tax_statements")
FILED = "filed_on"
YEAR_END = "fiscal_year_end"


def _ranked(d: pd.DataFrame, a: str) -> pd.DataFrame:
    """Statements filed by ``a``, the latest (by fiscal year, then filing) last per firm."""
    k = R.known_by(d, a, FILED)
    k = k.assign(_y=pd.to_datetime(k[YEAR_END]), _f=pd.to_datetime(k[FILED]))
    return k.sort_values([R.ID, "_y", "_f"], kind="stable")


def _latest_rows(d: pd.DataFrame, a: str) -> pd.DataFrame:
    return _ranked(d, a).groupby(R.ID, sort=True).tail(1).set_index(R.ID).sort_index()


def _ratio(num: Callable[[pd.DataFrame], pd.Series], den: str, scale: float = 1.0) -> Callable:
    def compute(d: pd.DataFrame, a: str) -> pd.Series:
        s = _latest_rows(d, a)
        return (scale * num(s) / s[den].where(s[den] > 0)).astype(np.float64)

    return compute


def _col(name: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda s: s[name].astype(np.float64)


def _days(s: pd.DataFrame, stock: str, flow: str) -> pd.Series:
    return 365.0 * s[stock] / s[flow].where(s[flow] > 0)


def _cash_cycle(d: pd.DataFrame, a: str) -> pd.Series:
    s = _latest_rows(d, a)
    dio = _days(s, "inventory", "cost_of_sales")
    dso = _days(s, "receivables", "revenue")
    dpo = _days(s, "payables", "cost_of_sales")
    return (dio + dso - dpo).astype(np.float64)


def _revenue_growth(d: pd.DataFrame, a: str) -> pd.Series:
    r = _ranked(d, a).drop_duplicates([R.ID, "_y"], keep="last")
    r = r.assign(_prev=r.groupby(R.ID, sort=True)["revenue"].shift(1))
    last = r.groupby(R.ID, sort=True).tail(1).set_index(R.ID).sort_index()
    return (last["revenue"] / last["_prev"].where(last["_prev"] > 0) - 1.0).astype(np.float64)


def _loss_years(d: pd.DataFrame, a: str) -> pd.Series:
    return R.window_count(d, a, 36, where=lambda x: x["net_profit"] < 0, date_col=FILED)


def _equity(s: pd.DataFrame) -> pd.Series:
    return s["total_assets"] - s["total_liabilities"]


_BS = ("filed_on", "fiscal_year_end")
STATEMENTS: tuple[Indicator, ...] = (
    _I(
        "FS_DEBT_TO_ASSET",
        "资产负债率",
        "debt-to-asset ratio",
        "solvency",
        "ratio",
        "比值 ratio",
        "latest statement",
        "L4",
        "最近一期已申报年报的负债总额 ÷ 资产总额",
        "total liabilities / total assets of the latest filed statement",
        (*_BS, "total_liabilities", "total_assets"),
        "filed",
        _ratio(_col("total_liabilities"), "total_assets"),
        None,
    ),
    _I(
        "FS_CURRENT_RATIO",
        "流动比率",
        "current ratio",
        "solvency",
        "ratio",
        "比值 ratio",
        "latest statement",
        "L4",
        "最近一期已申报年报的流动资产 ÷ 流动负债",
        "current assets / current liabilities of the latest filed statement",
        (*_BS, "current_assets", "current_liabilities"),
        "filed",
        _ratio(_col("current_assets"), "current_liabilities"),
        None,
    ),
    _I(
        "FS_QUICK_RATIO",
        "速动比率",
        "quick ratio",
        "solvency",
        "ratio",
        "比值 ratio",
        "latest statement",
        "L4",
        "（流动资产 − 存货）÷ 流动负债，取最近一期已申报年报",
        "(current assets − inventory) / current liabilities of the latest filed statement",
        (*_BS, "current_assets", "inventory", "current_liabilities"),
        "filed",
        _ratio(lambda s: s["current_assets"] - s["inventory"], "current_liabilities"),
        None,
    ),
    _I(
        "FS_NET_ASSETS",
        "净资产",
        "net assets",
        "solvency",
        "float",
        "元 yuan",
        "latest statement",
        "L4",
        "最近一期已申报年报的资产总额 − 负债总额",
        "total assets − total liabilities of the latest filed statement",
        (*_BS, "total_assets", "total_liabilities"),
        "filed",
        lambda d, a: _equity(_latest_rows(d, a)).astype(np.float64),
        None,
    ),
    _I(
        "FS_GROSS_MARGIN",
        "毛利率",
        "gross margin",
        "profitability",
        "ratio",
        "比值 ratio",
        "latest statement",
        "L4",
        "（营业收入 − 营业成本）÷ 营业收入，取最近一期已申报年报",
        "(revenue − cost of sales) / revenue of the latest filed statement",
        (*_BS, "revenue", "cost_of_sales"),
        "filed",
        _ratio(lambda s: s["revenue"] - s["cost_of_sales"], "revenue"),
        None,
    ),
    _I(
        "FS_NET_MARGIN",
        "销售净利率",
        "net margin",
        "profitability",
        "ratio",
        "比值 ratio",
        "latest statement",
        "L4",
        "最近一期已申报年报的净利润 ÷ 营业收入",
        "net profit / revenue of the latest filed statement",
        (*_BS, "net_profit", "revenue"),
        "filed",
        _ratio(_col("net_profit"), "revenue"),
        None,
    ),
    _I(
        "FS_ROA",
        "总资产收益率",
        "return on assets",
        "profitability",
        "ratio",
        "比值 ratio",
        "latest statement",
        "L4",
        "最近一期已申报年报的净利润 ÷ 资产总额",
        "net profit / total assets of the latest filed statement",
        (*_BS, "net_profit", "total_assets"),
        "filed",
        _ratio(_col("net_profit"), "total_assets"),
        None,
    ),
    _I(
        "FS_LOSS_YEARS_36M",
        "近3年亏损年报数",
        "loss-making statements, 36 months",
        "profitability",
        "int",
        "份 count",
        "36 months",
        "L4",
        "近36个月内申报的年报中净利润小于0的份数",
        "statements filed in the last 36 months with a net loss",
        (*_BS, "net_profit"),
        "window",
        _loss_years,
    ),
    _I(
        "FS_REVENUE",
        "营业收入",
        "revenue",
        "scale",
        "float",
        "元 yuan",
        "latest statement",
        "L4",
        "最近一期已申报年报的营业收入",
        "revenue of the latest filed statement",
        (*_BS, "revenue"),
        "filed",
        lambda d, a: _latest_rows(d, a)["revenue"].astype(np.float64),
        None,
    ),
    _I(
        "FS_REVENUE_GROWTH",
        "营业收入增长率",
        "revenue growth",
        "growth",
        "ratio",
        "比值 ratio",
        "2 statements",
        "L4",
        "最近一期已申报年报的营业收入 ÷ 上一财务年度年报的营业收入 − 1",
        "revenue of the latest filed statement / of the fiscal year before − 1",
        (*_BS, "revenue"),
        "filed",
        _revenue_growth,
        None,
    ),
    _I(
        "FS_ASSET_TURNOVER",
        "总资产周转率",
        "asset turnover",
        "turnover",
        "ratio",
        "次 times",
        "latest statement",
        "L4",
        "最近一期已申报年报的营业收入 ÷ 资产总额",
        "revenue / total assets of the latest filed statement",
        (*_BS, "revenue", "total_assets"),
        "filed",
        _ratio(_col("revenue"), "total_assets"),
        None,
    ),
    _I(
        "FS_INVENTORY_DAYS",
        "存货周转天数",
        "days inventory outstanding",
        "turnover",
        "float",
        "天 days",
        "latest statement",
        "L4",
        "365 × 存货 ÷ 营业成本，取最近一期已申报年报",
        "365 × inventory / cost of sales of the latest filed statement",
        (*_BS, "inventory", "cost_of_sales"),
        "filed",
        _ratio(_col("inventory"), "cost_of_sales", 365.0),
        None,
    ),
    _I(
        "FS_RECEIVABLE_DAYS",
        "应收账款周转天数",
        "days sales outstanding",
        "turnover",
        "float",
        "天 days",
        "latest statement",
        "L4",
        "365 × 应收账款 ÷ 营业收入，取最近一期已申报年报",
        "365 × receivables / revenue of the latest filed statement",
        (*_BS, "receivables", "revenue"),
        "filed",
        _ratio(_col("receivables"), "revenue", 365.0),
        None,
    ),
    _I(
        "FS_PAYABLE_DAYS",
        "应付账款周转天数",
        "days payables outstanding",
        "turnover",
        "float",
        "天 days",
        "latest statement",
        "L4",
        "365 × 应付账款 ÷ 营业成本，取最近一期已申报年报",
        "365 × payables / cost of sales of the latest filed statement",
        (*_BS, "payables", "cost_of_sales"),
        "filed",
        _ratio(_col("payables"), "cost_of_sales", 365.0),
        None,
    ),
    _I(
        "FS_SUPPLY_CHAIN_DAYS",
        "供应链周转天数",
        "supply-chain turnover days (cash conversion cycle)",
        "turnover",
        "float",
        "天 days",
        "latest statement",
        "L4",
        "存货周转天数 + 应收账款周转天数 − 应付账款周转天数（现金转换周期），取最近一期已申报年报",
        "days inventory + days receivables − days payables (cash conversion cycle) of the "
        "latest filed statement",
        (*_BS, "inventory", "receivables", "payables", "revenue", "cost_of_sales"),
        "filed",
        _cash_cycle,
        None,
    ),
)

__all__ = ["STATEMENTS"]
