"""Counting a sample set at its bank: requests, the worker's claim, and the recorded counts.

A bank user asks for a count (:func:`request_count`); a worker claims the request
(:func:`claim_next_count`, a conditional UPDATE like an experiment's claim, with a lease:
:mod:`lab.services.leases`), runs the
``sample_profile`` job at the bank's node and records what came back
(:func:`record_count`): total, positives, negatives, positive rate and histograms, each cell
of at least k enterprises (``federation.sample_profile``). The sample set then carries those
counts (``counts_source = "bank"``), who requested them and when they were counted. The
catalog never sees an ID or a row: only the bank's reply.

Access as for samples: the owning bank's users request and read; platform staff, admins and
the worker read; only the worker claims and records; agencies and other banks get
:class:`~lab.errors.AccessDeniedError`.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from features.disclosure import raise_min_cell
from lab.audit import append_event, write_lock
from lab.errors import AccessDeniedError, ConfigError, NotFoundError
from lab.models import (
    CountsSource,
    CountStatus,
    DatasetRegistration,
    SampleCount,
    SampleCountPublic,
    SampleSet,
    SampleSetPublic,
    utcnow,
)
from lab.services import leases
from lab.services.access import Action, Principal, Resource, Scope, require
from lab.services.claims import claim_oldest
from lab.services.samples import sample_row
from lab.settings import get_settings

MAX_COLUMNS = 8


def _sample(session: Session, actor: Principal, sample_id: int, action: Action) -> SampleSet:
    sample = sample_row(session, actor, sample_id)  # exists and readable by ``actor``
    if action is not Action.READ:
        require(
            actor,
            Resource.SAMPLE,
            action,
            Scope(owner_org_id=sample.owner_org_id),
            what=f"sample set {sample_id}",
        )
    return sample


def _numeric_columns(ds: DatasetRegistration | None) -> set[str]:
    if ds is None:
        return set()
    return {str(c.get("name")) for c in ds.columns if c.get("dtype") in ("int", "float")}


def request_count(
    *,
    session: Session,
    actor: Principal,
    sample_id: int,
    columns: list[str] | None = None,
    min_cell: int | None = None,
    date_column: str | None = None,
    max_bins: int = 10,
) -> SampleCountPublic:
    """Ask for the sample to be counted at its bank (the owning bank's users only).

    ``columns``: numeric columns of the sample's dataset to draw histograms of; ``min_cell``:
    k, which may only raise the lab's (``FEDLAB_MIN_CELL``; the bank applies at least its
    own); ``date_column``: where the observation date of each enterprise is (ID list, else
    the bank's table; default: the sample's).
    """
    sample = _sample(session, actor, sample_id, Action.CREATE)
    cols = list(dict.fromkeys(columns or []))
    if len(cols) > MAX_COLUMNS:
        raise ConfigError(f"at most {MAX_COLUMNS} histogram columns, got {len(cols)}")
    ds = session.get(DatasetRegistration, sample.dataset_id)
    known = _numeric_columns(ds)
    bad = [c for c in cols if c not in known or c == sample.label_column]
    if bad:
        raise ConfigError(
            f"sample {sample.id}: {bad} are not numeric columns of dataset "
            f"{ds.name if ds else sample.dataset_id!r}",
            hint=f"Choose among {sorted(known - {sample.label_column})}.",
        )
    min_cell = raise_min_cell(get_settings().min_cell, min_cell, source="min_cell")
    job = SampleCount(
        sample_id=sample.id or 0,
        owner_org_id=sample.owner_org_id,
        params={
            "columns": cols,
            "min_cell": int(min_cell),
            "date_column": date_column or sample.date_column,
            "max_bins": int(max_bins),
        },
        requested_by=actor.user_id or 0,
        requested_by_name=actor.username,
    )
    session.add(job)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="sample.count_requested",
        object_type="sample",
        object_id=sample.id or "",
        details={"count": job.id, "columns": cols, "min_cell": int(min_cell)},
    )
    return SampleCountPublic.model_validate(job)


def list_counts(*, session: Session, actor: Principal, sample_id: int) -> list[SampleCountPublic]:
    """Count requests of one sample set, newest first."""
    _sample(session, actor, sample_id, Action.READ)
    rows = session.exec(
        select(SampleCount)
        .where(SampleCount.sample_id == sample_id)
        .order_by(col(SampleCount.id).desc())
    ).all()
    return [SampleCountPublic.model_validate(r) for r in rows]


def get_count(*, session: Session, actor: Principal, count_id: int) -> SampleCountPublic:
    job = session.get(SampleCount, count_id)
    if job is None:
        raise NotFoundError(f"no sample count with id {count_id}")
    _sample(session, actor, job.sample_id, Action.READ)
    return SampleCountPublic.model_validate(job)


# ------------------------------------------------------------------ worker side
def claim_next_count(
    *, session: Session, actor: Principal, terms: leases.LeaseTerms | None = None
) -> SampleCount | None:
    """Atomically take the oldest requested count with a lease (requested → running,
    claimed by actor); a count requeued after a lost lease is requested again."""
    require(actor, Resource.SAMPLE, Action.RUN, what="sample counts")
    write_lock(session)
    claimed = claim_oldest(
        session,
        SampleCount,
        ready=CountStatus.REQUESTED,
        claimed=CountStatus.RUNNING,
        actor=actor,
        terms=terms,
        started_at=utcnow(),
    )
    if claimed is None:
        return None
    job_id = claimed.lease.id
    job = session.get(SampleCount, job_id)
    assert job is not None
    session.refresh(job)
    append_event(
        session,
        actor=actor.label,
        action="sample.count_started",
        object_type="sample",
        object_id=job.sample_id,
        details={"count": job_id, "attempt": job.attempts},
    )
    return job


def count_lease(job: SampleCount) -> leases.Lease:
    """The lease a worker holds on a count it just claimed."""
    if job.id is None or job.lease_token is None or job.lease_owner is None:
        raise AccessDeniedError(f"sample count {job.id} is not leased to any worker")
    return leases.Lease(SampleCount, job.id, job.lease_token, job.lease_owner, job.attempts)


def _claimed(
    session: Session, actor: Principal, count_id: int, lease_token: str, *, end: bool = True
) -> SampleCount:
    require(actor, Resource.SAMPLE, Action.RUN, what="sample counts")
    job = session.get(SampleCount, count_id)
    if job is None:
        raise NotFoundError(f"no sample count with id {count_id}")
    claimer, status = job.claimed_by, CountStatus(job.status)
    lease = leases.Lease(SampleCount, count_id, lease_token, actor.label, job.attempts)
    write_lock(session)
    leases.fence(session, lease, end=end)  # LeaseLostError for a stale worker
    if claimer != actor.label or status is not CountStatus.RUNNING:
        raise AccessDeniedError(f"sample count {count_id} is not running under {actor.label!r}")
    return job


def count_job_sample(session: Session, job: SampleCount) -> tuple[SampleSet, DatasetRegistration]:
    """The sample and its dataset (table rows: the runner needs the locations at the bank)."""
    sample = session.get(SampleSet, job.sample_id)
    ds = session.get(DatasetRegistration, sample.dataset_id) if sample else None
    if sample is None or ds is None:
        raise NotFoundError(f"sample count {job.id}: its sample set or dataset is gone")
    return sample, ds


def _counts(profile: dict[str, Any]) -> tuple[int, int]:
    """(n_total, n_positive) for the sample set's columns; a suppressed cell is stored as 0
    (shown as suppressed: below k), the profile keeps None."""
    total = profile.get("n_total")
    pos = profile.get("n_positive")
    return (
        int(total) if isinstance(total, int) else 0,
        int(pos) if isinstance(pos, int) and isinstance(total, int) else 0,
    )


def record_count(
    *,
    session: Session,
    actor: Principal,
    count_id: int,
    profile: dict[str, Any],
    lease_token: str,
) -> SampleSetPublic:
    """Store the bank's reply on the request and on its sample set (LeaseLostError, and
    nothing stored, once the worker's lease was taken over)."""
    job = _claimed(session, actor, count_id, lease_token)
    sample = session.get(SampleSet, job.sample_id)
    assert sample is not None
    now = utcnow()
    job.status = CountStatus.SUCCEEDED
    job.finished_at = now
    job.profile = dict(profile)
    job.row_version += 1
    n_total, n_pos = _counts(profile)
    sample.n_total, sample.n_positive = n_total, n_pos
    sample.counts_source = CountsSource.BANK
    sample.counted_at = now
    sample.count_requested_by = job.requested_by_name
    sample.profile = dict(profile)
    session.add(job)
    session.add(sample)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="sample.counted",
        object_type="sample",
        object_id=sample.id or "",
        details={
            "count": job.id,
            "requested_by": job.requested_by_name,
            "n_total": profile.get("n_total"),
            "n_positive": profile.get("n_positive"),
            "min_cell": profile.get("min_cell"),
        },
    )
    return SampleSetPublic.model_validate(sample)


