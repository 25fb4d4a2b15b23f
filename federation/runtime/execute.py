"""The coordinator's last step in every runtime: run the driver, finish, write the files.

:func:`execute_protocol` runs the driver over a transport, tells every party the run is
finished (``runtime.finish``: they delete their run state), and writes metrics.json,
disclosure.json and config.toml from the driver's result and the transport's MessageLog.
What the files reveal is what crossed the transport (message types, counts, bytes, field
names) and the driver's public metrics; no party's data passes through here.

Each runtime (:mod:`federation.runtime.local`, :mod:`federation.runtime.coordinator`) calls
it; :mod:`federation.run` picks the runtime. Imports point one way: run -> runtimes -> this.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from federation.config import ExperimentConfig
from federation.outputs import build_disclosure, build_metrics, write_outputs
from federation.protocol import ProgressFn, get_driver, no_progress
from federation.runtime.actions import FINISH
from federation.transport import Envelope, MessageLog, Transport


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


__all__ = ["PhaseTracker", "execute_protocol"]
