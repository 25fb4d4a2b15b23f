"""The sample library (样本库): a bank's sample sets (label definition, observation window,
counts), registered on one of its datasets.

Revealed to whom: metadata and counts to the bank and the platform; the ID-list location
at the bank stays on the table row and is never returned.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from lab.audit import append_event
from lab.errors import ConfigError, NotFoundError
from lab.models import (
    SampleSet,
    SampleSetCreate,
    SampleSetPublic,
)
from lab.services.access import Action, Principal, Resource, Scope, allowed, require
from lab.services.datasets import get_dataset_row


def create_sample(
    *, session: Session, actor: Principal, sample_in: SampleSetCreate
) -> SampleSetPublic:
    require(
        actor, Resource.SAMPLE, Action.CREATE, Scope(owner_org_id=actor.org_id), what="sample sets"
    )
    assert actor.org_id is not None
    ds = get_dataset_row(session, actor.org_id, sample_in.dataset_name)
    cols = {c.get("name") for c in ds.columns}
    if cols and sample_in.label_column not in cols:
        raise ConfigError(
            f"sample {sample_in.name!r}: label column {sample_in.label_column!r} "
            f"is not in dataset {ds.name!r} (columns: {sorted(c for c in cols if c)})"
        )
    if sample_in.n_positive > sample_in.n_total:
        raise ConfigError(
            f"sample {sample_in.name!r}: n_positive={sample_in.n_positive} "
            f"exceeds n_total={sample_in.n_total}"
        )
    if (
        sample_in.observation_start
        and sample_in.observation_end
        and sample_in.observation_start > sample_in.observation_end
    ):
        raise ConfigError(f"sample {sample_in.name!r}: observation window starts after it ends")
    if session.exec(
        select(SampleSet).where(
            SampleSet.owner_org_id == actor.org_id, SampleSet.name == sample_in.name
        )
    ).first():
        raise ConfigError(f"your bank already has a sample set named {sample_in.name!r}")
    sample = SampleSet.model_validate(
        sample_in,
        update={"owner_org_id": actor.org_id, "dataset_id": ds.id, "created_by": actor.user_id},
    )
    session.add(sample)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="create",
        object_type="sample",
        object_id=sample.id or "",
        details={
            "name": sample.name,
            "organization": actor.org_code,
            "n_total": sample.n_total,
            "n_positive": sample.n_positive,
        },
    )
    return SampleSetPublic.model_validate(sample)


def sample_row(session: Session, actor: Principal, sample_id: int) -> SampleSet:
    """The sample set ``sample_id`` if it exists and ``actor`` may read it."""
    sample = session.get(SampleSet, sample_id)
    if sample is None:
        raise NotFoundError(f"no sample set with id {sample_id}")
    require(
        actor,
        Resource.SAMPLE,
        Action.READ,
        Scope(owner_org_id=sample.owner_org_id),
        what=f"sample set {sample_id}",
    )
    return sample


def get_sample(*, session: Session, actor: Principal, sample_id: int) -> SampleSetPublic:
    return SampleSetPublic.model_validate(sample_row(session, actor, sample_id))


def list_samples(*, session: Session, actor: Principal) -> list[SampleSetPublic]:
    rows = session.exec(select(SampleSet).order_by(col(SampleSet.id))).all()
    return [
        SampleSetPublic.model_validate(s)
        for s in rows
        if allowed(actor, Resource.SAMPLE, Action.READ, Scope(owner_org_id=s.owner_org_id))
    ]


__all__ = [
    "create_sample",
    "get_sample",
    "list_samples",
    "sample_row",
]
