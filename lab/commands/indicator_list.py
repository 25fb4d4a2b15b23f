"""The text of ``fedlab lab indicators list``: the 指标库 by dimension, Chinese first.

Revealed to whom: indicator metadata only (what every catalog reader may see).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from lab.models import IndicatorPublic
from lab.services.indicators import DIMENSION_LABELS, FAMILY_LABELS

_EN = {
    "financial_health": "financial health",
    "operating_activity": "operating activity",
    "risk_resilience": "risk resilience",
}


def _line(i: IndicatorPublic) -> str:
    return (
        f"  {i.code:<34} {i.owner_code:<18} {i.sub_dimension_zh or '—':<8} "
        f"{i.name_zh or '—'} · {i.name}"
    )


def library_lines(rows: Sequence[IndicatorPublic]) -> list[str]:
    """One block per family and dimension, then the counts: registry indicators are
    counted once per registry code (each bank holds its own copy of the bank's)."""
    out: list[str] = []
    for family, label in FAMILY_LABELS.items():
        mine = [r for r in rows if r.family == family]
        if not mine:
            continue
        out.append(f"== {label} ==")
        for dim, zh in DIMENSION_LABELS.items():
            block = [r for r in mine if r.dimension == dim]
            if block:
                out.append(f"{zh} {_EN[dim]} ({len(block)})")
                out.extend(_line(r) for r in block)
        rest = [r for r in mine if r.dimension not in DIMENSION_LABELS]
        if rest:
            out.append(f"未分维度 no dimension ({len(rest)})")
            out.extend(_line(r) for r in rest)
    registry = [r for r in rows if r.family == "registry"]
    codes = {r.column: r.dimension for r in registry}
    dims = Counter(codes.values())
    per_dim = " · ".join(f"{zh} {dims[d]}" for d, zh in DIMENSION_LABELS.items())
    out.append(
        f"记录指标 {len(codes)} 项（{len(registry)} 条目录记录），{len(dims)} 个维度：{per_dim}；"
        f"合成汇总指标 {sum(r.family == 'aggregated' for r in rows)} 条"
    )
    out.append(
        f"{len(codes)} registry indicators ({len(registry)} catalog entries) in "
        f"{len(dims)} dimensions; {sum(r.family == 'aggregated' for r in rows)} "
        "pre-aggregated columns"
    )
    return out


__all__ = ["library_lines"]
