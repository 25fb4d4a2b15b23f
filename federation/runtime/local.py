"""Local runtime: every party's handlers run in this process (LocalTransport).

Each party's work dir is ``DIR_tmp/parties/NAME``; messages are still encoded to Flower
records and back, and logged, exactly as in the Flower runtimes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from federation.config import ExperimentConfig
from federation.local_transport import LocalTransport
from federation.outputs import party_dir
from federation.party import PartyContext
from federation.protocol import ProgressFn
from federation.runtime.execute import execute_protocol
from federation.transport import MessageLog


def local_transport(
    cfg: ExperimentConfig, stage: Path, *, keep_payloads: bool = False
) -> LocalTransport:
    parties = []
    for p in cfg.parties:
        work = party_dir(stage, p.name)
        work.mkdir(parents=True, exist_ok=True)
        parties.append(PartyContext(name=p.name, role=p.role, data_path=p.data, work_dir=work))
    return LocalTransport(parties, keep_payloads=keep_payloads)


def run_local(
    cfg: ExperimentConfig,
    stage: Path,
    *,
    config_text: str,
    progress: ProgressFn,
    started: float,
    keep_payloads: bool = False,
) -> tuple[dict[str, Any], MessageLog]:
    t0 = time.perf_counter()
    transport = local_transport(cfg, stage, keep_payloads=keep_payloads)
    metrics = execute_protocol(
        transport,
        cfg,
        stage,
        runtime="local",
        config_text=config_text,
        progress=progress,
        started=started,
        startup_seconds=time.perf_counter() - t0,
    )
    return metrics, transport.log


__all__ = ["local_transport", "run_local"]
