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

Start-up: this module starts Ray itself before Flower does (Flower's Ray backend then uses
that cluster and shuts it down at the end): a private cluster per run, its agents' start-up
waits taken out of the raylet's fixed 15 s, and a bounded retry of the start-up time-out
(:mod:`federation.runtime.ray_start`). A failure names the cause Ray's logs give.
``run_simulation`` is the only in-process entry point Flower 1.41 has (its successor is the
``flwr run`` CLI, which starts a separate process and installs the app), so its deprecation
warning is dropped while it runs; every other Flower warning still shows.
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

from crypto.errors import ProtocolError, RuntimeStartError
from federation.client_app import SimulationParties, build_client_app
from federation.config import ExperimentConfig
from federation.outputs import party_dir
from federation.protocol import ProgressFn
from federation.runtime.coordinator import coordinate
from federation.runtime.dispatch import PartyIdentity
from federation.runtime.ray_start import StartCause, private_ray, read_cause
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


def ray_cpus(n_parties: int) -> int:
    """One logical CPU per simulated party, at most the machine's cores in parallel."""
    return max(1, min(n_parties, os.cpu_count() or 1))


def backend_config(n_parties: int) -> dict[str, Any]:
    """Flower's backend settings (``init_args`` apply only where Ray is not started yet)."""
    return {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": ray_cpus(n_parties),
            "logging_level": "ERROR",
            "log_to_driver": False,
        },
    }


_DEPRECATION = "`run_simulation` function is deprecated"


class _DropRunSimulationDeprecation(logging.Filter):
    """Drops Flower's deprecation warning for ``run_simulation`` (see the module notes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _DEPRECATION not in record.getMessage()


@contextlib.contextmanager
def quiet_flower() -> Iterator[None]:
    """Flower's log at WARNING, without the ``run_simulation`` deprecation warning."""
    flwr_logger = logging.getLogger("flwr")
    level = flwr_logger.level
    drop = _DropRunSimulationDeprecation()
    flwr_logger.setLevel(logging.WARNING)
    flwr_logger.addFilter(drop)
    try:
        yield
    finally:
        flwr_logger.removeFilter(drop)
        flwr_logger.setLevel(level)


def _say_retry(attempt: int, cause: StartCause) -> None:
    logging.getLogger(__name__).warning(
        "Ray did not start (attempt %d): %s; starting again", attempt, cause.message
    )


def simulation_failure(exc: BaseException, ray_dir: Path) -> ProtocolError:
    """The error for a failed simulation: the cause in Ray's logs, else Flower's error."""
    cause = read_cause(ray_dir)
    if cause is not None and cause.retryable:
        return RuntimeStartError(f"Flower's simulation runtime failed: {cause.message}")
    if cause is not None:
        return ProtocolError(
            f"Flower's simulation runtime failed: {cause.message}",
            hint="See Ray's message above; run again, or use --runtime local.",
        )
    inner = exc.__cause__ or exc
    return ProtocolError(
        f"Flower's simulation runtime failed: {type(inner).__name__}: {inner}",
        hint="Ray's logs name no cause; see Flower's log above, then run again.",
    )


def simulate(server_app: Any, client_app: Any, num_supernodes: int) -> None:
    """Flower's ``run_simulation`` on a private Ray cluster started reliably (see above)."""
    from flwr.simulation import run_simulation  # loads Ray

    for k, v in FLOWER_ENV.items():
        os.environ.setdefault(k, v)
    with private_ray(ray_cpus(num_supernodes), on_retry=_say_retry) as ray_dir:
        try:
            with quick_engine_polling(), quiet_flower():
                run_simulation(
                    server_app,
                    client_app,
                    num_supernodes=num_supernodes,
                    backend_config=backend_config(num_supernodes),  # type: ignore[arg-type]
                )
        except RuntimeError as exc:
            raise simulation_failure(exc, ray_dir) from exc


def run_in_simulation(
    cfg: ExperimentConfig,
    stage: Path,
    *,
    config_text: str,
    progress: ProgressFn,
    started: float,
    keep_payloads: bool = False,
) -> tuple[dict[str, Any], MessageLog]:
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

    try:
        simulate(build_server_app(main), client, len(identities))
    except ProtocolError:
        if "error" in box:  # the coordinator's own error is the real one
            raise box["error"] from None
        raise
    finally:
        dirs.close()
    if "error" in box:
        raise box["error"]
    if "result" not in box:
        raise ProtocolError("the simulation ended without running the coordinator")
    return box["result"]  # type: ignore[no-any-return]


__all__ = [
    "SIM_POLL",
    "backend_config",
    "quick_engine_polling",
    "quiet_flower",
    "ray_cpus",
    "run_in_simulation",
    "simulate",
    "simulation_failure",
]
