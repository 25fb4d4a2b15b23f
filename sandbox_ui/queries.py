"""Aggregates the sandbox shows, built on lab.services only, with a minimum cell size k.

Every number about data that leaves this module aggregates at least ``k`` enterprises
(default 10); a smaller cell becomes ``None`` and the page shows "<k (suppressed)". A
positive count is shown only when both the positives and the negatives of its cell reach
k (otherwise the difference from the total would give the small cell away). Model curves
are rebuilt from the stored aggregates (ROC points, or a per-band score histogram) as
score bands of at least k enterprises each.

Nothing here reads a party's file: inputs are ``*Public`` models and service results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
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

BANK_ROLES = frozenset({Role.BANK_MODELER, Role.DATA_SCIENTIST})


# ------------------------------------------------------------------ suppression
@dataclass(frozen=True)
class SampleStats:
    """A sample set's counts after suppression."""

    sample_id: int
    name: str
    label_definition: str
    window: str
    n_total: int | None
    n_positive: int | None
    n_negative: int | None

    @property
    def positive_rate(self) -> float | None:
        if self.n_total is None or self.n_positive is None or self.n_total == 0:
            return None
        return self.n_positive / self.n_total


def sample_stats(sample: SampleSetPublic, k: int) -> SampleStats:
    total, pos, neg = suppress_split(
        sample.n_total, sample.n_positive, sample.n_total - sample.n_positive, k
    )
    start = sample.observation_start.isoformat() if sample.observation_start else "…"
    end = sample.observation_end.isoformat() if sample.observation_end else "…"
    return SampleStats(
        sample_id=sample.id,
        name=sample.name,
        label_definition=sample.label_definition,
        window=f"{start} – {end}",
        n_total=total,
        n_positive=pos,
        n_negative=neg,
    )


