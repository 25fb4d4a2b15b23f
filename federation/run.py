"""``run_experiment``: validate, pick the runtime, run the driver, write DIR atomically.

The coordinator's side of every runtime ends in
:func:`federation.runtime.execute.execute_protocol` (re-exported here), which runs the
driver over a transport, tells every party the run is finished (they delete their run
state), and writes metrics.json, disclosure.json and config.toml from the driver's result
and the transport's MessageLog. Nothing here reads party data: DIR reveals to its reader
the driver's public metrics and what crossed the transport (message types, counts, bytes,
field names); each party's data and model piece stay at that party.

The ``plaintext`` backend of an algorithm that has a protected one runs on the local
runtime only (every party in this process: a trial), unless the caller opts in with
``allow_plaintext`` (tests and benchmarks; logged as a warning): elsewhere it is refused
with :class:`~crypto.errors.PlaintextBackendError` before anything starts.

Imports point one way: this module -> :mod:`federation.runtime` -> ``runtime.execute``.
The local and simulation runtimes are imported when chosen (they load Flower).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto.errors import ConfigError, PlaintextBackendError
from federation.algorithms import is_trial_backend
from federation.config import ExperimentConfig, check_data_files, config_to_toml, load_config
from federation.outputs import staging
from federation.protocol import ProgressFn, get_driver, no_progress
from federation.runtime.deployment import train_on_federation
from federation.runtime.execute import PhaseTracker, execute_protocol
from federation.transport import MessageLog

RUNTIMES = ("local", "simulation", "deployment")
log = logging.getLogger("fedlab.run")


@dataclass
class RunSummary:
    """What a run produced (DIR holds the same metrics as metrics.json)."""

    out_dir: Path
    runtime: str
    metrics: dict[str, Any]
    wall_seconds: float
    log: MessageLog | None = field(default=None, repr=False)  # local/simulation only


def resolve_config(config: ExperimentConfig | str | Path) -> tuple[ExperimentConfig, str]:
    """The validated config and its TOML text (the file's own text when given a path)."""
    if isinstance(config, ExperimentConfig):
        return config, config_to_toml(config)
    path = Path(config)
    cfg = load_config(path)
    return cfg, path.read_text(encoding="utf-8")


def run_experiment(
    config: ExperimentConfig | str | Path,
    out_dir: str | Path,
    *,
    runtime: str | None = None,
    progress: ProgressFn | None = None,
    keep_payloads: bool = False,
    state_dir: str | Path | None = None,
    allow_plaintext: bool = False,
) -> RunSummary:
    """Run one experiment and write DIR (see :mod:`federation.outputs`).

    ``runtime`` overrides ``experiment.runtime``. ``keep_payloads`` keeps every message's
    payload in the returned summary's log (local and simulation runtimes; for tests).
    ``state_dir`` is the local federation's folder (deployment runtime).
    ``allow_plaintext`` lets the ``plaintext`` backend run on a runtime other than
    ``local`` (tests and benchmarks only).
    """
    cfg, text = resolve_config(config)
    rt = runtime or cfg.experiment.runtime
    if rt not in RUNTIMES:
        raise ConfigError(f"unknown runtime {rt!r}; choose one of {list(RUNTIMES)}")
    get_driver(cfg.experiment.algorithm)  # fail before starting anything
    check_backend(cfg, rt, allow_plaintext=allow_plaintext)
    progress = progress or no_progress
    out = Path(out_dir).resolve()
    started = time.perf_counter()
    if rt == "deployment":
        metrics = train_on_federation(cfg, text, out, state_dir=state_dir, progress=progress)
        return RunSummary(out, rt, metrics, time.perf_counter() - started)
    check_data_files(cfg)
    with staging(out) as stage:
        if rt == "local":
            from federation.runtime.local import run_local

            metrics, log = run_local(
                cfg,
                stage,
                config_text=text,
                progress=progress,
                started=started,
                keep_payloads=keep_payloads,
            )
        else:
            from federation.runtime.simulation import run_in_simulation

            metrics, log = run_in_simulation(
                cfg,
                stage,
                config_text=text,
                progress=progress,
                started=started,
                keep_payloads=keep_payloads,
            )
    return RunSummary(out, rt, metrics, time.perf_counter() - started, log)


def check_backend(cfg: ExperimentConfig, runtime: str, *, allow_plaintext: bool = False) -> None:
    """Refuse the ``plaintext`` backend outside a local trial (see the module docstring)."""
    algorithm, backend = cfg.experiment.algorithm, cfg.experiment.backend
    if runtime == "local" or not is_trial_backend(algorithm, backend):
        return
    if not allow_plaintext:
        raise PlaintextBackendError(
            f"experiment {cfg.experiment.name!r}: backend 'plaintext' sends every party's "
            f"{algorithm} values in the clear; it runs on the local runtime only, not on "
            f"{runtime!r}"
        )
    log.warning(
        "明文后端 / PLAINTEXT BACKEND: experiment %r runs %s on the %s runtime without "
        "encryption (allow_plaintext: tests and benchmarks only)",
        cfg.experiment.name,
        algorithm,
        runtime,
    )


__all__ = [
    "RUNTIMES",
    "PhaseTracker",
    "RunSummary",
    "check_backend",
    "config_to_toml",
    "execute_protocol",
    "resolve_config",
    "run_experiment",
]
