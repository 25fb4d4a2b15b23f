"""The indicator library (指标库): indicators that agencies and banks offer, searchable by
code, name (中文 or English), description and category.

Revealed to whom: indicator metadata (definitions, owner, category) to every reader the
access rules allow; never a value of an indicator.
"""

from __future__ import annotations

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

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


def _indicator_public(ind: Indicator, owner_code: str) -> IndicatorPublic:
    return IndicatorPublic.model_validate(ind, update={"owner_code": owner_code})


def search_indicators(
    *,
    session: Session,
    actor: Principal,
    query: str = "",
    category: str | None = None,
    owner: str | None = None,
    limit: int = 200,
) -> list[IndicatorPublic]:
    """Indicators whose code, name (中文 or English), description or category match."""
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
                func.lower(Indicator.category).like(like),
            )
        )
    if category:
        stmt = stmt.where(Indicator.category == category)
    if owner:
        stmt = stmt.where(Organization.code == owner)
    rows = session.exec(stmt.order_by(Indicator.code).limit(limit)).all()
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


__all__ = [
    "create_indicator",
    "get_indicators",
    "search_indicators",
]
