"""The coordinator inside a Flower ServerApp: discover parties, run the protocol, write DIR.

Shared by the simulation runtime (ServerApp in this process) and the deployment runtime
(ServerApp process started by the SuperLink). Only protocol messages and the runtime's own
questions (``runtime.whoami``, ``runtime.finish``, ``runtime.discard``) cross to the parties.

Every run ends at every party: a run that succeeded with ``runtime.finish``, any other end
(an error at any party, a timeout, the coordinator told to stop) with ``runtime.discard``
of its run id (``run_key``: the Flower run id), sent from a ``finally`` block, so no party
keeps the state or half-written files of a run that filed no model. Which parties did not
confirm is recorded in :class:`RunEnds`, and a later run's coordinator reports those runs
ended to them (``ended``); :func:`discard_on_federation` does the same for a run whose
coordinator is gone (cancelled). The parties learn nothing but run ids.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flwr.serverapp import Grid

from federation.config import ExperimentConfig
from federation.flower_transport import FlowerTransport, discover_parties
from federation.protocol import ProgressFn, no_progress
from federation.runtime.actions import DISCARD, DISCARD_JOIN_TIMEOUT, DISCARD_TIMEOUT
from federation.runtime.execute import execute_protocol
from federation.transport import Envelope, MessageLog

log = logging.getLogger("fedlab.coordinator")


@dataclass
class RunEnds:
    """Runs ended without every party's confirmation: ``pending`` (run id -> parties still to
    be told, from earlier runs) on the way in, ``unconfirmed`` (the same shape, what is still
    to be told afterwards, this run included) on the way out."""

    pending: dict[str, list[str]] = field(default_factory=dict)
    unconfirmed: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, list[str]]:
        return {run: sorted(parties) for run, parties in self.unconfirmed.items() if parties}


def discard_timeout(cfg: ExperimentConfig) -> float:
    """Seconds the parties get to confirm a discard: :data:`DISCARD_TIMEOUT`, at most the
    experiment's ``timeout``."""
    return min(DISCARD_TIMEOUT, cfg.experiment.timeout)


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
    ends: RunEnds | None = None,
    registered: Mapping[str, int] | None = None,
) -> tuple[dict[str, Any], MessageLog]:
    """Discover every party of ``cfg`` on ``grid``, run the driver, write into ``stage``;
    with ``run_key``, any end but success tells the parties to discard the run. ``ends``
    brings earlier runs to report ended and takes back what was not confirmed."""
    ends = ends if ends is not None else RunEnds()
    names = [p.name for p in cfg.parties]
    progress("phase", {"phase": "join"})
    nodes = discover_parties(
        grid, names, timeout=cfg.experiment.join_timeout, registered=registered
    )
    roles = {p.name: p.role for p in cfg.parties}
    transport = FlowerTransport(
        grid, nodes, roles, timeout=cfg.experiment.timeout, poll=poll, keep_payloads=keep_payloads
    )
    ends.unconfirmed = {run: list(ps) for run, ps in ends.pending.items()}
    if ends.pending:
        _report_ended(transport, names, ends, discard_timeout(cfg))
    ok = False
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
        ok = True
    finally:
        if not ok and run_key is not None:
            done = end_runs(transport, {p: [run_key] for p in names}, discard_timeout(cfg))
            missing = [p for p in names if p not in done]
            if missing:
                ends.unconfirmed[run_key] = missing
    return metrics, transport.log


def _report_ended(
    transport: FlowerTransport, names: Sequence[str], ends: RunEnds, timeout: float
) -> None:
    """Tell this run's parties the earlier runs they have not confirmed ending."""
    runs = {p: [r for r, ps in ends.pending.items() if p in ps] for p in names}
    done = end_runs(transport, {p: rs for p, rs in runs.items() if rs}, timeout)
    for run, parties in ends.unconfirmed.items():
        ends.unconfirmed[run] = [p for p in parties if p not in done]


def end_runs(
    transport: FlowerTransport, runs: Mapping[str, Sequence[str]], timeout: float
) -> set[str]:
    """Ask each party to discard its runs in ``runs`` (party -> run ids; best effort: a party
    that does not answer within ``timeout`` is logged, not raised); the parties that
    confirmed."""
    if not runs:
        return set()
    try:
        replies = transport.answered(
            [Envelope(p, DISCARD, {"runs": list(rs)}) for p, rs in runs.items()],
            timeout=timeout,
        )
    except Exception as exc:  # noqa: BLE001 - the run's own error is the one that matters
        log.warning("discarding runs: the SuperLink refused (%s)", type(exc).__name__)
        return set()
    done = {p for p, env in replies.items() if env.payload.get("ok")}
    if set(runs) - done:
        log.warning(
            "runs %s: parties %s did not confirm discarding them",
            sorted({r for rs in runs.values() for r in rs}),
            sorted(set(runs) - done),
        )
    return done


def discard_run(transport: FlowerTransport, parties: Sequence[str], run_key: str) -> bool:
    """Ask every party to discard run ``run_key`` (best effort); whether all confirmed."""
    done = end_runs(transport, {p: [run_key] for p in parties}, DISCARD_TIMEOUT)
    return done == set(parties)


def discard_on_federation(
    grid: Grid, cfg: ExperimentConfig, run_key: str, registered: Mapping[str, int] | None = None
) -> bool:
    """In a run of its own: every party of ``cfg`` discards run ``run_key``."""
    names = [p.name for p in cfg.parties]
    nodes = discover_parties(
        grid,
        names,
        timeout=max(DISCARD_TIMEOUT, min(cfg.experiment.join_timeout, DISCARD_JOIN_TIMEOUT)),
        registered=registered,
    )
    transport = FlowerTransport(
        grid, nodes, {p.name: p.role for p in cfg.parties}, timeout=DISCARD_TIMEOUT
    )
    return discard_run(transport, names, run_key)


__all__ = [
    "DISCARD_TIMEOUT",
    "RunEnds",
    "coordinate",
    "discard_on_federation",
    "discard_run",
    "discard_timeout",
    "end_runs",
]
