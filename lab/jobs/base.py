"""The job interface of the worker: what a job kind is, and what it sees of the worker.

A job kind (:class:`Job`) claims the next piece of work of its kind from the catalog (an
atomic claim, so two workers never take the same one, that gives the worker a lease on
it), runs it through the worker's executor, files the result in the catalog and, when
anything after the claim fails, reports the failure with its reason. The worker
(:class:`lab.runner.Worker`) only loops over the registered kinds (:mod:`lab.jobs.registry`);
it knows nothing of any one.

Leases are handled here, once for every kind: while a job runs a heartbeat renews its
lease (:mod:`lab.jobs.lease`); a lost lease or a cancel stops the run and nothing is
filed; a worker told to stop gives the job back. :meth:`Job.reap` is the reaper: it takes
over each expired lease of the kind exactly once and adopts the orphaned run's finished
result (:meth:`Job.adopt`), or requeues the job, or fails it with the reason.

What a job sees of the worker is :class:`JobContext`: the catalog engine, the worker's
identity, its runs folder, the runtime, the federation the runs go to, the lease terms and
the guard that stops a run. What a failure reveals (:func:`reason_of`): the error's type
and code (or where a non-lab error was raised) and its message, to whoever may read the
job's record in the catalog.
"""

from __future__ import annotations

import logging
import math
import shutil
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import Engine

from federation.config import DeploymentSection, ExperimentConfig
from federation.protocol import ProgressFn
from lab.audit import write_lock
from lab.db import session_scope
from lab.errors import LabError, LeaseLostError, RunCancelled
from lab.jobs.lease import Heartbeat, RunGuard, WorkerStopping
from lab.services import leases
from lab.services.access import Principal
from lab.services.leases import ExpiredLease, Lease, LeaseTerms

log = logging.getLogger("fedlab.worker")
STAGING_GLOBS = (".*.tmp-*", ".*.old-*")
"""The hidden folders a run writes before its output is complete (federation.outputs)."""

Executor = Callable[[ExperimentConfig, Path, str, ProgressFn], dict[str, Any]]
"""(config, out_dir, runtime, progress) -> metrics; must write metrics.json into out_dir."""

MAX_REASON = 500


class Ticket(Protocol):
    """What a claim hands back: at least the catalog id of the claimed row and the lease."""

    @property
    def id(self) -> int: ...

    @property
    def lease(self) -> Lease: ...


class JobContext(Protocol):
    """What a job sees of the worker that runs it."""

    @property
    def engine(self) -> Engine: ...

    @property
    def worker_id(self) -> str: ...

    @property
    def runs_dir(self) -> Path: ...

    @property
    def runtime(self) -> str: ...

    @property
    def principal(self) -> Principal: ...

    @property
    def deployment(self) -> DeploymentSection | None: ...

    @property
    def federation(self) -> str | None: ...

    @property
    def lease_terms(self) -> LeaseTerms: ...

    @property
    def guard(self) -> RunGuard: ...

    def execute(
        self, cfg: ExperimentConfig, out_dir: Path, progress: ProgressFn
    ) -> dict[str, Any]: ...


TicketT = TypeVar("TicketT", bound=Ticket)
ResultT = TypeVar("ResultT")


