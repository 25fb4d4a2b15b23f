"""``fedlab lab worker`` and ``fedlab lab recover``: run the catalog's jobs, reap lost ones.

The worker claims jobs with a lease that its heartbeat renews, reaps expired leases at each
poll and drains on SIGTERM or SIGINT (:mod:`lab.drain`). ``recover`` runs the reaper once:
every job whose lease expired is adopted (its orphaned run had finished), requeued or
failed with the reason, and the staging folders stopped runs left are removed. Both act as
the worker's service account (``worker:ID``), not as a catalog user. What they print: job
ids, statuses and reasons, never a record.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path
from typing import Any

import typer

from lab.commands.labcmd import DbOpt, _engine

ExecutorOpt = typer.Option(
    None,
    "--executor",
    hidden=True,
    help="MODULE:NAME of a callable to run configs with instead of the federation "
    "(tests, benchmarks).",
)


def load_executor(spec: str | None) -> Any:
    """The callable ``MODULE:NAME`` names (None: the federation's own executor)."""
    from lab.errors import ConfigError

    if not spec:
        return None
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ConfigError(f"--executor {spec!r} must look like MODULE:NAME")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"--executor {spec!r}: {type(exc).__name__}: {exc}",
            hint="Name an importable module and a callable in it.",
        ) from None
    if not callable(found):
        raise ConfigError(f"--executor {spec!r} is not callable")
    return found


TOKEN_ENV = "FEDLAB_WORKER_TOKEN"
"""Where a worker reads its credential (never a command-line flag: it would show in ps)."""


def worker(
    db: str | None = DbOpt,
    worker_id: str = typer.Option(f"{os.uname().nodename}-{os.getpid()}", "--id"),
    runtime: str = typer.Option("simulation", help="local | simulation | deployment"),
    runs: Path | None = typer.Option(None, help="Folder for run outputs."),
    once: bool = typer.Option(False, help="Run what is approved now, then exit."),
    poll: float = typer.Option(2.0, help="Seconds between polls when idle."),
    drain: float | None = typer.Option(
        None,
        help="Seconds a SIGTERM or SIGINT gives the current job to finish before it is "
        "stopped and given back (default FEDLAB_DRAIN_SECONDS, 30).",
    ),
    state_dir: Path | None = typer.Option(
        None,
        help="Deployment: the state dir of a federation `fedlab federation up` "
        "started (default .fedlab/federation); with --superlink, where the run "
        "folders go.",
    ),
    superlink: str | None = typer.Option(
        None,
        help="Deployment: HOST:PORT of a SuperLink's Control API, instead of a local federation.",
    ),
    root_certificates: Path | None = typer.Option(
        None,
        help="Deployment with --superlink: the CA certificate (PEM) that "
        "signed the SuperLink's certificate (default: the system's CAs).",
    ),
    insecure: bool = typer.Option(
        False, help="Deployment with --superlink: plaintext, for a SuperLink on this machine only."
    ),
    executor: str | None = ExecutorOpt,
) -> None:
    """Claim approved experiments and run them through the federation, one at a time;
    each claimed job holds a lease renewed by heartbeat (FEDLAB_LEASE_SECONDS). Outside
    FEDLAB_ENVIRONMENT=local the worker signs in with the credential in FEDLAB_WORKER_TOKEN
    (`fedlab lab workers register --id ID`)."""
    import logging

    from federation.runtime.target import FederationTarget
    from lab.drain import draining
    from lab.runner import Worker
    from lab.settings import get_settings

    target = None
    if runtime == "deployment" or state_dir or superlink or root_certificates or insecure:
        target = FederationTarget(
            **({"state_dir": state_dir} if state_dir else {}),
            superlink=superlink,
            root_certificates=root_certificates,
            insecure=insecure,
        )
    settings = get_settings()
    w = Worker(
        _engine(db),
        worker_id,
        runs or settings.runs_path,
        executor=load_executor(executor),
        runtime=runtime,
        target=target,
        token=os.environ.get(TOKEN_ENV) or None,
    )
    typer.echo(f"worker {worker_id}: {w.preflight()}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    grace = settings.drain_seconds if drain is None else drain
    with draining(w.guard, stop, grace) as signals:
        n = w.run_forever(poll_seconds=poll, max_idle_polls=1 if once else None, stop=stop)
    how = f"stopped by {signals.stopped_by}; " if signals.stopped_by else ""
    typer.echo(f"worker {worker_id}: {how}{n} experiment(s) processed")


def recover(
    db: str | None = DbOpt,
    worker_id: str = typer.Option(
        f"recover-{os.uname().nodename}-{os.getpid()}", "--id", help="Who the reaper acts as."
    ),
    runs: Path | None = typer.Option(
        None, help="The workers' runs folder (default FEDLAB_RUNS_DIR or .fedlab/runs)."
    ),
) -> None:
    """Reap jobs whose worker lost its lease: adopt an orphaned run's finished result,
    else requeue the job (or fail it on its last attempt) with the reason; remove the
    staging folders stopped runs left."""
    from lab.runner import Worker
    from lab.settings import get_settings

    w = Worker(
        _engine(db),
        worker_id,
        runs or get_settings().runs_path,
        runtime="local",
        token=os.environ.get(TOKEN_ENV) or None,
    )
    swept = w.sweep()
    done = w.reap()
    for r in done:
        typer.echo(f"{r.kind.replace('_', ' ')} {r.id}: {r.outcome} ({r.reason})")
    typer.echo(
        f"recover: {len(done)} expired lease(s) taken over, {len(swept)} staging folder(s) removed"
    )


def register(app: typer.Typer) -> None:
    """Add ``worker`` and ``recover`` to the ``fedlab lab`` group."""
    app.command(name="worker")(worker)
    app.command(name="recover")(recover)


__all__ = ["load_executor", "recover", "register", "worker"]
