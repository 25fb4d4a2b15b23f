"""``run_experiment``: validate, pick the runtime, run the driver, write DIR atomically.

The coordinator's side of every runtime ends in
:func:`federation.runtime.execute.execute_protocol` (re-exported here), which runs the
driver over a transport, tells every party the run is finished (they delete their run
state), and writes metrics.json, disclosure.json and config.toml from the driver's result
and the transport's MessageLog. Nothing here reads party data: DIR reveals to its reader
the driver's public metrics and what crossed the transport (message types, counts, bytes,
field names); each party's data and model piece stay at that party.

Imports point one way: this module -> :mod:`federation.runtime` -> ``runtime.execute``.
The local and simulation runtimes are imported when chosen (they load Flower).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto.errors import ConfigError
from federation.config import ExperimentConfig, check_data_files, load_config
from federation.outputs import staging
from federation.protocol import ProgressFn, get_driver, no_progress
from federation.runtime.deployment import train_on_federation
from federation.runtime.execute import PhaseTracker, execute_protocol
from federation.transport import MessageLog

RUNTIMES = ("local", "simulation", "deployment")


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


def config_to_toml(cfg: ExperimentConfig) -> str:
    import tomli_w

    def clean(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items() if v is not None}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj

    return str(tomli_w.dumps(clean(cfg.model_dump(mode="json"))))


def run_experiment(
    config: ExperimentConfig | str | Path,
    out_dir: str | Path,
    *,
    runtime: str | None = None,
    progress: ProgressFn | None = None,
    keep_payloads: bool = False,
    state_dir: str | Path | None = None,
) -> RunSummary:
    """Run one experiment and write DIR (see :mod:`federation.outputs`).

    ``runtime`` overrides ``experiment.runtime``. ``keep_payloads`` keeps every message's
    payload in the returned summary's log (local and simulation runtimes; for tests).
    ``state_dir`` is the local federation's folder (deployment runtime).
    """
    cfg, text = resolve_config(config)
    rt = runtime or cfg.experiment.runtime
    if rt not in RUNTIMES:
        raise ConfigError(f"unknown runtime {rt!r}; choose one of {list(RUNTIMES)}")
    get_driver(cfg.experiment.algorithm)  # fail before starting anything
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


__all__ = [
    "RUNTIMES",
    "PhaseTracker",
    "RunSummary",
    "config_to_toml",
    "execute_protocol",
    "resolve_config",
    "run_experiment",
]