def last_aligned_by_sample(
    models: Iterable[ModelVersionPublic], experiments: Iterable[ExperimentPublic], k: int
) -> dict[int, int | None]:
    """Per sample set: the aligned enterprises of its latest model's run (suppressed < k)."""
    sample_of = {e.id: e.sample_id for e in experiments}
    out: dict[int, int | None] = {}
    for mv in sorted(models, key=lambda m: m.id):
        sid = sample_of.get(mv.experiment_id)
        n = mv.metrics.get("n_aligned")
        if sid is not None and isinstance(n, int | float):
            out[sid] = suppress(int(n), k)
    return out


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
) -> list[IndicatorRow]:
    """Indicators matching the search, each with the consent state that matters to ``actor``."""
    inds = catalog.search_indicators(
        session=session,
        actor=actor,
        query=query,
        owner=owner or None,
        category=category or None,
        limit=500,
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


def indicator_facets(session: Session, actor: Principal) -> tuple[list[str], list[str]]:
    """The owners and the dimensions (categories) the indicator library can be filtered by."""
    inds = catalog.search_indicators(session=session, actor=actor, limit=10_000)
    return (sorted({i.owner_code for i in inds}), sorted({i.category for i in inds if i.category}))


def default_indicators(rows: Sequence[IndicatorRow], limit_own: int = 6) -> list[str]:
    """A sensible first pick: some of the bank's own indicators and every consented one."""
    own = [r.indicator.code for r in rows if r.consent == "own"][:limit_own]
    granted = [r.indicator.code for r in rows if r.consent == "granted"]
    return own + granted


# ------------------------------------------------------------------ names
def org_codes(session: Session, actor: Principal) -> dict[int, str]:
    return {o.id: o.code for o in catalog.list_organizations(session=session, actor=actor)}


def algorithms_by_id(session: Session, actor: Principal) -> dict[int, AlgorithmPublic]:
    return {a.id: a for a in catalog.list_algorithms(session=session, actor=actor)}


# ------------------------------------------------------------------ model curves
@dataclass(frozen=True)
class Bands:
    """Score bands from the highest score to the lowest, each of at least k enterprises:
    positives and negatives per band. Every curve below is cumulative over these bands."""

    pos: tuple[int, ...]
    neg: tuple[int, ...]

    @property
    def n(self) -> np.ndarray:
        return np.asarray(self.pos) + np.asarray(self.neg)

    @property
    def total(self) -> int:
        return int(sum(self.pos) + sum(self.neg))

    def roc(self) -> tuple[list[float], list[float]]:
        P, N = max(sum(self.pos), 1), max(sum(self.neg), 1)
        tpr = np.concatenate([[0.0], np.cumsum(self.pos) / P])
        fpr = np.concatenate([[0.0], np.cumsum(self.neg) / N])
        return fpr.tolist(), tpr.tolist()

    def depth(self) -> list[float]:
        return (np.cumsum(self.n) / max(self.total, 1)).tolist()

    def ks_curve(self) -> tuple[list[float], list[float], list[float], float]:
        """(depth, tpr, fpr, ks) with the origin prepended."""
        fpr, tpr = self.roc()
        depth = [0.0, *self.depth()]
        ks = float(np.max(np.abs(np.asarray(tpr) - np.asarray(fpr))))
        return depth, tpr, fpr, ks

    def lift(self) -> tuple[list[float], list[float]]:
        """(depth, cumulative lift) per band: positive rate of the top bands over the base rate."""
        P = sum(self.pos)
        if P == 0:
            return [], []
        base = P / self.total
        rate = np.cumsum(self.pos) / np.cumsum(self.n)
        return self.depth(), (rate / base).tolist()


def merge_bands(pos: Sequence[int], neg: Sequence[int], k: int) -> Bands | None:
    """Merge adjacent bands (top to bottom) until each holds at least k enterprises."""
    out_p: list[int] = []
    out_n: list[int] = []
    acc_p = acc_n = 0
    for p, n in zip(pos, neg, strict=True):
        acc_p, acc_n = acc_p + int(p), acc_n + int(n)
        if acc_p + acc_n >= k:
            out_p.append(acc_p)
            out_n.append(acc_n)
            acc_p = acc_n = 0
    if acc_p + acc_n:
        if not out_p:
            return None
        out_p[-1] += acc_p
        out_n[-1] += acc_n
    return Bands(tuple(out_p), tuple(out_n)) if out_p else None


def _class_counts(mv: ModelVersionPublic, base_rate: float | None) -> tuple[int, int] | None:
    m = mv.metrics
    n = m.get("n_valid")
    if not isinstance(n, int | float) or n <= 0:
        return None
    if isinstance(m.get("n_valid_positive"), int | float):
        p = int(m["n_valid_positive"])
    elif isinstance(m.get("valid_positive_rate"), int | float):
        p = round(float(m["valid_positive_rate"]) * n)
    elif base_rate is not None:
        p = round(base_rate * n)
    else:
        return None
    return int(p), int(n) - int(p)


def model_bands(mv: ModelVersionPublic, k: int, *, base_rate: float | None = None) -> Bands | None:
    """The model's validation results as score bands of at least k enterprises, or None.

    From ``metrics['score_hist_pos' / 'score_hist_neg']`` (counts per score bin, lowest
    score first) when the algorithm reports them, else from the stored ROC points and the
    validation size (``n_valid``) with the validation (or, failing that, the sample's)
    positive rate. Without counts nothing can be checked against k, so nothing is shown.
    """
    hp, hn = mv.metrics.get("score_hist_pos"), mv.metrics.get("score_hist_neg")
    if isinstance(hp, list) and isinstance(hn, list) and len(hp) == len(hn) and hp:
        return merge_bands([int(x) for x in reversed(hp)], [int(x) for x in reversed(hn)], k)
    fpr, tpr = mv.roc.get("fpr") or [], mv.roc.get("tpr") or []
    counts = _class_counts(mv, base_rate)
    if len(fpr) < 2 or len(fpr) != len(tpr) or counts is None:
        return None
    P, N = counts
    cum_p = np.rint(np.asarray(tpr, dtype=float) * P).astype(int)
    cum_n = np.rint(np.asarray(fpr, dtype=float) * N).astype(int)
    cum_p = np.maximum.accumulate(np.concatenate([[0], cum_p, [P]]))
    cum_n = np.maximum.accumulate(np.concatenate([[0], cum_n, [N]]))
    return merge_bands(np.diff(cum_p).tolist(), np.diff(cum_n).tolist(), k)


def headline_metrics(mv: ModelVersionPublic, k: int) -> dict[str, Any]:
    """AUC, KS and sizes; sizes below k are suppressed (None), and so are AUC and KS when
    the validation set they were measured on (``n_valid``) holds fewer than k enterprises."""
    m = mv.metrics
    out: dict[str, Any] = {}
    n_valid = m.get("n_valid")
    small = isinstance(n_valid, int | float) and n_valid < k
    for key in ("auc", "ks"):
        if isinstance(m.get(key), int | float):
            out[key] = None if small else round(float(m[key]), 4)
    for key in ("n_aligned", "n_train", "n_valid"):
        if isinstance(m.get(key), int | float):
            out[key] = suppress(int(m[key]), k)
    for key in ("epochs", "backend", "runtime"):
        if key in m:
            out[key] = m[key]
    return out


# ------------------------------------------------------------------ loss per epoch
COUNT_KEYS = ("n_valid", "n_train")


def _counts(source: Mapping[str, Any]) -> list[int]:
    out = [int(source[key]) for key in COUNT_KEYS if _count(source.get(key))]
    per_bank = source.get("bank_n_valid")
    if isinstance(per_bank, Mapping):
        out += [int(v) for v in per_bank.values() if _count(v)]
    return out


def _count(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v > 0


def loss_basis(
    progress: Sequence[Mapping[str, Any]], metrics: Mapping[str, Any] | None = None
) -> int | None:
    """The fewest enterprises the run's loss per epoch may be computed on, or None (unknown).

    An algorithm computes it on the validation rows (``n_valid``), or on the training rows
    (``n_train``) when it holds no validation split; a FedAvg round on the training rows of
    the banks sampled that round (each bank's validation count, ``bank_n_valid``, stands in
    for its training count: with a validation share below one half it is the smaller). So
    the basis is the smallest positive count of these that the run reported:
    in a recorded progress entry that carries them or, once the run has finished, in its
    model's metrics.
    """
    counts = [n for entry in progress for n in _counts(entry)]
    counts += _counts(metrics or {})
    return min(counts) if counts else None


@dataclass(frozen=True)
class LossCurve:
    """The loss per epoch as the sandbox may show it: ``losses`` is None unless the loss is
    known to be computed on at least k enterprises (``basis``)."""

    n_epochs: int
    basis: int | None
    losses: tuple[float, ...] | None


def loss_curve(
    progress: Sequence[Mapping[str, Any]], metrics: Mapping[str, Any] | None, k: int
) -> LossCurve:
    """The recorded losses (epochs and SecureBoost trees, in order), shown only when their
    basis (:func:`loss_basis`) is known and reaches ``k``; an unknown basis shows nothing,
    like a model curve without counts."""
    losses = tuple(
        float(p["loss"])
        for p in progress
        if isinstance(p.get("loss"), int | float) and not isinstance(p["loss"], bool)
    )
    basis = loss_basis(progress, metrics)
    shown = basis is not None and basis >= k
    return LossCurve(len(losses), basis, losses if shown else None)


def compare_rows(a: ModelVersionPublic, b: ModelVersionPublic, k: int) -> list[dict[str, Any]]:
    """Headline metrics of two versions side by side."""
    ha, hb = headline_metrics(a, k), headline_metrics(b, k)
    keys = [
        key
        for key in ("auc", "ks", "n_aligned", "n_train", "n_valid", "epochs", "backend")
        if key in ha or key in hb
    ]

    def cell(h: dict[str, Any], key: str) -> str:
        if key not in h:
            return ""
        return f"<{k}" if h[key] is None else str(h[key])

    return [
        {
            "metric": key,
            f"{a.name} v{a.version}": cell(ha, key),
            f"{b.name} v{b.version}": cell(hb, key),
        }
        for key in keys
    ]


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


def models_of(session: Session, actor: Principal) -> list[ModelVersionPublic]:
    return models_library.list_models(session=session, actor=actor)


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
    "scorecard_points",
    "suppress",
    "suppress_split",
]
