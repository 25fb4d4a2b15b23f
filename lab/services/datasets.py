"""Dataset registrations: a party's schema and row count, registered in the catalog.

Revealed to whom: the schema and the row count to the owner and the platform; where the
data lies at the party (its location) stays on the table row and is never returned.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from lab.audit import append_event
from lab.errors import ConfigError, NotFoundError
from lab.models import (
    DatasetCreate,
    DatasetPublic,
    DatasetRegistration,
    Organization,
    row_id,
)
from lab.services.access import Action, Principal, Resource, Scope, allowed, require
from lab.services.organizations import get_org


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
    ds = DatasetRegistration(
        name=dataset_in.name,
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
            "organization": org.code,
            "row_count": ds.row_count,
            "columns": len(ds.columns),
        },
    )
    return DatasetPublic.model_validate(ds)


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
    "get_dataset",
    "get_dataset_row",
    "list_datasets",
    "register_dataset",
]
