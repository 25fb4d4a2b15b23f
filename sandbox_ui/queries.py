"""What the sandbox's pages show, built on lab.services only: indicator rows with their
consent state, names, the bank's own scorecard points and the approval's disclosure table.

Disclosure control is the service layer's (lab.services.disclosure, re-exported here:
sample counts, headline metrics, score bands and the loss per epoch at k), so the sandbox
shows exactly what the SDK and the CLI show. Every number about data aggregates at least
``k`` enterprises; a smaller cell is ``None`` and the page shows "<k (suppressed)".

Nothing here reads a party's file: inputs are ``*Public`` models and service results.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from lab.disclosure import suppress, suppress_split
from lab.errors import AccessDeniedError, NotFoundError
from lab.models import (
    AlgorithmPublic,
    ConsentGrantPublic,
    ExperimentPublic,
    IndicatorPublic,
    ModelVersionPublic,
    Role,
    SampleSetPublic,
)
from lab.services import catalog, consent, models_library
from lab.services.access import Principal
from lab.services.disclosure import (
    Bands,
    LossCurve,
    SampleStats,
    compare_rows,
    headline_metrics,
    last_aligned_by_sample,
    loss_basis,
    loss_curve,
    merge_bands,
    model_bands,
    sample_stats,
)
from lab.services.indicators import DEFAULT_FAMILY, DIMENSION_LABELS, FAMILY_LABELS

BANK_ROLES = frozenset({Role.BANK_MODELER, Role.DATA_SCIENTIST})


# ------------------------------------------------------------------ indicators
@dataclass(frozen=True)
class IndicatorRow:
    indicator: IndicatorPublic
    consent: str  # own | granted | expired | revoked | missing | banks
    until: datetime | None = None
    n_banks: int | None = None  # agencies and staff: banks holding a grant in force


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _in_force(g: ConsentGrantPublic, now: datetime) -> bool:
    return g.revoked_at is None and _aware(g.expires_at) > now


def consent_state(
    ind: IndicatorPublic, bank_org_id: int, grants: Sequence[ConsentGrantPublic], now: datetime
) -> tuple[str, datetime | None]:
    """A bank's consent state for one indicator (own, granted, expired, revoked, missing)."""
    if ind.owner_org_id == bank_org_id:
        return "own", None
    covering = [
        g
        for g in grants
        if g.agency_org_id == ind.owner_org_id
        and g.bank_org_id == bank_org_id
        and ind.code in g.indicator_codes
    ]
    live = [g for g in covering if _in_force(g, now)]
    if live:
        return "granted", max(_aware(g.expires_at) for g in live)
    if any(g.revoked_at is None for g in covering):
        return "expired", None
    if covering:
        return "revoked", None
    return "missing", None


def indicator_rows(
    session: Session,
    actor: Principal,
    *,
    query: str = "",
    owner: str | None = None,
    category: str | None = None,
    dimension: str | None = None,
    family: str | None = None,
) -> list[IndicatorRow]:
    """Indicators matching the search, each with the consent state that matters to ``actor``."""
    inds = catalog.search_indicators(
        session=session,
        actor=actor,
        query=query,
        owner=owner or None,
        category=category or None,
        dimension=dimension or None,
        family=family or None,
        limit=100_000,
    )
    grants = consent.list_consents(session=session, actor=actor)
    now = datetime.now(UTC)
    rows: list[IndicatorRow] = []
    for ind in inds:
        if Role(actor.role) in BANK_ROLES and actor.org_id is not None:
            state, until = consent_state(ind, actor.org_id, grants, now)
            rows.append(IndicatorRow(ind, state, until))
        else:
            banks = {
                g.bank_org_id
                for g in grants
                if g.agency_org_id == ind.owner_org_id
                and ind.code in g.indicator_codes
                and _in_force(g, now)
            }
            own = actor.org_id is not None and ind.owner_org_id == actor.org_id
            rows.append(
                IndicatorRow(ind, "banks" if banks or not own else "own", n_banks=len(banks))
            )
    return rows


def indicator_facets(session: Session, actor: Principal) -> tuple[list[str], list[str], list[str]]:
    """What the indicator library can be filtered by: owners, dimensions and families (keys,
    in the library's order; labels in ``DIMENSION_LABELS`` and ``FAMILY_LABELS``)."""
    inds = catalog.search_indicators(session=session, actor=actor, limit=100_000)
    dims = {i.dimension for i in inds}
    families = {i.family for i in inds}
    return (
        sorted({i.owner_code for i in inds}),
        [d for d in DIMENSION_LABELS if d in dims],
        [f for f in FAMILY_LABELS if f in families],
    )


def trainable(rows: Sequence[IndicatorRow]) -> list[IndicatorRow]:
    """The indicators an experiment can name: those whose owner registered the data they
    are computed from (a table, or a raw-record folder for registry indicators)."""
    return [r for r in rows if r.indicator.computable]


