"""``run_experiment``: validate, pick the runtime, run the driver, write DIR atomically.

The coordinator's side of every runtime ends in :func:`execute_protocol`, which runs the
driver over a transport, tells every party the run is finished (they delete their run
state), and writes metrics.json, disclosure.json and config.toml from the driver's result
and the transport's MessageLog.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto.errors import ConfigError
from federation.config import ExperimentConfig, check_data_files, load_config
from federation.outputs import build_disclosure, build_metrics, staging, write_outputs
from federation.protocol import ProgressFn, get_driver, no_progress
from federation.runtime.actions import FINISH
from federation.transport import Envelope, MessageLog, Transport

RUNTIMES = ("local", "simulation", "deployment")


@dataclass
class RunSummary:
    """What a run produced (DIR holds the same metrics as metrics.json)."""

    out_dir: Path
    runtime: str
    metrics: dict[str, Any]
    wall_seconds: float
    log: MessageLog | None = field(default=None, repr=False)  # local/simulation only


class PhaseTracker:
    """Wraps a progress callback; times phases and counts exchanges per epoch.

    A driver reports ``progress("phase", {"phase": "alignment"})`` when a phase starts and
    ``progress("epoch", {"epoch": i, "loss": ...})`` when an epoch ends.
    """

    def __init__(self, log: MessageLog, progress: ProgressFn) -> None:
        self.log = log
        self.progress = progress
        self.seconds: dict[str, float] = {}
        self.epoch_exchanges: list[int] = []
        self._phase: str | None = None
        self._t = time.perf_counter()
        self._mark = log.exchanges

    def __call__(self, event: str, fields: dict[str, Any]) -> None:
        if event == "phase":
            self.close()
            self._phase = str(fields.get("phase") or fields.get("name") or "phase")
            self._t = time.perf_counter()
            self._mark = self.log.exchanges
        elif event == "epoch":
            self.epoch_exchanges.append(self.log.exchanges - self._mark)
            self._mark = self.log.exchanges
        self.progress(event, fields)

    def close(self) -> None:
        if self._phase is not None:
            dt = time.perf_counter() - self._t
            self.seconds[self._phase] = self.seconds.get(self._phase, 0.0) + dt
            self._phase = None


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


def execute_protocol(
    transport: Transport,
    cfg: ExperimentConfig,
    stage: Path,
    *,
    runtime: str,
    config_text: str,
    progress: ProgressFn = no_progress,
    started: float,
    startup_seconds: float,
) -> dict[str, Any]:
    """Run the driver over ``transport`` and write the run's files into ``stage``."""
    driver = get_driver(cfg.experiment.algorithm)
    tracker = PhaseTracker(transport.log, progress)
    t0 = time.perf_counter()
    result = driver(transport, cfg, progress=tracker)
    tracker.close()
    protocol_seconds = time.perf_counter() - t0
    transport.exchange([Envelope(p.name, FINISH, {}) for p in cfg.parties])
    phases = {"startup": startup_seconds, "protocol": protocol_seconds, **tracker.seconds}
    metrics = build_metrics(
        result,
        transport.log,
        runtime=runtime,
        wall_seconds=time.perf_counter() - started,
        phase_seconds=phases,
        epoch_exchanges=tracker.epoch_exchanges,
    )
    roles = {name: role.value for name, role in transport.party_roles().items()}
    disclosure = build_disclosure(transport.log, roles, result)
    write_outputs(
        stage,
        metrics=metrics,
        disclosure=disclosure,
        config_text=config_text,
        model_summary=result.model_summary,
    )
    return metrics


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
        from federation.runtime.deployment import train_on_federation

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
