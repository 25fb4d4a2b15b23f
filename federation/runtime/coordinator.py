"""The coordinator inside a Flower ServerApp: discover parties, run the protocol, write DIR.

Shared by the simulation runtime (ServerApp in this process) and the deployment runtime
(ServerApp process started by the SuperLink). Only protocol messages and the runtime's own
questions (``runtime.whoami``, ``runtime.finish``, ``runtime.discard``) cross to the parties.

On a deployment a failed run tells every party to discard it (``run_key``: its Flower run
id), so no party keeps the state or half-written files of a run that filed no model;
:func:`discard_on_federation` does the same for a run whose coordinator is gone (cancelled).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flwr.serverapp import Grid

from federation.config import ExperimentConfig
from federation.flower_transport import FlowerTransport, discover_parties
from federation.protocol import ProgressFn, no_progress
from federation.runtime.actions import DISCARD, DISCARD_TIMEOUT
from federation.runtime.execute import execute_protocol
from federation.transport import Envelope, MessageLog

log = logging.getLogger("fedlab.coordinator")


def coordinate(
    grid: Grid,
    cfg: ExperimentConfig,
    stage: Path,
    *,
    runtime: str,
    config_text: str,
    started: float,
    progress: ProgressFn = no_progress,
    keep_payloads: bool = False,
    poll: float = 0.05,
    run_key: str | None = None,
) -> tuple[dict[str, Any], MessageLog]:
    """Discover every party of ``cfg`` on ``grid``, run the driver, write into ``stage``;
    with ``run_key`` (deployment), a failure first tells the parties to discard the run."""
    names = [p.name for p in cfg.parties]
    progress("phase", {"phase": "join"})
    nodes = discover_parties(grid, names, timeout=cfg.experiment.join_timeout)
    roles = {p.name: p.role for p in cfg.parties}
    transport = FlowerTransport(
        grid, nodes, roles, timeout=cfg.experiment.timeout, poll=poll, keep_payloads=keep_payloads
    )
    try:
        metrics = execute_protocol(
            transport,
            cfg,
            stage,
            runtime=runtime,
            config_text=config_text,
            progress=progress,
            started=started,
            startup_seconds=time.perf_counter() - started,
        )
    except Exception:
        if run_key is not None:
            discard_run(transport, names, run_key)
        raise
    return metrics, transport.log


def discard_run(transport: FlowerTransport, parties: Sequence[str], run_key: str) -> bool:
    """Ask every party to discard run ``run_key`` (best effort: a party that does not answer
    within :data:`DISCARD_TIMEOUT` is logged, not raised); whether all confirmed."""
    try:
        transport.exchange(
            [Envelope(p, DISCARD, {"run": run_key}) for p in parties], timeout=DISCARD_TIMEOUT
        )
    except Exception as exc:  # noqa: BLE001 - the run's own error is the one that matters
        log.warning(
            "run %s: not every party confirmed discarding it (%s)", run_key, type(exc).__name__
        )
        return False
    return True


def discard_on_federation(grid: Grid, cfg: ExperimentConfig, run_key: str) -> bool:
    """In a run of its own: every party of ``cfg`` discards run ``run_key``."""
    names = [p.name for p in cfg.parties]
    nodes = discover_parties(grid, names, timeout=min(cfg.experiment.join_timeout, DISCARD_TIMEOUT))
    transport = FlowerTransport(
        grid, nodes, {p.name: p.role for p in cfg.parties}, timeout=DISCARD_TIMEOUT
    )
    return discard_run(transport, names, run_key)


__all__ = ["DISCARD_TIMEOUT", "coordinate", "discard_on_federation", "discard_run"]