class Job(ABC, Generic[TicketT, ResultT]):
    """One job kind. ``kind`` names it; ``tallied``: whether the worker counts a claimed
    job of this kind in ``Worker.processed`` (what ``fedlab lab worker`` reports).
    ``table``: its catalog table; ``leased``: the statuses in which a worker holds a lease
    on it; ``cancelled``: the statuses that mean it was cancelled while leased;
    ``folder_prefix``: its run folders in the runs folder (``PREFIX<id>``)."""

    kind: ClassVar[str]
    tallied: ClassVar[bool] = False
    table: ClassVar[Any]
    leased: ClassVar[tuple[str, ...]]
    cancelled: ClassVar[frozenset[str]] = frozenset()
    folder_prefix: ClassVar[str]

    @abstractmethod
    def claim(self, ctx: JobContext) -> TicketT | None:
        """Atomically take the next job of this kind with a lease; None when there is none."""

    @abstractmethod
    def run(self, ctx: JobContext, ticket: TicketT) -> ResultT:
        """Run the claimed job through ``ctx.execute``; what it produced."""

    @abstractmethod
    def file(self, ctx: JobContext, ticket: TicketT, result: ResultT) -> None:
        """Record the result in the catalog (only while ``ticket.lease`` is held)."""

    @abstractmethod
    def fail(self, ctx: JobContext, ticket: TicketT, exc: Exception) -> None:
        """Record that running or filing the claimed job failed with ``exc``."""

    @abstractmethod
    def release(self, ctx: JobContext, lease: Lease, reason: str, *, requeue: bool) -> str:
        """Give the job up under ``lease``: back to its queue (``requeue``) or failed with
        ``reason``; its new status."""

    def adopt(self, ctx: JobContext, expired: ExpiredLease, lease: Lease) -> bool:
        """The reaper found ``expired``, now under ``lease``: file the orphaned run's
        finished result if there is one (True), else leave the job alone (False)."""
        return False

    def stop_orphan(self, ctx: JobContext, expired: ExpiredLease) -> None:
        """The reaper's hook to stop what the lost worker may have left running (e.g. a
        deployment run still on the SuperLink); by default nothing (see
        :mod:`lab.jobs.lease`): the orphan's finished result is adopted instead."""

    def folder(self, ctx: JobContext, job_id: int) -> Path:
        """The job's run folder."""
        return (ctx.runs_dir / f"{self.folder_prefix}{job_id}").resolve()

    def process(self, ctx: JobContext, ticket: TicketT) -> None:
        """Run and file a claimed job under its lease; every failure is reported with its
        reason, a lost lease files nothing, a stop request gives the job back, and the
        run's staging folders are removed on every way out."""
        lease = ticket.lease
        try:
            with ctx.guard.job():
                beat = Heartbeat(ctx.engine, lease, ctx.lease_terms, ctx.guard, self.cancelled)
                with beat, ctx.guard.running():
                    result = self.run(ctx, ticket)
                ctx.guard.check()  # lost or cancelled while the run finished
                self.file(ctx, ticket, result)
        except LeaseLostError as exc:
            log.warning("%s", exc.public_message())
        except RunCancelled:
            log.info("%s was cancelled; its lease ends", lease.what)
            self._end(ctx, lease)
        except (WorkerStopping, KeyboardInterrupt) as stop:
            name = stop.signal_name if isinstance(stop, WorkerStopping) else "SIGINT"
            self._give_back(ctx, lease, name)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is recorded with its reason
            try:
                self.fail(ctx, ticket, exc)
            except LeaseLostError as lost:
                log.warning("%s", lost.public_message())
        finally:
            self.clean(ctx, ticket.id, lease.token)

    def _end(self, ctx: JobContext, lease: Lease) -> None:
        try:
            with session_scope(ctx.engine) as s:
                write_lock(s)
                leases.fence(s, lease, end=True)
        except LeaseLostError:
            pass

    def _give_back(self, ctx: JobContext, lease: Lease, signal_name: str) -> None:
        """A stopped worker's job: requeued (failed when it was the last attempt)."""
        terms = ctx.lease_terms
        requeue = lease.attempt < terms.max_attempts
        reason = leases.stopped_reason(lease, terms, signal_name, requeued=requeue)
        try:
            status = self.release(ctx, lease, reason, requeue=requeue)
            log.warning("%s: %s; now %s", lease.what, reason, status)
        except Exception as exc:  # noqa: BLE001 - the stop goes on; the lease then expires
            log.error("%s: could not give the job back (%s); its lease expires", lease.what, exc)

    def reap(self, ctx: JobContext) -> list[Reaped]:
        """Take over every expired lease of this kind, exactly once each (a conditional
        UPDATE on row_version: of two reapers one wins), then adopt the orphaned run's
        finished result, or requeue the job, or fail it with the reason; what was done."""
        with session_scope(ctx.engine) as s:
            rows = leases.expired(s, self.table, self.leased)
        done: list[Reaped] = []
        for row in rows:
            with session_scope(ctx.engine) as s:
                write_lock(s)
                lease = leases.take_over(s, row, ctx.principal, ctx.lease_terms)
            if lease is None:
                continue
            self.clean(ctx, row.id, lease.token)  # before another worker can claim it
            try:
                done.append(self._recover(ctx, row, lease))
            except LeaseLostError as exc:  # a reaper stalled past its own lease
                log.warning("%s", exc.public_message())
        return done

    def clean(self, ctx: JobContext, job_id: int, token: str | None = None) -> list[Path]:
        """Remove the staging folders in the job's run folder unless another worker holds a
        live lease on the job (its run may be writing one); under the catalog's write lock,
        so no claim starts a run meanwhile. ``token``: the caller's own lease."""
        with session_scope(ctx.engine) as s:
            write_lock(s)
            if leases.held(s, self.table, job_id, unless=token):
                return []
            return remove_staging(self.folder(ctx, job_id))

    def _recover(self, ctx: JobContext, row: ExpiredLease, lease: Lease) -> Reaped:
        terms = ctx.lease_terms
        self.stop_orphan(ctx, row)
        requeue = row.attempts < terms.max_attempts
        reason = leases.lost_reason(row, terms, requeued=requeue)
        try:
            if self.adopt(ctx, row, lease):
                reason = leases.adopted_reason(row)
                log.warning("%s: %s", lease.what, reason)
                return Reaped(self.kind, row.id, "adopted", reason)
        except LeaseLostError:
            raise
        except Exception as exc:  # noqa: BLE001 - a result that cannot be filed fails the job
            requeue = False
            reason = f"{reason}; its finished result could not be filed: {reason_of(exc)}"
        status = self.release(ctx, lease, reason, requeue=requeue)
        log.warning("%s: %s", lease.what, reason)
        return Reaped(self.kind, row.id, status, reason)


