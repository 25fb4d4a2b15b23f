"""The runner's side of an experiment: claim it with a lease, start, record progress, file
the outcome, or give it up (lab.services.leases).

Only the worker's service account (``Role.WORKER``) may call these. Every call names the
lease token the worker got with its claim: once a reaper took the lease over (the worker's
heartbeat stopped) or the experiment was resubmitted, the token is no longer on the row and
the call raises :class:`~lab.errors.LeaseLostError` before changing anything, so a stale
worker never files a result. Status changes go through lab.workflow and are stored as
transitions and audit events like every other (lab.services.experiments).

What it reveals: to the worker, the experiment's row (data locations at the parties); to
readers of the experiment, the worker's name, its lease and attempt count, the progress
(per-epoch loss) and the failure reason.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from lab.audit import append_event, write_lock
from lab.errors import AccessDeniedError, RunCancelled
from lab.models import Experiment, ExperimentStatus, ExperimentTransition, row_id, utcnow
from lab.services import leases
from lab.services.access import Action, Principal, Resource, require
from lab.services.claims import claim_oldest
from lab.services.consent import require_consents
from lab.services.experiments import experiment_row, record_transition

S = ExperimentStatus


def claim_next(
    *, session: Session, actor: Principal, terms: leases.LeaseTerms | None = None
) -> Experiment | None:
    """Atomically take the oldest approved (or requeued) experiment with a lease: approved →
    queued, claimed by actor; a requeued one stays queued and counts one more attempt.

    A conditional ``UPDATE ... WHERE status IN ('approved', 'queued') AND lease_owner IS NULL
    AND row_version=:v`` succeeds for exactly one worker; the others see 0 rows and move on.
    Returns the table row (the runner needs data locations and the lease token) or None.
    """
    require(actor, Resource.EXPERIMENT, Action.RUN)
    write_lock(session)
    claimed = claim_oldest(
        session,
        Experiment,
        ready=(S.APPROVED, S.QUEUED),
        claimed=S.QUEUED,
        actor=actor,
        terms=terms,
        updated_at=utcnow(),
    )
    if claimed is None:
        return None
    exp_id = claimed.lease.id
    exp = experiment_row(session, exp_id)
    session.refresh(exp)
    if claimed.previous == S.QUEUED.value:  # requeued after a lost lease: no status change
        append_event(
            session,
            actor=actor.label,
            action="experiment.reclaimed",
            object_type="experiment",
            object_id=exp_id,
            details={"attempt": exp.attempts},
        )
        return exp
    session.add(
        ExperimentTransition(
            experiment_id=exp_id,
            from_status=S.APPROVED,
            to_status=S.QUEUED,
            actor=actor.label,
            reason="claimed by worker",
        )
    )
    append_event(
        session,
        actor=actor.label,
        action="experiment.queued",
        object_type="experiment",
        object_id=exp_id,
        details={"from": "approved", "to": "queued", "reason": "claimed by worker"},
    )
    return exp


def lease_of(exp: Experiment) -> leases.Lease:
    """The lease a worker holds on a row it just claimed."""
    if exp.lease_token is None or exp.lease_owner is None:
        raise AccessDeniedError(f"experiment {exp.id} is not leased to any worker")
    return leases.Lease(Experiment, row_id(exp), exp.lease_token, exp.lease_owner, exp.attempts)


def _worker_row(
    session: Session,
    actor: Principal,
    experiment_id: int,
    lease_token: str,
    *,
    fence: bool = False,
    end: bool = False,
) -> Experiment:
    """The row, if ``lease_token`` is still its lease (LeaseLostError otherwise); with
    ``fence`` the row_version is bumped first (and with ``end`` the lease ends)."""
    require(actor, Resource.EXPERIMENT, Action.RUN)
    exp = experiment_row(session, experiment_id)
    claimer = exp.claimed_by
    lease = leases.Lease(Experiment, experiment_id, lease_token, actor.label, exp.attempts)
    if fence or end:
        write_lock(session)
        leases.fence(session, lease, end=end)
    else:
        leases.check(session, lease)
    if claimer != actor.label:  # the token is another worker's
        raise AccessDeniedError(
            f"experiment {experiment_id} is claimed by {claimer!r}, not {actor.label!r}"
        )
    return exp


def start_run(
    *, session: Session, actor: Principal, experiment_id: int, lease_token: str
) -> Experiment:
    exp = _worker_row(session, actor, experiment_id, lease_token, fence=True)
    if S(exp.status) is S.CANCELLED:
        raise RunCancelled(f"experiment {experiment_id} was cancelled before it started")
    require_consents(session, exp)  # a consent may have expired since approval
    exp.started_at = utcnow()
    exp.progress = []
    record_transition(session, exp, S.RUNNING, actor, "run started", attempt=exp.attempts)
    return exp


def record_progress(
    *,
    session: Session,
    actor: Principal,
    experiment_id: int,
    entry: dict[str, Any],
    lease_token: str,
) -> None:
    """Append one progress entry (e.g. {"epoch": 3, "loss": 0.41}); raises RunCancelled
    once it was cancelled, LeaseLostError once the lease is no longer the worker's."""
    exp = _worker_row(session, actor, experiment_id, lease_token)
    if S(exp.status) is S.CANCELLED:
        raise RunCancelled(f"experiment {experiment_id} was cancelled while running")
    exp.progress = [
        *exp.progress,
        {k: v for k, v in entry.items() if isinstance(v, int | float | str | bool)},
    ]
    exp.updated_at = utcnow()
    session.add(exp)