def default_indicators(rows: Sequence[IndicatorRow], limit_own: int = 6) -> list[str]:
    """A sensible first pick among the indicators an experiment can train on: some of the
    bank's own and every consented one."""
    rows = [r for r in trainable(rows) if r.indicator.family == DEFAULT_FAMILY]
    own = sorted(r.indicator.code for r in rows if r.consent == "own")[:limit_own]
    granted = [r.indicator.code for r in rows if r.consent == "granted"]
    return own + granted


# ------------------------------------------------------------------ names
def org_codes(session: Session, actor: Principal) -> dict[int, str]:
    return {o.id: o.code for o in catalog.list_organizations(session=session, actor=actor)}


def algorithms_by_id(session: Session, actor: Principal) -> dict[int, AlgorithmPublic]:
    return {a.id: a for a in catalog.list_algorithms(session=session, actor=actor)}


# ------------------------------------------------------------------ scorecard points
def scorecard_points(mv: ModelVersionPublic, own_columns: Iterable[str]) -> list[dict[str, Any]]:
    """The bank's own scorecard points: metrics ``points.<column>.<bin>`` for its columns.

    Points of a host's features stay with the host and are never listed here.
    """
    own = sorted(set(own_columns), key=len, reverse=True)  # "a.b" before "a"
    rows = []
    for key, value in mv.metrics.items():
        if not key.startswith("points.") or not isinstance(value, int | float):
            continue
        rest = key.removeprefix("points.")
        column = next((c for c in own if rest.startswith(f"{c}.")), None)
        if column is not None:  # a bin label may hold dots ("[0.5, 1.5)"), a column too
            rows.append({"column": column, "bin": rest[len(column) + 1 :], "points": value})
    base = mv.metrics.get("points_base")
    if rows and isinstance(base, int | float):
        rows.insert(0, {"column": "(base)", "bin": "", "points": base})
    return rows


def grade_rows(mv: ModelVersionPublic, key: str) -> list[dict[str, Any]]:
    """A scorecard's grade table ``key`` (``grades`` or ``grades_dev``) as released (count,
    share and bad rate already None where below k): grade, score range, count, share and
    bad rate per grade, best first. Empty when the model has no such table."""
    rows = mv.metrics.get(key)
    scaling = mv.metrics.get("scaling")
    if not isinstance(rows, list) or not rows:
        return []
    top = float(scaling.get("max_score", 700)) if isinstance(scaling, dict) else 700.0
    floor = float(scaling.get("min_score", 400)) if isinstance(scaling, dict) else 400.0
    out, high = [], top
    for row in rows:
        low = row.get("low")
        low = floor if low is None else max(float(low), floor)
        out.append({**row, "range": f"{low:.0f}–{high:.0f}"})
        high = low
    return out


def own_columns(session: Session, actor: Principal, indicator_codes: Iterable[str]) -> list[str]:
    """Columns of the actor's own organization among ``indicator_codes``."""
    codes = set(indicator_codes)
    return [
        i.column
        for i in catalog.search_indicators(session=session, actor=actor, limit=10_000)
        if i.code in codes and i.owner_org_id == actor.org_id
    ]


# ------------------------------------------------------------------ approvals
@dataclass(frozen=True)
class PartyDisclosure:
    party: str
    role: str  # guest | host | coordinator
    indicators: tuple[str, ...]
    sends: str
    learns: str


