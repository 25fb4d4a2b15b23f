"""The coordinator inside a Flower ServerApp: discover parties, run the protocol, write DIR.

Shared by the simulation runtime (ServerApp in this process) and the deployment runtime
(ServerApp process started by the SuperLink). Only protocol messages and the discovery
question ``runtime.whoami`` cross to the parties.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flwr.serverapp import Grid

from federation.config import ExperimentConfig
from federation.flower_transport import FlowerTransport, discover_parties
from federation.protocol import ProgressFn, no_progress
from federation.transport import MessageLog


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
) -> tuple[dict[str, Any], MessageLog]:
    """Discover every party of ``cfg`` on ``grid``, run the driver, write into ``stage``."""
    from federation.run import execute_protocol

    names = [p.name for p in cfg.parties]
    progress("phase", {"phase": "join"})
    nodes = discover_parties(grid, names, timeout=cfg.experiment.join_timeout)
    roles = {p.name: p.role for p in cfg.parties}
    transport = FlowerTransport(grid, nodes, roles, timeout=cfg.experiment.timeout, poll=poll,
                                keep_payloads=keep_payloads)
    metrics = execute_protocol(transport, cfg, stage, runtime=runtime, config_text=config_text,
                               progress=progress, started=started,
                               startup_seconds=time.perf_counter() - started)
    return metrics, transport.log


__all__ = ["coordinate"]
