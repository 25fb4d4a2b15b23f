"""Dataset registrations: a party's schema and row count, registered in the catalog.

A dataset is a table (one row per enterprise) or a folder of the party's raw records
(kind ``records``), from which the party computes registry indicators at run time.

Revealed to whom: the schema and the row count to the owner and the platform; where the
data lies at the party (its location) stays on the table row and is never returned.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from features.indicators import REGISTRY, TABLES, owner_key, tables_of
from features.indicators.synthetic import FAMILY_REGISTRY
from lab.audit import append_event
from lab.errors import ConfigError, NotFoundError
from lab.models import (
    DatasetCreate,
    DatasetPublic,
    DatasetRegistration,
    Indicator,
    Organization,
    row_id,
)
from lab.services.access import Action, Principal, Resource, Scope, allowed, require
from lab.services.organizations import get_org

#: dataset kinds: a table of one row per enterprise; a folder of the party's raw records
#: (``records_<table>.csv``, federation.partyrecords) for registry indicators
DATASET_KINDS = ("table", "records")


def register_dataset(
    *, session: Session, actor: Principal, dataset_in: DatasetCreate
) -> DatasetPublic:
    org = get_org(session, dataset_in.org_code)
    require(
        actor,
        Resource.DATASET,
        Action.CREATE,
        Scope(owner_org_id=org.id),
        what=f"datasets of {org.code!r}",
    )
    exists = session.exec(
        select(DatasetRegistration).where(
            DatasetRegistration.org_id == org.id, DatasetRegistration.name == dataset_in.name
        )
    ).first()
    if exists:
        raise ConfigError(f"{org.code!r} already registered a dataset named {dataset_in.name!r}")
    if dataset_in.kind not in DATASET_KINDS:
        raise ConfigError(
            f"dataset {dataset_in.name!r}: kind {dataset_in.kind!r} is not one of "
            f"{list(DATASET_KINDS)}"
        )
    ds = DatasetRegistration(
        name=dataset_in.name,
        kind=dataset_in.kind,
        id_column=dataset_in.id_column,
        columns=dataset_in.columns,
        row_count=dataset_in.row_count,
        description=dataset_in.description,
        org_id=row_id(org),
        location=dataset_in.location,
    )
    session.add(ds)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="register",
        object_type="dataset",
        object_id=ds.id or "",
        details={
            "name": ds.name,
            "kind": ds.kind,
            "organization": org.code,
            "row_count": ds.row_count,
            "columns": len(ds.columns),
        },
    )
    return DatasetPublic.model_validate(ds)


def register_record_folder(
    *,
    session: Session,
    actor: Principal,
    org_code: str,
    name: str,
    location: str,
    tables: list[str],
    row_count: int = 0,
    description: str = "",
) -> tuple[DatasetPublic, list[str]]:
    """A party's raw-record folder (kind ``records``) holding ``records_<table>.csv`` for
    ``tables``, and every registry indicator of the party computed from those tables linked
    to it (so experiments can name them; the party computes them at its node). Returns the
    dataset and the codes linked. The folder itself is at the party: the lab checks the
    table names, never the files."""
    org = get_org(session, org_code)
    require(
        actor,
        Resource.INDICATOR,
        Action.CREATE,
        Scope(owner_org_id=org.id),
        what=f"indicators of {org.code!r}",
    )
    mine = tables_of(org.code)
    bad = [t for t in tables if t not in mine]
    if bad or not tables:
        raise ConfigError(
            f"{org.code!r} keeps no record table(s) {bad or tables}",
            hint=f"{owner_key(org.code)}'s record tables: {mine} "
            f"({', '.join(TABLES[t].zh for t in mine)})",
        )
    ds = register_dataset(
        session=session,
        actor=actor,
        dataset_in=DatasetCreate(
            name=name,
            kind="records",
            org_code=org.code,
            location=location,
            columns=[{"name": f"records_{t}.csv", "dtype": "records"} for t in tables],
            row_count=row_count,
            description=description or f"{org.code}'s raw records",
        ),
    )
    linked = _link_registry(session, row_id(org), ds.id, set(tables))
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="link",
        object_type="dataset",
        object_id=ds.id,
        details={"organization": org.code, "tables": sorted(tables), "indicators": len(linked)},
    )
    return ds, linked


def _link_registry(session: Session, org_id: int, dataset_id: int, tables: set[str]) -> list[str]:
    """Point the org's registry indicators whose table is in ``tables`` at the dataset."""
    rows = session.exec(
        select(Indicator).where(
            Indicator.owner_org_id == org_id, Indicator.family == FAMILY_REGISTRY
        )
    ).all()
    linked = []
    for ind in rows:
        reg = REGISTRY.get(ind.column)
        if reg is not None and reg.table in tables:
            ind.dataset_id = dataset_id
            session.add(ind)
            linked.append(ind.code)
    return sorted(linked)


def list_datasets(*, session: Session, actor: Principal) -> list[DatasetPublic]:
    rows = session.exec(select(DatasetRegistration).order_by(col(DatasetRegistration.id))).all()
    return [
        DatasetPublic.model_validate(d)
        for d in rows
        if allowed(actor, Resource.DATASET, Action.READ, Scope(owner_org_id=d.org_id))
    ]


def get_dataset(*, session: Session, actor: Principal, dataset_id: int) -> DatasetPublic:
    ds = session.get(DatasetRegistration, dataset_id)
    if ds is None:
        raise NotFoundError(f"no dataset registration with id {dataset_id}")
    require(
        actor,
        Resource.DATASET,
        Action.READ,
        Scope(owner_org_id=ds.org_id),
        what=f"dataset {dataset_id}",
    )
    return DatasetPublic.model_validate(ds)


def get_dataset_row(session: Session, org_id: int, name: str) -> DatasetRegistration:
    ds = session.exec(
        select(DatasetRegistration).where(
            DatasetRegistration.org_id == org_id, DatasetRegistration.name == name
        )
    ).first()
    if ds is None:
        org = session.get(Organization, org_id)
        raise NotFoundError(
            f"organization {org.code if org else org_id!r} has no dataset named {name!r}",
            hint="Register it first (register_dataset).",
        )
    return ds


__all__ = [
    "DATASET_KINDS",
    "get_dataset",
    "get_dataset_row",
    "list_datasets",
    "register_dataset",
    "register_record_folder",
]