def fail_count(
    *, session: Session, actor: Principal, count_id: int, reason: str, lease_token: str
) -> None:
    job = _claimed(session, actor, count_id, lease_token)
    job.status = CountStatus.FAILED
    job.finished_at = utcnow()
    job.failure_reason = reason
    job.row_version += 1
    session.add(job)
    append_event(
        session,
        actor=actor.label,
        action="sample.count_failed",
        object_type="sample",
        object_id=job.sample_id,
        details={"count": job.id, "reason": reason},
    )


def release_count(
    *,
    session: Session,
    actor: Principal,
    count_id: int,
    lease_token: str,
    reason: str,
    requeue: bool,
) -> CountStatus:
    """Give a leased count up (a reaper after a lost lease, a draining worker): requested
    again for another worker, or failed with ``reason`` when no attempts are left."""
    if not requeue:
        fail_count(
            session=session, actor=actor, count_id=count_id, reason=reason, lease_token=lease_token
        )
        return CountStatus.FAILED
    job = _claimed(session, actor, count_id, lease_token)
    job.status = CountStatus.REQUESTED
    job.claimed_by = None
    job.started_at = None
    job.row_version += 1
    session.add(job)
    append_event(
        session,
        actor=actor.label,
        action="sample.count_requeued",
        object_type="sample",
        object_id=job.sample_id,
        details={"count": job.id, "reason": reason, "attempt": job.attempts},
    )
    return CountStatus.REQUESTED


__all__ = [
    "claim_next_count",
    "count_job_sample",
    "count_lease",
    "fail_count",
    "get_count",
    "list_counts",
    "record_count",
    "release_count",
    "request_count",
]
