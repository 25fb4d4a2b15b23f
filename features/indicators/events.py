"""The courts' and market regulation's indicators: dated events (cases, penalties, listings).

Each indicator is computed at its owner from the owner's own event records; nothing
leaves the party here.
"""

from __future__ import annotations

from features import records as R
from features.indicators.spec import Indicator, col_equals

_I = Indicator
COURTS: tuple[Indicator, ...] = (
    # ---- courts: events -------------------------------------------------------------
    _I(
        "CT_DEFENDANT_CASES_24M",
        "近24月被告涉诉数",
        "lawsuits as defendant, 24 months",
        "courts",
        "risk_resilience",
        "int",
        "count",
        "civil and commercial cases filed with the enterprise as defendant",
        "24 months",
        "daily",
        "L2",
        lambda d, a: R.window_count(
            d, a, 24, where=col_equals("case_type", "civil_defendant"), date_col=R.DATE
        ),
    ),
    _I(
        "CT_ENFORCEMENT_CASES_24M",
        "近24月被执行案件数",
        "enforcement cases, 24 months",
        "courts",
        "risk_resilience",
        "int",
        "count",
        "enforcement cases filed against the enterprise",
        "24 months",
        "daily",
        "L2",
        lambda d, a: R.window_count(
            d, a, 24, where=col_equals("case_type", "enforcement"), date_col=R.DATE
        ),
    ),
    _I(
        "CT_ENFORCEMENT_AMOUNT_24M",
        "近24月被执行金额",
        "amount under enforcement, 24 months",
        "courts",
        "risk_resilience",
        "float",
        "yuan",
        "sum of the amounts of those enforcement cases",
        "24 months",
        "daily",
        "L2",
        lambda d, a: R.window_sum(
            d.loc[d["case_type"] == "enforcement"], "amount", a, 24, date_col=R.DATE
        ),
    ),
    _I(
        "CT_MONTHS_SINCE_CASE",
        "距最近涉诉月数",
        "months since the latest case",
        "courts",
        "risk_resilience",
        "int",
        "months",
        "whole months from the latest civil or "
        "enforcement case to the observation date (empty: never)",
        "all history",
        "daily",
        "L2",
        lambda d, a: R.months_since(d, a, where=lambda x: x["case_type"] != "registered"),
        None,
    ),
)

MARKET_REGULATION: tuple[Indicator, ...] = (
    # ---- market regulation: events ---------------------------------------------------
    _I(
        "MR_COMPANY_AGE_YEARS",
        "成立年限",
        "company age",
        "market_regulation",
        "risk_resilience",
        "float",
        "years",
        "years from establishment to the observation date",
        "all history",
        "daily",
        "L1",
        lambda d, a: R.years_since(d, a, where=col_equals("event", "established")),
        None,
    ),
    _I(
        "MR_PENALTIES_36M",
        "近36月行政处罚次数",
        "administrative penalties, 36 months",
        "market_regulation",
        "risk_resilience",
        "int",
        "count",
        "administrative penalties decided",
        "36 months",
        "daily",
        "L1",
        lambda d, a: R.window_count(
            d, a, 36, where=col_equals("event", "penalty"), date_col=R.DATE
        ),
    ),
    _I(
        "MR_PENALTY_AMOUNT_36M",
        "近36月罚没金额",
        "penalty amount, 36 months",
        "market_regulation",
        "risk_resilience",
        "float",
        "yuan",
        "sum of the fines of those penalties",
        "36 months",
        "daily",
        "L1",
        lambda d, a: R.window_sum(d.loc[d["event"] == "penalty"], "amount", a, 36, date_col=R.DATE),
    ),
    _I(
        "MR_ABNORMAL_LISTED",
        "经营异常名录在列",
        "on the abnormal-operation list",
        "market_regulation",
        "risk_resilience",
        "flag",
        "0/1",
        "1 when the latest listing or removal on or before the observation date is a listing",
        "latest",
        "daily",
        "L1",
        lambda d, a: R.latest_state(d, a, "event", "abnormal_listed", "abnormal_removed"),
    ),
)


__all__ = ["COURTS", "MARKET_REGULATION"]
