"""The indicator library (指标库): indicators that agencies and banks offer, searchable by
code, name (中文 or English), description and category, filtered by owner, dimension and
family.

Two families (``features.indicators.synthetic.FAMILIES``): ``registry``, the point-in-time
indicators of ``features.indicators`` (computed by their owner from raw records as of the
observation date), and ``aggregated``, pre-aggregated columns of the owner's registered
dataset (the demo's synthetic tables). Only the second trains today: the experiment runner
reads columns of registered datasets, so :func:`trainable_indicators` refuses registry
indicators in an experiment with a hint.

Revealed to whom: indicator metadata (definitions, owner, category) to every reader the
access rules allow; never a value of an indicator.
"""

from __future__ import annotations

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from features.indicators import DIMENSIONS, SUB_DIMENSIONS
from features.indicators.synthetic import FAMILIES, FAMILY_AGGREGATED, FAMILY_REGISTRY
from lab.audit import append_event
from lab.errors import ConfigError, NotFoundError
from lab.models import (
    Indicator,
    IndicatorCreate,
    IndicatorPublic,
    Organization,
)
from lab.services.access import Action, Principal, Resource, Scope, require
from lab.services.datasets import get_dataset_row
from lab.services.organizations import get_org


def create_indicator(
    *, session: Session, actor: Principal, indicator_in: IndicatorCreate
) -> IndicatorPublic:
    org = get_org(session, indicator_in.org_code)
    require(
        actor,
        Resource.INDICATOR,
        Action.CREATE,
        Scope(owner_org_id=org.id),
        what=f"indicators of {org.code!r}",
    )
    if session.exec(select(Indicator).where(Indicator.code == indicator_in.code)).first():
        raise ConfigError(f"indicator {indicator_in.code!r} already exists")
    dataset_id = None
    if indicator_in.dataset_name:
        ds = get_dataset_row(session, org.id or 0, indicator_in.dataset_name)
        cols = {c.get("name") for c in ds.columns}
        if cols and indicator_in.column not in cols:
            raise ConfigError(
                f"indicator {indicator_in.code!r}: column {indicator_in.column!r} "
                f"is not in dataset {ds.name!r} of {org.code!r} "
                f"(columns: {sorted(c for c in cols if c)})"
            )
        dataset_id = ds.id
    ind = Indicator.model_validate(
        indicator_in, update={"owner_org_id": org.id, "dataset_id": dataset_id}
    )
    session.add(ind)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="create",
        object_type="indicator",
        object_id=ind.id or "",
        details={"code": ind.code, "organization": org.code},
    )
    return _indicator_public(ind, org.code)


#: dimension -> 中文 name; sub-dimension -> 中文 name; family -> its label
DIMENSION_LABELS: dict[str, str] = dict(DIMENSIONS)
SUB_DIMENSION_LABELS: dict[str, str] = {k: v.zh for k, v in SUB_DIMENSIONS.items()}
FAMILY_LABELS: dict[str, str] = dict(FAMILIES)
#: the family an experiment can train on today (columns of registered datasets)
TRAINABLE_FAMILY = FAMILY_AGGREGATED


def _indicator_public(ind: Indicator, owner_code: str) -> IndicatorPublic:
    update = {
        "owner_code": owner_code,
        "dimension_zh": DIMENSION_LABELS.get(ind.dimension, ind.dimension),
        "sub_dimension_zh": SUB_DIMENSION_LABELS.get(ind.sub_dimension, ind.sub_dimension),
        "family_zh": FAMILY_LABELS.get(ind.family, ind.family).split(" (")[0],
    }
    return IndicatorPublic.model_validate(ind, update=update)


def search_indicators(
    *,
    session: Session,
    actor: Principal,
    query: str = "",
    category: str | None = None,
    owner: str | None = None,
    dimension: str | None = None,
    family: str | None = None,
    limit: int = 200,
) -> list[IndicatorPublic]:
    """Indicators whose code, name (中文 or English), description (中文 or English) or
    category match, ordered by family (registry first), dimension and code."""
    require(actor, Resource.INDICATOR, Action.READ)
    stmt = select(Indicator, Organization.code).join(
        Organization, col(Organization.id) == col(Indicator.owner_org_id)
    )
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Indicator.code).like(like),
                func.lower(Indicator.name).like(like),
                col(Indicator.name_zh).like(f"%{query}%"),
                func.lower(Indicator.description).like(like),
                func.lower(Indicator.description_en).like(like),
                func.lower(Indicator.category).like(like),
            )
        )
    if category:
        stmt = stmt.where(Indicator.category == category)
    if owner:
        stmt = stmt.where(Organization.code == owner)
    if dimension:
        stmt = stmt.where(Indicator.dimension == dimension)
    if family:
        stmt = stmt.where(Indicator.family == family)
    order = (col(Indicator.family).desc(), col(Indicator.dimension), col(Indicator.code))
    rows = session.exec(stmt.order_by(*order).limit(limit)).all()
    return [_indicator_public(ind, code) for ind, code in rows]


def get_indicators(session: Session, codes: list[str]) -> list[Indicator]:
    """The named indicators, in order; :class:`NotFoundError` names every unknown code."""
    if not codes:
        return []
    rows = session.exec(select(Indicator).where(col(Indicator.code).in_(codes))).all()
    by_code = {r.code: r for r in rows}
    missing = [c for c in codes if c not in by_code]
    if missing:
        raise NotFoundError(
            f"unknown indicator(s) {missing}",
            hint="Search the indicator library: lab.indicators.search('...').",
        )
    return [by_code[c] for c in codes]


def trainable_indicators(session: Session, codes: list[str]) -> list[Indicator]:
    """:func:`get_indicators`, refusing registry indicators: the experiment runner trains
    on columns of registered datasets and does not compute indicators from raw records
    yet (docs/indicators.md, "Two families")."""
    inds = get_indicators(session, codes)
    registry = [i.code for i in inds if i.family == FAMILY_REGISTRY]
    if registry:
        raise ConfigError(
            f"indicator(s) {registry} of the family {FAMILY_REGISTRY!r} "
            f"({FAMILIES[FAMILY_REGISTRY]}) cannot be trained on yet: experiments run on "
            "columns of registered datasets",
            hint=f"Pick indicators of the family {FAMILY_AGGREGATED!r} "
            f"({FAMILIES[FAMILY_AGGREGATED]}): `fedlab lab indicators list --family "
            f"{FAMILY_AGGREGATED}`.",
        )
    return inds


__all__ = [
    "DIMENSION_LABELS",
    "FAMILY_LABELS",
    "SUB_DIMENSION_LABELS",
    "TRAINABLE_FAMILY",
    "create_indicator",
    "get_indicators",
    "search_indicators",
    "trainable_indicators",
]
