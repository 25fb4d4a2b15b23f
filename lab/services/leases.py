"""Leases on claimed jobs: renewed by the worker's heartbeat, checked before anything is
filed, taken over exactly once by a reaper when they expire.

Every job table (``experiment``, ``sample_count``) carries ``lease_owner`` (the worker),
``lease_token`` (one per claim, :func:`new_token`), ``lease_expires_at`` and ``attempts``
(claims since the job was last submitted). The claim sets them
(:func:`lab.services.claims.claim_oldest`); while the job runs the worker's heartbeat moves
the expiry on (:func:`renew`); whatever the worker files afterwards first passes
:func:`fence`, a conditional ``UPDATE ... WHERE id=:id AND lease_token=:t`` that bumps
``row_version`` (and, for the final filing, ends the lease). A worker whose lease was taken
over holds a token that is no longer on the row: its fence matches no row and it files
nothing (:class:`~lab.errors.LeaseLostError`).

A reaper (:meth:`lab.jobs.base.Job.reap`, run by every worker at each poll and by
``fedlab lab recover``) lists expired leases (:func:`expired`) and takes each over with
:func:`take_over`: ``UPDATE ... WHERE id=:id AND row_version=:v AND lease_token=:t AND
lease_expires_at < :now``. Of two reapers (or a reaper and a late heartbeat) exactly one
gets rowcount 1; the job kind then requeues, fails or adopts the job under the reaper's new
lease. Expiry is compared with the clocks of the machines the workers run on (UTC): keep
them in sync to well within ``FEDLAB_LEASE_SECONDS``.

What it reveals: a worker's name, when its lease ends and the attempt count, to whoever may
read the job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from lab.errors import LeaseLostError
from lab.models import utcnow
from lab.services.access import Principal


@dataclass(frozen=True)
class LeaseTerms:
    """How long a lease lasts without a heartbeat (``seconds``; a heartbeat every third of
    it) and how many claims a job gets (``max_attempts``) before a lost lease fails it."""

    seconds: float = 30.0
    max_attempts: int = 3

    @property
    def heartbeat_seconds(self) -> float:
        return self.seconds / 3

    @classmethod
    def from_settings(cls) -> LeaseTerms:
        from lab.settings import get_settings

        settings = get_settings()
        return cls(settings.lease_seconds, settings.lease_max_attempts)


@dataclass(frozen=True)
class Lease:
    """What a worker holds on one claimed row: the row (``table``, ``id``), the claim's
    ``token``, the holder (``owner``, a principal's label) and which ``attempt`` it is."""

    table: Any
    id: int
    token: str
    owner: str
    attempt: int

    @property
    def what(self) -> str:
        return f"{self.table.__tablename__.replace('_', ' ')} {self.id}"


@dataclass(frozen=True)
class ExpiredLease:
    """A row whose lease ended: as the reaper read it (its take-over is conditional on it)."""

    table: Any
    id: int
    row_version: int
    status: str
    owner: str
    token: str
    attempts: int
    expired_at: datetime


def new_token() -> str:
    return uuid.uuid4().hex


def worker_name(owner: str) -> str:
    """``worker:w1`` → ``w1`` (the worker's ``--id``)."""
    return owner.removeprefix("worker:")


def _expiry(terms: LeaseTerms) -> datetime:
    return utcnow() + timedelta(seconds=terms.seconds)


def renew(session: Session, lease: Lease, terms: LeaseTerms) -> str | None:
    """Move the lease's expiry on; the row's status, or None when the lease is no longer
    held (taken over by a reaper, or the job was resubmitted)."""
    table = lease.table
    res = session.execute(
        update(table)
        .where(table.id == lease.id, table.lease_token == lease.token)
        .values(lease_expires_at=_expiry(terms))
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        return None
    status = session.exec(select(table.status).where(table.id == lease.id)).one()
    return str(getattr(status, "value", status))


def lost(lease: Lease) -> LeaseLostError:
    return LeaseLostError(
        f"{lease.what}: worker {worker_name(lease.owner)} no longer holds its lease "
        f"(attempt {lease.attempt}); its result is not filed"
    )


def check(session: Session, lease: Lease) -> None:
    """Raise :class:`LeaseLostError` unless ``lease`` is still the row's."""
    token = session.exec(select(lease.table.lease_token).where(lease.table.id == lease.id)).first()
    if token != lease.token:
        raise lost(lease)


def fence(session: Session, lease: Lease, *, end: bool = False) -> None:
    """Bump the row's ``row_version`` if ``lease`` is still its lease (and, with ``end``,
    end the lease in the same UPDATE); else raise :class:`LeaseLostError`. Call it before
    the ORM changes of a filing, in the same transaction: from then on the row is the
    caller's until it commits."""
    table = lease.table
    values: dict[str, Any] = {"row_version": table.row_version + 1}
    if end:
        values.update(lease_owner=None, lease_token=None, lease_expires_at=None)
    res = session.execute(
        update(table).where(table.id == lease.id, table.lease_token == lease.token).values(**values)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        raise lost(lease)
    row = session.get(table, lease.id)
    if row is not None:
        session.refresh(row)  # the ORM copy must see the fence's row_version


def clear(row: Any) -> None:
    """End the lease on an ORM row (a job going back to its queue or filed by the caller)."""
    row.lease_owner = None
    row.lease_token = None
    row.lease_expires_at = None


def expired(
    session: Session, table: Any, active: tuple[Any, ...], *, now: datetime | None = None
) -> list[ExpiredLease]:
    """Rows in an ``active`` status whose lease ended before ``now``, oldest first."""
    now = now or utcnow()
    rows = session.execute(
        sa_select(
            table.id,
            table.row_version,
            table.status,
            table.lease_owner,
            table.lease_token,
            table.attempts,
            table.lease_expires_at,
        )
        .where(
            col(table.status).in_(list(active)),
            col(table.lease_token).is_not(None),
            col(table.lease_expires_at) < now,
        )
        .order_by(table.id)
    ).all()
    return [
        ExpiredLease(
            table,
            int(r[0]),
            int(r[1]),
            str(getattr(r[2], "value", r[2])),
            str(r[3] or "unknown worker"),
            str(r[4]),
            int(r[5]),
            r[6],
        )
        for r in rows
    ]


def take_over(
    session: Session, row: ExpiredLease, actor: Principal, terms: LeaseTerms
) -> Lease | None:
    """The reaper's lease on ``row`` (a fresh token, the reaper as its holder and claimer;
    the attempt count unchanged), or None when another reaper took it first or its worker
    renewed it meanwhile."""
    table = row.table
    token = new_token()
    res = session.execute(
        update(table)
        .where(
            table.id == row.id,
            table.row_version == row.row_version,
            table.lease_token == row.token,
            col(table.lease_expires_at) < utcnow(),
        )
        .values(
            row_version=row.row_version + 1,
            claimed_by=actor.label,
            lease_owner=actor.label,
            lease_token=token,
            lease_expires_at=_expiry(terms),
        )
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return Lease(table, row.id, token, actor.label, row.attempts)


def held(session: Session, table: Any, row_id: int, *, unless: str | None = None) -> bool:
    """Whether a worker holds an unexpired lease on the row (its run folder is in use),
    other than the lease with token ``unless``."""
    found = session.execute(
        sa_select(table.lease_token, table.lease_expires_at).where(
            table.id == row_id, col(table.lease_token).is_not(None)
        )
    ).first()
    if found is None or (unless is not None and found[0] == unless):
        return False
    return found[1] is not None and found[1] >= utcnow()


def _at(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def lost_reason(row: ExpiredLease, terms: LeaseTerms, *, requeued: bool) -> str:
    """Why a reaper moved the job: the worker, when its lease ended, the attempt count."""
    then = "requeued" if requeued else "no attempts left"
    return (
        f"worker {worker_name(row.owner)} lost its lease at {_at(row.expired_at)}; "
        f"attempt {row.attempts} of {terms.max_attempts}; {then}"
    )


def adopted_reason(row: ExpiredLease) -> str:
    """Why a reaper filed a result it did not compute: the lost worker's run had finished."""
    return (
        f"worker {worker_name(row.owner)} lost its lease at {_at(row.expired_at)} after its "
        f"run had finished (attempt {row.attempts}); its result was adopted"
    )


def stopped_reason(lease: Lease, terms: LeaseTerms, signal_name: str, *, requeued: bool) -> str:
    """Why a draining worker gave its job up before the job finished."""
    then = "requeued" if requeued else "no attempts left"
    return (
        f"worker {worker_name(lease.owner)} was stopped ({signal_name}) at {_at(utcnow())} "
        f"before the run finished; attempt {lease.attempt} of {terms.max_attempts}; {then}"
    )


__all__ = [
    "ExpiredLease",
    "Lease",
    "LeaseTerms",
    "adopted_reason",
    "check",
    "clear",
    "expired",
    "fence",
    "held",
    "lost",
    "lost_reason",
    "new_token",
    "renew",
    "stopped_reason",
    "take_over",
    "worker_name",
]