_DISCLOSURE: dict[str, dict[str, tuple[tuple[str, str], tuple[str, str]]]] = {
    "hetero_lr": {
        "guest": (
            (
                "PSI 盲化 ID；加密/掩码的残差与梯度",
                "blinded IDs for PSI; encrypted or masked residuals and gradients",
            ),
            (
                "对齐规模；验证集上各数据源部分得分之和（用于损失、AUC、KS）",
                "aligned counts; the sum of the hosts' partial scores on validation rows "
                "(for loss, AUC, KS)",
            ),
        ),
        "host": (
            (
                "PSI 盲化 ID；掩码后的部分得分与梯度",
                "blinded IDs for PSI; masked partial scores and gradients",
            ),
            ("对齐规模、批次位置；不知道标签", "aligned counts and batch positions; no labels"),
        ),
        "coordinator": (
            ("公钥、批次计划", "public key, batch plan"),
            (
                "规模、掩码梯度（噪声）、每轮验证损失、AUC、KS",
                "sizes, masked gradients (noise), validation loss per epoch, AUC, KS",
            ),
        ),
    },
    "secureboost": {
        "guest": (
            ("加密的梯度/海森", "encrypted gradients and hessians"),
            (
                "各数据源分箱的梯度汇总、数据源分裂的左右划分",
                "per-bin gradient sums of host features; left/right partition of host splits",
            ),
        ),
        "host": (
            ("加密分箱汇总", "encrypted bin sums"),
            (
                "样本划分（标准 SecureBoost 披露）；不知道标签",
                "the instance-space partition (SecureBoost's standard disclosure); no labels",
            ),
        ),
        "coordinator": (
            ("密钥与调度", "keys and scheduling"),
            ("规模与评估指标", "sizes and evaluation metrics"),
        ),
    },
    "scorecard": {
        "guest": (
            (
                "PSI 盲化 ID；加密的标签；分箱合并指令；加密/掩码的残差与梯度；"
                "本行自有评分卡分值表（存入模型库）",
                "blinded IDs for PSI; encrypted labels; bin merge instructions; encrypted "
                "or masked residuals and gradients; its own points table (filed in the "
                "model library)",
            ),
            (
                "数据源各分箱的样本数与违约数（每箱不少于最小箱样本数）；验证集上各数据源分值之和",
                "per host bin, its counts of enterprises and defaults (each bin at least "
                "min_bin_size); the sum of the hosts' points on validation rows",
            ),
        ),
        "host": (
            (
                "PSI 盲化 ID；各分箱的加密标签和与样本数；掩码后的部分得分、梯度与分值；分值摘要",
                "blinded IDs for PSI; encrypted per-bin label sums and bin counts; masked "
                "partial scores, gradients and points; a points summary (bins, range)",
            ),
            (
                "自有合并箱的 WOE（由此可得每箱违约数）；不知道单个标签",
                "the WOE of its own merged bins (hence their default counts); no single label",
            ),
        ),
        "coordinator": (
            ("公钥、批次计划、评分刻度", "public key, batch plan, points scale"),
            (
                "各分箱样本数、合并分组、WOE 与 IV、掩码梯度、评估指标、银行自有评分卡分值表",
                "per-bin counts, merge groups, WOE and IV, masked gradients, "
                "evaluation metrics, the bank's own points table",
            ),
        ),
    },
}
_DEFAULT_DISCLOSURE = {
    "guest": (
        ("协议消息（加密或掩码）", "protocol messages (encrypted or masked)"),
        ("汇总评估指标", "aggregate evaluation metrics"),
    ),
    "host": (
        ("协议消息（加密或掩码）", "protocol messages (encrypted or masked)"),
        ("对齐规模", "aligned counts"),
    ),
    "coordinator": (("调度", "scheduling"), ("规模与汇总指标", "sizes and aggregate metrics")),
}


def disclosure_summary(
    session: Session, actor: Principal, exp: ExperimentPublic, lang: str = "zh"
) -> list[PartyDisclosure]:
    """Who takes part in ``exp`` and what each party sends and learns (by the protocol docs)."""
    algos = algorithms_by_id(session, actor)
    codes = org_codes(session, actor)
    algo = algos[exp.algorithm_id].name if exp.algorithm_id in algos else ""
    table = _DISCLOSURE.get(algo, _DEFAULT_DISCLOSURE)
    inds = {
        i.code: i for i in catalog.search_indicators(session=session, actor=actor, limit=10_000)
    }
    by_owner: dict[int, list[str]] = {}
    for code in exp.indicator_codes:
        if code in inds:
            by_owner.setdefault(inds[code].owner_org_id, []).append(code)
    pick = 1 if lang == "en" else 0

    def row(party: str, role: str, ind: Sequence[str]) -> PartyDisclosure:
        sends, learns = table[role]
        return PartyDisclosure(party, role, tuple(ind), sends[pick], learns[pick])

    out = [
        row(
            codes.get(exp.owner_org_id, str(exp.owner_org_id)),
            "guest",
            by_owner.get(exp.owner_org_id, []),
        )
    ]
    for owner, ind in sorted(by_owner.items()):
        if owner != exp.owner_org_id:
            out.append(row(codes.get(owner, str(owner)), "host", ind))
    out.append(row("platform", "coordinator", []))
    return out


def sample_for_model(
    session: Session, actor: Principal, mv: ModelVersionPublic
) -> SampleSetPublic | None:
    sid = mv.lineage.get("sample")
    if not isinstance(sid, int):
        return None
    try:
        return catalog.get_sample(session=session, actor=actor, sample_id=sid)
    except (AccessDeniedError, NotFoundError):  # a sample the actor may not read
        return None


def models_of(session: Session, actor: Principal, k: int | None = None) -> list[ModelVersionPublic]:
    """The model versions the actor may see, their metrics released at k."""
    return models_library.list_models(session=session, actor=actor, k=k)


__all__ = [
    "Bands",
    "IndicatorRow",
    "LossCurve",
    "PartyDisclosure",
    "SampleStats",
    "algorithms_by_id",
    "compare_rows",
    "consent_state",
    "default_indicators",
    "disclosure_summary",
    "headline_metrics",
    "indicator_facets",
    "indicator_rows",
    "last_aligned_by_sample",
    "loss_basis",
    "loss_curve",
    "merge_bands",
    "model_bands",
    "models_of",
    "org_codes",
    "own_columns",
    "sample_for_model",
    "sample_stats",
    "grade_rows",
    "scorecard_points",
    "suppress",
    "suppress_split",
    "trainable",
]