@dataclass(frozen=True)
class Reaped:
    """What a reaper did with one expired lease: the job, its new status (``adopted``: the
    orphan's finished result was filed), and why."""

    kind: str
    id: int
    outcome: str
    reason: str


def remove_staging(folder: Path) -> list[Path]:
    """Remove the staging folders a run left in its run folder (a run's output before it is
    complete: party files, key material of the run); the folders removed."""
    gone: list[Path] = []
    if not folder.is_dir():
        return gone
    for pattern in STAGING_GLOBS:
        for stage in folder.glob(pattern):
            if stage.is_dir():
                shutil.rmtree(stage, ignore_errors=True)
                gone.append(stage)
    return gone


def reason_of(exc: BaseException) -> str:
    """The failure reason recorded for a run: the error's type (and code, or where it was
    raised), its message, at most MAX_REASON characters."""
    if isinstance(exc, LabError):
        text = f"{type(exc).__name__} [{exc.code}]: {exc}"
    else:
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
        text = f"{type(exc).__name__}{where}: {exc}"
    return text[:MAX_REASON]


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (a grade band's open bound ``-inf``, a diverged
    ``nan`` loss) as None: PostgreSQL's json type refuses Infinity and NaN, and JSON has none."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [json_safe(x) for x in value]
    if isinstance(value, dict):
        return {k: json_safe(x) for k, x in value.items()}
    return value


__all__ = [
    "Executor",
    "Job",
    "JobContext",
    "MAX_REASON",
    "ProgressFn",
    "Reaped",
    "STAGING_GLOBS",
    "Ticket",
    "json_safe",
    "reason_of",
    "remove_staging",
]
