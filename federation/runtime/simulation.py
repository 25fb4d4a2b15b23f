"""Simulation runtime: Flower's simulation engine in this process, Ray actors as SuperNodes.

The ServerApp runs in a thread of this process (so the MessageLog is available to the
caller); each simulated SuperNode ``partition-id`` i plays the config's i-th party, with
work dir ``DIR_tmp/parties/NAME`` (its model piece); its run state stays in a private
folder of its own outside DIR, deleted when the run ends. Runtime dependency installation
is never triggered (the in-process API installs nothing), telemetry and update checks are
off.

Latency: Flower 1.41's simulation engine looks for new messages every 0.1 s (a hard-coded
wait in ``vce_api.add_messages_to_queue``) and the coordinator polled for replies every
50 ms; on a protocol of many short exchanges (hetero LR: 11 per epoch at batch 8192) that
was ~0.1-0.2 s per exchange. Both now poll every :data:`SIM_POLL` seconds (the engine's
wait is shortened only while our simulation runs, and only on the Flower version it was
checked against; any other version keeps Flower's own timing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid

from crypto.errors import ProtocolError
from federation.client_app import SimulationParties, build_client_app
from federation.config import ExperimentConfig
from federation.outputs import party_dir
from federation.protocol import ProgressFn
from federation.runtime.coordinator import coordinate
from federation.runtime.dispatch import PartyIdentity
from federation.runtime.state import private_party_dirs
from federation.server_app import build_server_app
from federation.transport import MessageLog

FLOWER_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}

#: seconds between looks for new messages (engine side and coordinator side)
SIM_POLL = 0.005
#: Flower releases whose simulation engine :func:`quick_engine_polling` was checked against
_CHECKED_FLOWER = ("1.41.",)


class _QuickWait:
    """An Event whose ``wait`` never blocks longer than ``interval`` (stop still works)."""

    def __init__(self, event: threading.Event, interval: float) -> None:
        self._event = event
        self._interval = interval

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        cap = self._interval if timeout is None else min(timeout, self._interval)
        return self._event.wait(cap)


@contextlib.contextmanager
def quick_engine_polling(interval: float = SIM_POLL) -> Iterator[bool]:
    """Shorten the simulation engine's 0.1 s message poll while the block runs.

    Yields whether the patch applied (Flower version checked and the hook found).
    """
    import flwr

    try:
        from flwr.server.superlink.fleet.vce import vce_api
    except ImportError:
        yield False
        return
    original = getattr(vce_api, "add_messages_to_queue", None)
    if original is None or not flwr.__version__.startswith(_CHECKED_FLOWER):
        yield False
        return

    def add_messages_to_queue(
        state: Any, queue: Any, nodes_mapping: Any, f_stop: threading.Event
    ) -> None:
        original(state, queue, nodes_mapping, _QuickWait(f_stop, interval))

    vce_api.add_messages_to_queue = add_messages_to_queue
    try:
        yield True
    finally:
        vce_api.add_messages_to_queue = original


def backend_config(n_parties: int) -> dict[str, Any]:
    """One logical CPU per simulated party, at most the machine's cores in parallel."""
    cores = os.cpu_count() or 1
    return {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": max(1, min(n_parties, cores)),
            "logging_level": "ERROR",
            "log_to_driver": False,
        },
    }


def run_in_simulation(
    cfg: ExperimentConfig,
    stage: Path,
    *,
    config_text: str,
    progress: ProgressFn,
    started: float,
    keep_payloads: bool = False,
) -> tuple[dict[str, Any], MessageLog]:
    from flwr.simulation import run_simulation  # loads Ray

    for k, v in FLOWER_ENV.items():
        os.environ.setdefault(k, v)
    dirs = contextlib.ExitStack()  # each party's state: a private folder, never in DIR
    private = dirs.enter_context(private_party_dirs([p.name for p in cfg.parties]))
    identities = []
    for p in cfg.parties:
        work = party_dir(stage, p.name)
        work.mkdir(parents=True, exist_ok=True)
        identities.append(PartyIdentity(p.name, p.data, work, private=private[p.name]))
    client = build_client_app(SimulationParties(identities))
    box: dict[str, Any] = {}

    def main(grid: Grid, context: Context) -> None:
        try:
            box["result"] = coordinate(
                grid,
                cfg,
                stage,
                runtime="simulation",
                config_text=config_text,
                started=started,
                progress=progress,
                keep_payloads=keep_payloads,
                poll=SIM_POLL,
                run_key=str(context.run_id),
            )
        except BaseException as exc:  # re-raised below, in the caller's thread
            box["error"] = exc

    flwr_logger = logging.getLogger("flwr")
    level = flwr_logger.level
    flwr_logger.setLevel(logging.WARNING)
    try:
        with quick_engine_polling():
            run_simulation(
                build_server_app(main),
                client,
                num_supernodes=len(identities),
                backend_config=backend_config(len(identities)),
            )  # type: ignore[arg-type]
    except RuntimeError as exc:
        if "error" in box:
            raise box["error"] from None
        cause = exc.__cause__ or exc
        raise ProtocolError(
            f"Flower's simulation runtime failed: {type(cause).__name__}: {cause}",
            hint="A Ray worker may have run out of memory; see the log above, then run again.",
        ) from exc
    finally:
        flwr_logger.setLevel(level)
        dirs.close()
    if "error" in box:
        raise box["error"]
    if "result" not in box:
        raise ProtocolError("the simulation ended without running the coordinator")
    return box["result"]  # type: ignore[no-any-return]


__all__ = ["SIM_POLL", "backend_config", "quick_engine_polling", "run_in_simulation"]