def fail_run(
    *, session: Session, actor: Principal, experiment_id: int, reason: str, lease_token: str
) -> None:
    exp = _worker_row(session, actor, experiment_id, lease_token, end=True)
    if S(exp.status) is S.CANCELLED:
        return
    exp.failure_reason = reason
    exp.finished_at = utcnow()
    record_transition(session, exp, S.FAILED, actor, reason)


def succeed_run(
    *,
    session: Session,
    actor: Principal,
    experiment_id: int,
    lease_token: str,
    reason: str = "run finished",
) -> Experiment:
    exp = _worker_row(session, actor, experiment_id, lease_token, end=True)
    exp.finished_at = utcnow()
    record_transition(session, exp, S.SUCCEEDED, actor, reason)
    return exp


def release_run(
    *,
    session: Session,
    actor: Principal,
    experiment_id: int,
    lease_token: str,
    reason: str,
    requeue: bool,
) -> S:
    """Give a leased experiment up (a reaper after a lost lease, a draining worker): back
    to the queue for another worker (running → queued) or, with no attempts left, failed
    with ``reason``; a cancelled one stays cancelled. Its new status."""
    exp = _worker_row(session, actor, experiment_id, lease_token, end=True)
    status = S(exp.status)
    if status not in (S.QUEUED, S.RUNNING):
        return status
    exp.claimed_by = None
    if not requeue:
        exp.failure_reason = reason
        exp.finished_at = utcnow()
        record_transition(session, exp, S.FAILED, actor, reason, attempt=exp.attempts)
    elif status is S.RUNNING:
        record_transition(session, exp, S.QUEUED, actor, reason, attempt=exp.attempts)
    else:  # claimed, never started: already queued
        session.add(exp)
        append_event(
            session,
            actor=actor.label,
            action="experiment.requeued",
            object_type="experiment",
            object_id=experiment_id,
            details={"reason": reason, "attempt": exp.attempts},
        )
    return S(exp.status)


def end_lease(*, session: Session, actor: Principal, experiment_id: int, lease_token: str) -> None:
    """The worker stopped a cancelled run: its lease ends, the status stays."""
    _worker_row(session, actor, experiment_id, lease_token, end=True)


__all__ = [
    "claim_next",
    "end_lease",
    "fail_run",
    "lease_of",
    "record_progress",
    "release_run",
    "start_run",
    "succeed_run",
]
