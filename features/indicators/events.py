"""The courts' and market regulation's indicators: dated events (cases, penalties,
abnormal-operation listings, establishment).

Each indicator is computed at its owner from the owner's own event records; nothing
leaves the party here.
"""

from __future__ import annotations

from features import records as R
from features.indicators.spec import For, Indicator, col_equals

_CT = For("courts")
_MR = For("market_regulation")
_C = ("date", "case_type")
_M = ("date", "event")


COURTS: tuple[Indicator, ...] = (
    _CT(
        "CT_DEFENDANT_CASES_12M",
        "近12月被告涉诉数",
        "lawsuits as defendant, 12 months",
        "litigation",
        "int",
        "件 count",
        "12 months",
        "L2",
        "近12个月立案、企业为被告的民商事案件数",
        "civil and commercial cases filed with the enterprise as defendant, 12 months",
        _C,
        "window",
        lambda d, a: R.window_count(
            d, a, 12, where=col_equals("case_type", "civil_defendant"), date_col=R.DATE
        ),
    ),
    _CT(
        "CT_DEFENDANT_CASES_24M",
        "近24月被告涉诉数",
        "lawsuits as defendant, 24 months",
        "litigation",
        "int",
        "件 count",
        "24 months",
        "L2",
        "近24个月立案、企业为被告的民商事案件数",
        "civil and commercial cases filed with the enterprise as defendant",
        _C,
        "window",
        lambda d, a: R.window_count(
            d, a, 24, where=col_equals("case_type", "civil_defendant"), date_col=R.DATE
        ),
    ),
    _CT(
        "CT_ENFORCEMENT_CASES_24M",
        "近24月被执行案件数",
        "enforcement cases, 24 months",
        "litigation",
        "int",
        "件 count",
        "24 months",
        "L2",
        "近24个月立案、企业为被执行人的案件数",
        "enforcement cases filed against the enterprise",
        _C,
        "window",
        lambda d, a: R.window_count(
            d, a, 24, where=col_equals("case_type", "enforcement"), date_col=R.DATE
        ),
    ),
    _CT(
        "CT_ENFORCEMENT_AMOUNT_24M",
        "近24月被执行金额",
        "amount under enforcement, 24 months",
        "litigation",
        "float",
        "元 yuan",
        "24 months",
        "L2",
        "近24个月被执行案件的执行标的金额之和",
        "sum of the amounts of those enforcement cases",
        (*_C, "amount"),
        "window",
        lambda d, a: R.window_sum(
            d.loc[d["case_type"] == "enforcement"], "amount", a, 24, date_col=R.DATE
        ),
    ),
    _CT(
        "CT_ENFORCEMENT_MAX_24M",
        "近24月单笔最大被执行金额",
        "largest enforcement amount, 24 months",
        "litigation",
        "float",
        "元 yuan",
        "24 months",
        "L2",
        "近24个月被执行案件中执行标的金额的最大值（无案件为0）",
        "largest amount of those enforcement cases (0 without a case)",
        (*_C, "amount"),
        "window",
        lambda d, a: R.window_agg(
            d.loc[d["case_type"] == "enforcement"], "amount", a, 24, "max", date_col=R.DATE
        ),
    ),
    _CT(
        "CT_CASES_ALL",
        "历史涉诉案件总数",
        "court cases on record",
        "litigation",
        "int",
        "件 count",
        "all history",
        "L2",
        "观察日当日或之前全部被告民商事案件与被执行案件数",
        "every civil-defendant and enforcement case filed on or before the observation date",
        _C,
        "history",
        lambda d, a: R.history_count(d, a, where=lambda x: x["case_type"] != "registered"),
    ),
    _CT(
        "CT_MONTHS_SINCE_CASE",
        "距最近涉诉月数",
        "months since the latest case",
        "litigation",
        "int",
        "月 months",
        "all history",
        "L2",
        "最近一次被告或被执行案件立案日至观察日的整月数（空：从未涉诉）",
        "whole months from the latest civil or enforcement case to the observation date "
        "(empty: never)",
        _C,
        "history",
        lambda d, a: R.months_since(d, a, where=lambda x: x["case_type"] != "registered"),
        None,
    ),
)

MARKET_REGULATION: tuple[Indicator, ...] = (
    _MR(
        "MR_COMPANY_AGE_YEARS",
        "成立年限",
        "company age",
        "longevity",
        "float",
        "年 years",
        "all history",
        "L1",
        "成立日期至观察日的年数（按365.25天计一年）",
        "years (of 365.25 days) from establishment to the observation date",
        _M,
        "history",
        lambda d, a: R.years_since(d, a, where=col_equals("event", "established")),
        None,
    ),
    _MR(
        "MR_PENALTIES_12M",
        "近12月行政处罚次数",
        "administrative penalties, 12 months",
        "regulatory",
        "int",
        "次 count",
        "12 months",
        "L1",
        "近12个月作出的行政处罚次数",
        "administrative penalties decided in the last 12 months",
        _M,
        "window",
        lambda d, a: R.window_count(
            d, a, 12, where=col_equals("event", "penalty"), date_col=R.DATE
        ),
    ),
    _MR(
        "MR_PENALTIES_36M",
        "近36月行政处罚次数",
        "administrative penalties, 36 months",
        "regulatory",
        "int",
        "次 count",
        "36 months",
        "L1",
        "近36个月作出的行政处罚次数",
        "administrative penalties decided",
        _M,
        "window",
        lambda d, a: R.window_count(
            d, a, 36, where=col_equals("event", "penalty"), date_col=R.DATE
        ),
    ),
    _MR(
        "MR_PENALTY_AMOUNT_36M",
        "近36月罚没金额",
        "penalty amount, 36 months",
        "regulatory",
        "float",
        "元 yuan",
        "36 months",
        "L1",
        "近36个月行政处罚的罚没金额之和",
        "sum of the fines of those penalties",
        (*_M, "amount"),
        "window",
        lambda d, a: R.window_sum(d.loc[d["event"] == "penalty"], "amount", a, 36, date_col=R.DATE),
    ),
    _MR(
        "MR_MONTHS_SINCE_PENALTY",
        "距最近行政处罚月数",
        "months since the latest penalty",
        "regulatory",
        "int",
        "月 months",
        "all history",
        "L1",
        "最近一次行政处罚决定日至观察日的整月数（空：从未处罚）",
        "whole months from the latest penalty to the observation date (empty: never)",
        _M,
        "history",
        lambda d, a: R.months_since(d, a, where=col_equals("event", "penalty")),
        None,
    ),
    _MR(
        "MR_ABNORMAL_LISTED",
        "经营异常名录在列",
        "on the abnormal-operation list",
        "regulatory",
        "flag",
        "0/1",
        "latest",
        "L1",
        "观察日当日或之前最近一次列入或移出事件为列入时取1",
        "1 when the latest listing or removal on or before the observation date is a listing",
        _M,
        "state",
        lambda d, a: R.latest_state(d, a, "event", "abnormal_listed", "abnormal_removed"),
    ),
    _MR(
        "MR_ABNORMAL_LISTINGS_36M",
        "近36月列入经营异常次数",
        "abnormal-operation listings, 36 months",
        "regulatory",
        "int",
        "次 count",
        "36 months",
        "L1",
        "近36个月被列入经营异常名录的次数",
        "listings on the abnormal-operation list in the last 36 months",
        _M,
        "window",
        lambda d, a: R.window_count(
            d, a, 36, where=col_equals("event", "abnormal_listed"), date_col=R.DATE
        ),
    ),
)

__all__ = ["COURTS", "MARKET_REGULATION"]
