"""The indicator library (指标库): indicators that agencies and banks offer, searchable by
code, name (中文 or English), description and category, filtered by owner, dimension and
family.

Two families (``features.indicators.synthetic.FAMILIES``): ``registry``, the point-in-time
indicators of ``features.indicators`` (computed by their owner from its raw records as of
the observation date, at its own node: federation.partyrecords), and ``aggregated``,
pre-aggregated columns of the owner's registered table (the demo's synthetic tables). Both
train: a registry indicator of an agency names the agency's registered raw-record folder
(a dataset of kind ``records``); the bank's own registry indicators need the sample's
dataset to be the bank's record folder. :func:`trainable_indicators` refuses an experiment
whose indicators have no such data, naming the indicator and the owner.

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
    DatasetRegistration,
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
        _check_family(indicator_in, ds.kind, ds.name, org.code)
        if ds.kind == "records":
            pass  # the column is a registry code of the owner (checked above)
        elif cols and indicator_in.column not in cols:
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


def _check_family(indicator_in: IndicatorCreate, kind: str, dataset: str, org: str) -> None:
    """A registry indicator lives in a record folder and is one of its owner's; an
    aggregated one in a table."""
    from features.indicators import REGISTRY, owner_key

    registry = indicator_in.family == FAMILY_REGISTRY
    if registry != (kind == "records"):
        raise ConfigError(
            f"indicator {indicator_in.code!r} of the family {indicator_in.family!r} cannot "
            f"live in {org!r}'s dataset {dataset!r} of kind {kind!r}",
            hint="Registry indicators are computed from a raw-record folder (kind "
            "'records'); aggregated ones are columns of a table (kind 'table').",
        )
    if registry:
        ind = REGISTRY.get(indicator_in.column)
        if ind is None or ind.owner != owner_key(org):
            raise ConfigError(
                f"indicator {indicator_in.code!r}: column {indicator_in.column!r} is not a "
                f"registry indicator {org!r} computes",
                hint="`fedlab lab indicators list --family registry --owner " + org + "`",
            )


#: dimension -> 中文 name; sub-dimension -> 中文 name; family -> its label
DIMENSION_LABELS: dict[str, str] = dict(DIMENSIONS)
SUB_DIMENSION_LABELS: dict[str, str] = {k: v.zh for k, v in SUB_DIMENSIONS.items()}
FAMILY_LABELS: dict[str, str] = dict(FAMILIES)
#: the family a new experiment's first indicators are picked from (the tables' columns)
DEFAULT_FAMILY = FAMILY_AGGREGATED


def _indicator_public(ind: Indicator, owner_code: str) -> IndicatorPublic:
    update = {
        "owner_code": owner_code,
        "dimension_zh": DIMENSION_LABELS.get(ind.dimension, ind.dimension),
        "sub_dimension_zh": SUB_DIMENSION_LABELS.get(ind.sub_dimension, ind.sub_dimension),
        "family_zh": FAMILY_LABELS.get(ind.family, ind.family).split(" (")[0],
        "computable": ind.dataset_id is not None,
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


def trainable_indicators(
    session: Session,
    codes: list[str],
    *,
    owner_org_id: int | None = None,
    sample_dataset_id: int | None = None,
) -> list[Indicator]:
    """:func:`get_indicators`, refusing an indicator no party can compute: one with no
    registered data (an agency's registry indicator needs its record folder, an aggregated
    one its table), and a registry indicator of the bank that trains (``owner_org_id``)
    when the sample's dataset (``sample_dataset_id``) is not the bank's record folder."""
    inds = get_indicators(session, codes)
    guest_kind = None
    if sample_dataset_id is not None:
        ds = session.get(DatasetRegistration, sample_dataset_id)
        guest_kind = ds.kind if ds is not None else None
    for ind in inds:
        if ind.owner_org_id == owner_org_id and owner_org_id is not None:
            if ind.family == FAMILY_REGISTRY and guest_kind != "records":
                raise ConfigError(
                    f"indicator {ind.code!r} is computed from the bank's raw records, but the "
                    "sample's dataset is a table",
                    hint="Build the sample on the bank's record folder (a dataset of kind "
                    "'records' with labels.csv), or pick the table's columns.",
                )
            continue
        if ind.dataset_id is None:
            org = session.get(Organization, ind.owner_org_id)
            what = "raw-record folder" if ind.family == FAMILY_REGISTRY else "table"
            raise ConfigError(
                f"indicator {ind.code!r} ({FAMILIES.get(ind.family, ind.family)}): its owner "
                f"{org.code if org else ind.owner_org_id!r} has registered no {what} to "
                "compute it from",
                hint="The owner registers its data (`fedlab lab datasets register --kind "
                "records` for a record folder) and links the indicator; until then pick "
                "another indicator (`fedlab lab indicators list`).",
            )
    return inds


__all__ = [
    "DEFAULT_FAMILY",
    "DIMENSION_LABELS",
    "FAMILY_LABELS",
    "SUB_DIMENSION_LABELS",
    "create_indicator",
    "get_indicators",
    "search_indicators",
    "trainable_indicators",
]
