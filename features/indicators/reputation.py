"""Market regulation's indicators over intellectual-property registrations (知识产权: trademarks
and patents) and over complaints, reports and negative media coverage (投诉举报与舆情).

Each indicator is computed at market regulation from its own records; nothing leaves the
party here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import records as R
from features.indicators.spec import Compute, For, Indicator

_IP = For("ip_registrations")
_PO = For("complaints")
HALF_LIFE_DAYS = 365.25 / 2


def _in_force(kinds: tuple[str, ...] | None = None) -> Compute:
    def compute(d: pd.DataFrame, a: str) -> pd.Series:
        k = R.known_by(d, a, R.DATE)
        live = pd.to_datetime(k["valid_until"], errors="coerce") > R.as_of_ts(a)
        if kinds is not None:
            live &= k["kind"].isin(kinds)
        return live.groupby(k[R.ID], sort=True).sum().astype(np.float64)

    return compute


def _unresolved(d: pd.DataFrame, a: str) -> pd.Series:
    k = R.known_by(d, a, R.DATE)
    done = pd.to_datetime(k["resolved_on"], errors="coerce")
    open_ = (k["channel"] != "media") & (done.isna() | (done > R.as_of_ts(a)))
    return open_.groupby(k[R.ID], sort=True).sum().astype(np.float64)


def _sentiment(d: pd.DataFrame, a: str) -> pd.Series:
    w = R.in_window(d, a, 24, R.DATE)
    age = (R.as_of_ts(a) - pd.to_datetime(w[R.DATE])).dt.days
    weight = w["severity"].astype(np.float64) * 0.5 ** (age / HALF_LIFE_DAYS)
    return weight.groupby(w[R.ID], sort=True).sum().astype(np.float64)


_IP_N = ("date", "kind", "valid_until")
_PO_N = ("date", "channel")
INTELLECTUAL_PROPERTY: tuple[Indicator, ...] = (
    _IP(
        "IP_STOCK",
        "知识产权储备",
        "intellectual property in force",
        "innovation",
        "int",
        "件 count",
        "all history",
        "L1",
        "观察日有效的注册商标与专利（发明、实用新型、外观设计）件数",
        "trademarks and patents (invention, utility model, design) in force on the "
        "observation date",
        _IP_N,
        "in_force",
        _in_force(),
    ),
    _IP(
        "IP_INVENTION_PATENTS",
        "有效发明专利数",
        "invention patents in force",
        "innovation",
        "int",
        "件 count",
        "all history",
        "L1",
        "观察日有效的发明专利件数",
        "invention patents in force on the observation date",
        _IP_N,
        "in_force",
        _in_force(("invention_patent",)),
    ),
    _IP(
        "IP_TRADEMARKS",
        "有效注册商标数",
        "registered trademarks in force",
        "innovation",
        "int",
        "件 count",
        "all history",
        "L1",
        "观察日有效的注册商标件数",
        "registered trademarks in force on the observation date",
        _IP_N,
        "in_force",
        _in_force(("trademark",)),
    ),
    _IP(
        "IP_NEW_36M",
        "近36月新增知识产权数",
        "new intellectual property, 36 months",
        "innovation",
        "int",
        "件 count",
        "36 months",
        "L1",
        "近36个月获得授权或核准注册的商标与专利件数",
        "trademarks and patents granted in the last 36 months",
        ("date", "kind"),
        "window",
        lambda d, a: R.window_count(d, a, 36, date_col=R.DATE),
    ),
)

COMPLAINTS: tuple[Indicator, ...] = (
    _PO(
        "PO_SENTIMENT_INDEX",
        "舆情风险指数",
        "public-opinion risk index",
        "reputation",
        "float",
        "指数 index",
        "24 months",
        "L2",
        "近24个月每条投诉、举报与负面报道的严重程度（1–3）× 0.5^(距观察日天数 ÷ 182.6) 之和"
        "（半衰期6个月）",
        "sum over the complaints, reports and negative reports of the last 24 months of "
        "severity (1–3) × 0.5^(days before the observation date / 182.6) (half-life 6 months)",
        (*_PO_N, "severity"),
        "window",
        _sentiment,
    ),
    _PO(
        "PO_COMPLAINTS_12M",
        "近12月投诉举报数",
        "complaints and reports, 12 months",
        "reputation",
        "int",
        "件 count",
        "12 months",
        "L2",
        "近12个月受理的针对企业的投诉与举报件数（12315等渠道）",
        "complaints and reports about the enterprise received in the last 12 months",
        _PO_N,
        "window",
        lambda d, a: R.window_count(
            d, a, 12, where=lambda x: x["channel"] != "media", date_col=R.DATE
        ),
    ),
    _PO(
        "PO_MEDIA_NEGATIVE_12M",
        "近12月负面媒体报道数",
        "negative media reports, 12 months",
        "reputation",
        "int",
        "篇 count",
        "12 months",
        "L2",
        "近12个月监测到的企业负面媒体报道篇数",
        "negative media reports about the enterprise in the last 12 months",
        _PO_N,
        "window",
        lambda d, a: R.window_count(
            d, a, 12, where=lambda x: x["channel"] == "media", date_col=R.DATE
        ),
    ),
    _PO(
        "PO_UNRESOLVED",
        "当前未办结投诉举报数",
        "complaints unresolved on the observation date",
        "reputation",
        "int",
        "件 count",
        "all history",
        "L2",
        "观察日前受理、观察日时尚未办结的投诉与举报件数",
        "complaints and reports received by the observation date and not resolved on it",
        (*_PO_N, "resolved_on"),
        "resolved",
        _unresolved,
    ),
)

__all__ = ["COMPLAINTS", "HALF_LIFE_DAYS", "INTELLECTUAL_PROPERTY"]
