"""Draining a worker process: what ``fedlab lab worker`` does on SIGTERM and SIGINT.

The first signal stops the worker from claiming anything more; the job in progress gets
the drain period (``FEDLAB_DRAIN_SECONDS``, ``--drain``) to finish and be filed. When the
period runs out (or at a second signal) the run is interrupted: :class:`WorkerStopping` is
raised in it, so the run's own clean-up runs (its staging folder is removed; a deployment
run is stopped on the SuperLink and discarded at the parties, :mod:`federation.runtime`),
and the job is given back under its lease: requeued for another worker, or failed with the
reason on its last attempt (:meth:`lab.jobs.base.Job.process`). Either way the worker then
exits and no job is left ``running`` under it.

The same handlers let the worker's heartbeat stop a run at once when the job's lease was
lost or the job was cancelled (SIGUSR1 to the main thread, :class:`lab.jobs.lease.RunGuard`).
A SIGKILL cannot be handled: the job's lease then expires and a reaper takes it over.

What it reveals: nothing; it only logs the signal and the job's id.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from lab.jobs.lease import RunGuard

log = logging.getLogger("fedlab.worker")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
INTERRUPT_SIGNAL = signal.SIGUSR1


@dataclass
class Drain:
    """The signals a worker process received (names, in order)."""

    signals: list[str] = field(default_factory=list)

    @property
    def stopped_by(self) -> str | None:
        return self.signals[0] if self.signals else None


@contextmanager
def draining(guard: RunGuard, stop: threading.Event, grace: float) -> Iterator[Drain]:
    """Handle SIGTERM and SIGINT (drain within ``grace`` seconds, then halt the run) and
    SIGUSR1 (the heartbeat's request to stop the run) in the main thread while the block
    runs; the previous handlers come back afterwards."""
    drain = Drain()
    main = threading.main_thread().ident

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        drain.signals.append(name)
        stop.set()
        if len(drain.signals) > 1 or grace <= 0:
            guard.halt(name)
            return
        log.warning("%s: no new jobs; the current one has %.0f s to finish", name, grace)
        signal.setitimer(signal.ITIMER_REAL, grace)

    def on_alarm(_signum: int, _frame: FrameType | None) -> None:
        log.warning("the drain period ran out; stopping the current run")
        guard.halt(drain.stopped_by or "SIGTERM")

    def on_interrupt(_signum: int, _frame: FrameType | None) -> None:
        if guard.in_run and guard.pending is not None:
            raise guard.pending

    def interrupt() -> None:
        if main is not None:
            signal.pthread_kill(main, INTERRUPT_SIGNAL)

    previous: dict[signal.Signals, Any] = {}
    handlers: dict[signal.Signals, Callable[[int, FrameType | None], None]] = {
        signal.SIGALRM: on_alarm,
        INTERRUPT_SIGNAL: on_interrupt,
    }
    handlers.update({sig: on_stop for sig in STOP_SIGNALS})
    for sig, handler in handlers.items():
        previous[sig] = signal.signal(sig, handler)
    guard.interrupt = interrupt
    try:
        yield drain
    finally:
        guard.interrupt = None
        signal.setitimer(signal.ITIMER_REAL, 0)
        for old_sig, old_handler in previous.items():
            signal.signal(old_sig, old_handler)


__all__ = ["Drain", "INTERRUPT_SIGNAL", "STOP_SIGNALS", "draining"]
