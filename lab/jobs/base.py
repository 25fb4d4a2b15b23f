"""The job interface of the worker: what a job kind is, and what it sees of the worker.

A job kind (:class:`Job`) claims the next piece of work of its kind from the catalog (an
atomic claim, so two workers never take the same one), runs it through the worker's
executor, files the result in the catalog and, when anything after the claim fails,
reports the failure with its reason. The worker (:class:`lab.runner.Worker`) only loops
over the registered kinds (:mod:`lab.jobs.registry`); it knows nothing of any one.

What a job sees of the worker is :class:`JobContext`: the catalog engine, the worker's
identity, its runs folder, the runtime and the federation the runs go to. What a failure
reveals (:func:`reason_of`): the error's type and code (or where a non-lab error was
raised) and its message, to whoever may read the job's record in the catalog.
"""

from __future__ import annotations

import math
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import Engine

from federation.config import DeploymentSection, ExperimentConfig
from federation.protocol import ProgressFn
from lab.errors import LabError
from lab.services.access import Principal

Executor = Callable[[ExperimentConfig, Path, str, ProgressFn], dict[str, Any]]
"""(config, out_dir, runtime, progress) -> metrics; must write metrics.json into out_dir."""

MAX_REASON = 500


class Ticket(Protocol):
    """What a claim hands back: at least the catalog id of the claimed row."""

    @property
    def id(self) -> int: ...


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

    def execute(
        self, cfg: ExperimentConfig, out_dir: Path, progress: ProgressFn
    ) -> dict[str, Any]: ...


TicketT = TypeVar("TicketT", bound=Ticket)
ResultT = TypeVar("ResultT")


class Job(ABC, Generic[TicketT, ResultT]):
    """One job kind. ``kind`` names it; ``tallied``: whether the worker counts a claimed
    job of this kind in ``Worker.processed`` (what ``fedlab lab worker`` reports)."""

    kind: ClassVar[str]
    tallied: ClassVar[bool] = False

    @abstractmethod
    def claim(self, ctx: JobContext) -> TicketT | None:
        """Atomically take the next job of this kind; None when there is none."""

    @abstractmethod
    def run(self, ctx: JobContext, ticket: TicketT) -> ResultT:
        """Run the claimed job through ``ctx.execute``; what it produced."""

    @abstractmethod
    def file(self, ctx: JobContext, ticket: TicketT, result: ResultT) -> None:
        """Record the result in the catalog."""

    @abstractmethod
    def fail(self, ctx: JobContext, ticket: TicketT, exc: Exception) -> None:
        """Record that running or filing the claimed job failed with ``exc``."""

    def process(self, ctx: JobContext, ticket: TicketT) -> None:
        """Run and file a claimed job; every failure is reported with its reason."""
        try:
            self.file(ctx, ticket, self.run(ctx, ticket))
        except Exception as exc:  # noqa: BLE001 - every failure is recorded with its reason
            self.fail(ctx, ticket, exc)


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
    "Ticket",
    "json_safe",
    "reason_of",
]
