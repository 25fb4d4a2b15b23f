"""The bank's indicators over its customers' account transactions with counterparties
(收支流水明细: customers who pay, suppliers who are paid, payroll, loan repayments).

A counterparty is the bank's opaque code for the other account; it never leaves the bank
(the indicators are counts and shares). Each indicator is computed at the bank from its
own transaction records; nothing leaves the party here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import records as R
from features.indicators.spec import For, Indicator

_I = For("bank_txns")
_NEEDS = ("date", "direction", "counterparty", "category", "amount")


def _window(d: pd.DataFrame, a: str, months: int = 12, *, skip: int = 0) -> pd.DataFrame:
    return R.in_window(d, a, months, R.DATE, skip=skip)


def _ids(w: pd.DataFrame) -> pd.Index:
    return pd.Index(np.unique(w[R.ID].astype(str).to_numpy()), name=R.ID)


def _of(w: pd.DataFrame, direction: str, category: str) -> pd.DataFrame:
    return w.loc[(w["direction"] == direction) & (w["category"] == category)]


def _counterparties(d: pd.DataFrame, a: str, direction: str, category: str) -> pd.Series:
    w = _window(d, a)
    n = _of(w, direction, category).groupby(R.ID, sort=True)["counterparty"].nunique()
    return n.reindex(_ids(w), fill_value=0).astype(np.float64)


def _shares(d: pd.DataFrame, a: str, direction: str, category: str) -> pd.DataFrame:
    """Each counterparty's share of the enterprise's amount (columns uscc, share), largest
    first within each enterprise."""
    w = _of(_window(d, a), direction, category)
    by = w.groupby([R.ID, "counterparty"], sort=True)["amount"].sum().reset_index()
    total = by.groupby(R.ID)["amount"].transform("sum")
    by = by.assign(share=by["amount"] / total.where(total > 0))
    return by.sort_values([R.ID, "share"], ascending=[True, False], kind="stable")


def _top_share(d: pd.DataFrame, a: str, direction: str, category: str, top: int) -> pd.Series:
    s = _shares(d, a, direction, category)
    first = s.loc[s.groupby(R.ID, sort=True).cumcount() < top]
    return first.groupby(R.ID, sort=True)["share"].sum(min_count=1).astype(np.float64)


def _hhi(d: pd.DataFrame, a: str) -> pd.Series:
    s = _shares(d, a, "in", "sales")
    return (s["share"] ** 2).groupby(s[R.ID], sort=True).sum().astype(np.float64)


def _customer_sets(d: pd.DataFrame, a: str, skip: int) -> pd.DataFrame:
    w = _of(_window(d, a, skip=skip), "in", "sales")
    return w[[R.ID, "counterparty"]].drop_duplicates()


def _repeat_rate(d: pd.DataFrame, a: str) -> pd.Series:
    before, now = _customer_sets(d, a, 12), _customer_sets(d, a, 0)
    again = before.merge(now, on=[R.ID, "counterparty"], how="left", indicator=True)
    hit = (again["_merge"] == "both").groupby(again[R.ID], sort=True)
    return hit.mean().astype(np.float64)


def _new_customers(d: pd.DataFrame, a: str) -> pd.Series:
    w = _window(d, a)
    lo = R.months_back(a, 12)
    paid = _of(d, "in", "sales")
    dates = pd.to_datetime(paid[R.DATE], errors="coerce")
    first = paid.assign(_d=dates).groupby([R.ID, "counterparty"], sort=True)["_d"].min()
    first = first.reset_index()
    new = first.loc[(first["_d"] > lo) & (first["_d"] <= R.as_of_ts(a))]
    n = new.groupby(R.ID, sort=True)["counterparty"].nunique()
    return n.reindex(_ids(w), fill_value=0).astype(np.float64)


def _payroll_months(d: pd.DataFrame, a: str) -> pd.Series:
    w = _window(d, a)
    pay = _of(w, "out", "payroll")
    month = pd.to_datetime(pay[R.DATE]).dt.to_period("M")
    n = month.groupby(pay[R.ID], sort=True).nunique()
    return n.reindex(_ids(w), fill_value=0).astype(np.float64)


def _category_sum(d: pd.DataFrame, a: str, direction: str, category: str) -> pd.Series:
    w = _window(d, a)
    s = _of(w, direction, category).groupby(R.ID, sort=True)["amount"].sum()
    return s.reindex(_ids(w), fill_value=0.0).astype(np.float64)


def _debt_service(d: pd.DataFrame, a: str) -> pd.Series:
    w = _window(d, a)
    repaid = _category_sum(d, a, "out", "loan_repayment")
    inflow = w.loc[w["direction"] == "in"].groupby(R.ID, sort=True)["amount"].sum()
    inflow = inflow.reindex(repaid.index)
    return (repaid / inflow.where(inflow > 0)).astype(np.float64)


BANK_TXNS: tuple[Indicator, ...] = (
    _I(
        "BT_CUSTOMERS_12M",
        "近12月回款交易对手数",
        "paying counterparties, 12 months",
        "customers",
        "int",
        "个 count",
        "12 months",
        "L3",
        "近12个月内向企业账户支付货款（销售回款）的不同交易对手数",
        "distinct counterparties that paid the enterprise for sales",
        _NEEDS,
        "window",
        lambda d, a: _counterparties(d, a, "in", "sales"),
    ),
    _I(
        "BT_SUPPLIERS_12M",
        "近12月付款供应商数",
        "suppliers paid, 12 months",
        "customers",
        "int",
        "个 count",
        "12 months",
        "L3",
        "近12个月内企业账户支付货款的不同供应商数",
        "distinct suppliers the enterprise paid",
        _NEEDS,
        "window",
        lambda d, a: _counterparties(d, a, "out", "supplier"),
    ),
    _I(
        "BT_TOP1_CUSTOMER_SHARE_12M",
        "第一大客户回款占比",
        "largest customer's share of receipts, 12 months",
        "stability",
        "ratio",
        "比值 ratio",
        "12 months",
        "L3",
        "近12个月回款金额最大的交易对手的回款额 ÷ 全部销售回款额",
        "receipts from the largest paying counterparty / all sales receipts",
        _NEEDS,
        "window",
        lambda d, a: _top_share(d, a, "in", "sales", 1),
        None,
    ),
    _I(
        "BT_CUSTOMER_HHI_12M",
        "客户回款集中度（HHI）",
        "concentration of receipts (Herfindahl), 12 months",
        "stability",
        "ratio",
        "比值 ratio",
        "12 months",
        "L3",
        "近12个月各交易对手回款占比的平方和（赫芬达尔指数，1为单一客户）",
        "sum of the squared shares of the paying counterparties (Herfindahl; 1: one customer)",
        _NEEDS,
        "window",
        _hhi,
        None,
    ),
    _I(
        "BT_TOP5_SUPPLIER_SHARE_12M",
        "前五大供应商付款占比",
        "top five suppliers' share of payments, 12 months",
        "stability",
        "ratio",
        "比值 ratio",
        "12 months",
        "L3",
        "近12个月付款额最大的5个供应商的付款额 ÷ 全部供应商付款额",
        "payments to the five largest suppliers / all supplier payments",
        _NEEDS,
        "window",
        lambda d, a: _top_share(d, a, "out", "supplier", 5),
        None,
    ),
    _I(
        "BT_REPEAT_CUSTOMER_RATE",
        "客户复购率",
        "repeat-customer rate",
        "customers",
        "ratio",
        "比值 ratio",
        "2 x 12 months",
        "L3",
        "观察日前13–24个月有回款的交易对手中，近12个月再次回款的比例",
        "share of the counterparties that paid 13–24 months before the observation date "
        "and paid again in the last 12 months",
        _NEEDS,
        "window",
        _repeat_rate,
        None,
    ),
    _I(
        "BT_NEW_CUSTOMERS_12M",
        "近12月新增客户数",
        "new paying counterparties, 12 months",
        "customers",
        "int",
        "个 count",
        "12 months",
        "L3",
        "首次回款日期落在近12个月内的交易对手数（以观察日前的全部记录判断首次）",
        "counterparties whose first payment on record falls in the last 12 months",
        _NEEDS,
        "history",
        _new_customers,
    ),
    _I(
        "BT_PAYROLL_MONTHS_12M",
        "近12月代发工资月数",
        "months with payroll, 12 months",
        "workforce",
        "int",
        "月 months",
        "12 months",
        "L3",
        "近12个月内有代发工资支出的月数",
        "months with a payroll payment",
        _NEEDS,
        "window",
        _payroll_months,
    ),
    _I(
        "BT_PAYROLL_AMOUNT_12M",
        "近12月代发工资总额",
        "payroll paid, 12 months",
        "workforce",
        "float",
        "元 yuan",
        "12 months",
        "L3",
        "近12个月代发工资支出金额之和",
        "sum of the payroll payments",
        _NEEDS,
        "window",
        lambda d, a: _category_sum(d, a, "out", "payroll"),
    ),
    _I(
        "BT_DEBT_SERVICE_RATIO_12M",
        "近12月还款支出占流入比",
        "loan repayments to inflow, 12 months",
        "solvency",
        "ratio",
        "比值 ratio",
        "12 months",
        "L3",
        "近12个月偿还贷款支出之和 ÷ 全部流入之和",
        "sum of the loan repayments / sum of all inflows",
        _NEEDS,
        "window",
        _debt_service,
        None,
    ),
)

__all__ = ["BANK_TXNS"]
