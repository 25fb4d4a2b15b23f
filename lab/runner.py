"""The worker (`fedlab lab worker`): claims the jobs of every registered kind and runs them.

Each pass asks the job kinds of :mod:`lab.jobs.registry` in turn (today a requested sample
count, then an approved experiment) and runs the first job one of them claims; claims are
atomic (a conditional UPDATE), so several workers on one SQLite file or one PostgreSQL
database never run a job twice. The worker knows nothing of any one kind: it gives a job
its catalog engine, its identity, its runs folder, its runtime and the federation the runs
go to (:class:`lab.jobs.base.JobContext`), and runs the configs the job builds through its
executor (``federation.run.run_experiment``, simulation runtime by default).

Every claim gives the worker a lease on the job, renewed by a heartbeat while it runs
(:mod:`lab.jobs.lease`); at each poll the worker first reaps expired leases of every kind
(:meth:`lab.jobs.base.Job.reap`: a worker that died or hung has its job adopted, requeued
or failed with the reason, exactly once), and when it starts it removes the staging
folders that dead runs left in the runs folder (:meth:`Worker.sweep`). ``fedlab lab
recover`` runs the same reaper and sweep once. Signals (SIGTERM, SIGINT) drain the worker
(:mod:`lab.drain`).

On the deployment runtime the worker runs on the federation its
:class:`~federation.runtime.target.FederationTarget` names (a local federation's state dir,
or a SuperLink address with its CA): :meth:`Worker.preflight` checks it before anything is
claimed, and each run first checks that every party of the config has a SuperNode there.

What leaves the lab here: the configs the jobs build (see each kind's module). What comes
back: metrics.json (aggregates only), handed to the job that ran.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from federation.config import DeploymentSection, ExperimentConfig
from federation.protocol import ProgressFn
from federation.run import run_experiment
from federation.runtime.target import FederationTarget
from lab.db import session_scope
from lab.errors import ConfigError
from lab.jobs.base import MAX_REASON, Executor, Reaped, json_safe, reason_of
from lab.jobs.configs import deployment_section
from lab.jobs.experiment import (
    PROGRESS_EVENTS,
    build_config,
    nested_params,
    public_metrics,
    roc_points,
)
from lab.jobs.lease import RunGuard, WorkerStopping
from lab.jobs.registry import JOBS
from lab.services.access import Principal
from lab.services.leases import LeaseTerms
from lab.services.workers import authenticate_worker

log = logging.getLogger("fedlab.worker")


@dataclass(frozen=True)
class FederationExecutor:
    """The real executor: federation.run.run_experiment (``state_dir``: the local
    federation's folder, or the run folders' when the config names a SuperLink)."""

    state_dir: Path | None = None

    def __call__(
        self, config: ExperimentConfig, out_dir: Path, runtime: str, progress: ProgressFn
    ) -> dict[str, Any]:
        return dict(
            run_experiment(
                config, out_dir, runtime=runtime, progress=progress, state_dir=self.state_dir
            ).metrics
        )


federation_executor: Executor = FederationExecutor()


@dataclass
class Worker:
    """One worker; ``run_once`` claims and runs at most one job.

    ``target`` (deployment runtime only; default: the local federation in
    ``.fedlab/federation``) names the federation the runs go to. ``executor`` defaults to
    :class:`FederationExecutor` on that target. ``processed``: the ids of the claimed jobs
    of the kinds that are tallied (experiments); ``reaped``: what its reaper did;
    ``lease_terms``: its leases (default: ``FEDLAB_LEASE_SECONDS``,
    ``FEDLAB_LEASE_MAX_ATTEMPTS``); ``guard``: stops the run in progress; ``token``: its
    credential, checked when the worker is made (required outside the local environment:
    :class:`~lab.errors.SignInError` otherwise).
    """

    engine: Engine
    worker_id: str
    runs_dir: Path
    executor: Executor | None = None
    runtime: str = "simulation"
    target: FederationTarget | None = None
    processed: list[int] = field(default_factory=list)
    lease_terms: LeaseTerms = field(default_factory=LeaseTerms.from_settings)
    guard: RunGuard = field(default_factory=RunGuard)
    reaped: list[Reaped] = field(default_factory=list)
    #: the worker's credential (lab.services.workers); needed outside the local environment
    token: str | None = field(default=None, repr=False)
    _principal: Principal | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        from lab.settings import get_settings

        with session_scope(self.engine) as s:
            self._principal = authenticate_worker(
                s, self.worker_id, self.token, required=get_settings().passwords_required
            )
        if self.runtime == "deployment":
            self.target = self.target or FederationTarget()
        elif self.target is not None:
            raise ConfigError(
                f"a federation to run on (state dir, SuperLink) applies to the "
                f"deployment runtime only, not {self.runtime!r}",
                hint="Pass --runtime deployment, or drop --state-dir, "
                "--superlink, --root-certificates and --insecure.",
            )
        if self.executor is None:
            self.executor = FederationExecutor(self.target.state_dir if self.target else None)

    @property
    def principal(self) -> Principal:
        """The signed-in worker (its credential checked when it was made)."""
        assert self._principal is not None
        return self._principal

    def preflight(self) -> str:
        """Check where runs will go before claiming anything; a one-line description."""
        if self.target is None:
            return f"{self.runtime} runtime"
        return f"deployment runtime on the {self.target.check()}"

    @property
    def deployment(self) -> DeploymentSection | None:
        """The ``[deployment]`` section of the configs this worker runs (None: none)."""
        return deployment_section(self.target.deployment_section()) if self.target else None

    @property
    def federation(self) -> str | None:
        """Where the runs go, for a model's lineage: the SuperLink, else the local
        federation's state dir (None: not the deployment runtime)."""
        if self.target is None:
            return None
        return self.target.superlink or str(Path(self.target.state_dir).resolve())

    def execute(self, cfg: ExperimentConfig, out_dir: Path, progress: ProgressFn) -> dict[str, Any]:
        """Run ``cfg`` into ``out_dir`` (on the deployment runtime once every party has a
        SuperNode there); the metrics, as metrics.json holds them when it was written."""
        if self.target is not None:
            self.target.check_parties([p.name for p in cfg.parties])
        if self.executor is None:
            raise ConfigError(f"worker {self.worker_id} has no executor")
        metrics = self.executor(cfg, out_dir, self.runtime, progress)
        metrics_file = out_dir / "metrics.json"
        if metrics_file.is_file():
            metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        return metrics

    def reap(self) -> list[Reaped]:
        """Reap the expired leases of every registered kind (what was done)."""
        done = [r for job in JOBS for r in job.reap(self)]
        self.reaped.extend(done)
        return done

    def sweep(self) -> list[Path]:
        """Remove the staging folders runs left in the runs folder whose jobs no worker
        holds a lease on (a run killed before it could clean up); the folders removed."""
        gone: list[Path] = []
        if not self.runs_dir.is_dir():
            return gone
        for job in JOBS:
            for folder in sorted(self.runs_dir.glob(f"{job.folder_prefix}*")):
                suffix = folder.name.removeprefix(job.folder_prefix)
                if suffix.isdigit() and folder.is_dir():
                    gone.extend(job.clean(self, int(suffix)))
        for stage in gone:
            log.warning("removed the staging folder %s a stopped run left", stage)
        return gone

    def run_once(self) -> bool:
        """Reap expired leases, then claim one job of the first registered kind that has
        one and run it; False when no kind had any."""
        self.reap()
        for job in JOBS:
            ticket = job.claim(self)
            if ticket is None:
                continue
            if job.tallied:
                self.processed.append(ticket.id)
            job.process(self, ticket)
            return True
        return False

    def run_forever(
        self,
        *,
        poll_seconds: float = 2.0,
        max_idle_polls: int | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Loop until ``stop`` is set (or ``max_idle_polls`` empty polls in a row); a
        :class:`WorkerStopping` (a drain that ran out) ends the loop after its job was
        given back. The runs folder is swept first."""
        idle = 0
        stop = stop or threading.Event()
        self.sweep()
        while not stop.is_set():
            try:
                if self.run_once():
                    idle = 0
                    continue
            except WorkerStopping as exc:
                log.warning("worker %s: %s", self.worker_id, exc)
                break
            idle += 1
            if max_idle_polls is not None and idle >= max_idle_polls:
                break
            stop.wait(poll_seconds)
        return len(self.processed)


__all__ = [
    "Executor",
    "FederationExecutor",
    "MAX_REASON",
    "PROGRESS_EVENTS",
    "Worker",
    "build_config",
    "federation_executor",
    "json_safe",
    "nested_params",
    "public_metrics",
    "reason_of",
    "roc_points",
]
