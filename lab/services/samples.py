"""The sample library (样本库): a bank's sample sets (ID list at the bank, label definition,
observation window, out-of-time validation start, counts), registered on one of its
datasets, in versions.

Its default rule (逾期定义, ``default_rule``: the label column already 0/1, days past due
>= N, or a status in a set of codes; :mod:`federation.default_rule`) decides the label; it
is applied at the bank only. A sample set decides who a run trains on
(``federation.population``: the ID list ∩ valid authorizations ∩ the observation window,
at the bank). Editing a sample set
(:func:`edit_sample`) files a new version: a new row that takes the name, ``version`` + 1,
``previous_id`` naming the old row (renamed ``name (vN)``), whose counts say "not counted"
(``counts_source = "none"``) until counted at the bank; the old version stays (no longer
``current``) for the lineage of the models trained on it, and no new experiment can use it.

Revealed to whom: metadata and counts to the bank and the platform; the ID-list location
at the bank stays on the table row and is never returned.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from federation.default_rule import DaysPastDue, parse_rule
from lab.audit import append_event
from lab.errors import ConfigError, NotFoundError
from lab.models import (
    CountsSource,
    DatasetRegistration,
    SampleSet,
    SampleSetBase,
    SampleSetCreate,
    SampleSetEdit,
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
    _check_definition(sample_in, _dtypes(ds))
    if session.exec(
        select(SampleSet).where(
            SampleSet.owner_org_id == actor.org_id, SampleSet.name == sample_in.name
        )
    ).first():
        raise ConfigError(f"your bank already has a sample set named {sample_in.name!r}")
    declared = sample_in.n_total > 0
    sample = SampleSet.model_validate(
        sample_in,
        update={
            "owner_org_id": actor.org_id,
            "dataset_id": ds.id,
            "created_by": actor.user_id,
            "counts_source": CountsSource.DECLARED if declared else CountsSource.NONE,
        },
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
            "default_rule": sample.default_rule,
        },
    )
    return SampleSetPublic.model_validate(sample)


def _dtypes(ds: DatasetRegistration | None) -> dict[str, str]:
    """The dataset's registered columns and their types ({} : not known)."""
    cols = ds.columns if ds else []
    return {str(c.get("name")): str(c.get("dtype", "")) for c in cols if c.get("name")}


def _check_definition(sample: SampleSetBase, columns: dict[str, str]) -> None:
    """The label column is the dataset's (a number of days with a days-past-due rule),
    counts and windows are consistent."""
    if columns and sample.label_column not in columns:
        raise ConfigError(
            f"sample {sample.name!r}: label column {sample.label_column!r} "
            f"is not in the dataset (columns: {sorted(columns)})"
        )
    rule = parse_rule(sample.default_rule)
    dtype = columns.get(sample.label_column, "")
    if isinstance(rule, DaysPastDue) and dtype and dtype not in ("int", "float"):
        raise ConfigError(
            f"sample {sample.name!r}: the default rule reads days past due from "
            f"{sample.label_column!r}, a {dtype} column of the dataset",
            hint="Name the dataset's days-past-due column (numbers) as the label column.",
        )
    if sample.n_positive > sample.n_total:
        raise ConfigError(
            f"sample {sample.name!r}: n_positive={sample.n_positive} "
            f"exceeds n_total={sample.n_total}"
        )
    start, end, cut = sample.observation_start, sample.observation_end, sample.validation_start
    if start and end and start > end:
        raise ConfigError(f"sample {sample.name!r}: observation window starts after it ends")
    if cut and ((start and cut <= start) or (end and cut > end)):
        raise ConfigError(
            f"sample {sample.name!r}: the out-of-time validation start {cut} must fall inside "
            "the observation window (training before it, validation from it)",
            hint="Choose a validation start after the window's start, not after its end.",
        )


def edit_sample(
    *, session: Session, actor: Principal, sample_id: int, changes: SampleSetEdit
) -> SampleSetPublic:
    """A new version of the sample set (the current one only): its definition with
    ``changes``, not counted yet; the old version stays for lineage."""
    old = sample_row(session, actor, sample_id)
    require(
        actor,
        Resource.SAMPLE,
        Action.CREATE,
        Scope(owner_org_id=old.owner_org_id),
        what=f"sample set {sample_id}",
    )
    if not old.current:
        raise ConfigError(
            f"sample set {sample_id} (version {old.version}) was replaced by a newer version",
            hint="Edit the current version of the sample set.",
        )
    fields = changes.model_dump(exclude_unset=True, exclude_none=True)
    keep = old.model_dump(
        exclude={"id", "created_at", "counted_at", "count_requested_by", "profile"}
    )
    new = SampleSet.model_validate(
        {
            **keep,
            **fields,
            "version": old.version + 1,
            "previous_id": old.id,
            "current": True,
            "created_by": actor.user_id,
            "n_total": 0,
            "n_positive": 0,
            "counts_source": CountsSource.NONE,
        }
    )
    _check_definition(new, _dtypes(session.get(DatasetRegistration, old.dataset_id)))
    old.current = False
    old.name = f"{old.name} (v{old.version})"[:120]  # the name goes to the new version
    session.add(old)
    session.flush()
    session.add(new)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="sample.edit",
        object_type="sample",
        object_id=new.id or "",
        details={
            "name": new.name,
            "version": new.version,
            "previous": old.id,
            "changed": sorted(fields),
        },
    )
    return SampleSetPublic.model_validate(new)


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
    "edit_sample",
    "get_sample",
    "list_samples",
    "sample_row",
]
