"""The worker side of a lease: the heartbeat that keeps it, and the guard that stops a run
that must stop (its lease was lost, its job was cancelled, the worker was told to stop).

:class:`Heartbeat` renews the lease of the job being run every ``terms.heartbeat_seconds``
from a thread of its own (:func:`lab.services.leases.renew`). When the renewal finds the
lease gone (a reaper took it over) or the job cancelled, it asks the worker's
:class:`RunGuard` to stop the run: the guard keeps the reason (a
:class:`~lab.errors.LeaseLostError` or :class:`~lab.errors.RunCancelled`), which the run's
progress callback raises at its next report (:meth:`RunGuard.check`) and the job raises
after the run returned, so nothing is filed; where the worker process handles signals
(``fedlab lab worker``, :mod:`lab.drain`), the guard also interrupts the run at once.

What it reveals: nothing beyond the lease (the worker's name and its expiry) on the job's row.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from lab.db import session_scope
from lab.errors import RunCancelled
from lab.services import leases
from lab.services.leases import Lease, LeaseTerms

log = logging.getLogger("fedlab.worker")


class WorkerStopping(BaseException):  # noqa: N818 - a stop request, like KeyboardInterrupt
    """The worker was told to stop (SIGTERM, SIGINT) and its drain period ran out: raised
    in the run it interrupts so the run's own clean-up runs; not an error, so it passes
    through ``except Exception`` like KeyboardInterrupt does."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"worker stopped by {signal_name}")
        self.signal_name = signal_name


class RunGuard:
    """The stop request for the run in progress (one per worker).

    ``request(exc)`` records why the run must stop (the first reason wins) and, while a run
    is in progress and ``interrupt`` is set (a signal-handling worker process), calls it to
    interrupt the run in the main thread; ``check()`` raises the recorded reason.
    """

    def __init__(self) -> None:
        self._pending: BaseException | None = None
        self._running = False
        self._halt: str | None = None
        self._lock = threading.Lock()
        self.interrupt: Callable[[], None] | None = None

    def halt(self, signal_name: str) -> None:
        """The worker must stop now (its drain period ran out): raise
        :class:`WorkerStopping` in the run in progress (call it in the main thread, from a
        signal handler), or at the start of the next run."""
        self._halt = signal_name
        if self._running:
            raise WorkerStopping(signal_name)

    @property
    def in_run(self) -> bool:
        return self._running

    @property
    def pending(self) -> BaseException | None:
        return self._pending

    def request(self, exc: BaseException) -> None:
        with self._lock:
            if self._pending is None:
                self._pending = exc
            interrupt = self.interrupt if self._running else None
        if interrupt is not None:
            interrupt()

    def check(self) -> None:
        """Raise the reason the run must stop, if there is one."""
        if self._pending is not None:
            raise self._pending

    @contextmanager
    def job(self) -> Iterator[RunGuard]:
        """One job's span: no stop request carries over from the job before."""
        self._pending = None
        try:
            yield self
        finally:
            self._pending = None

    @contextmanager
    def running(self) -> Iterator[None]:
        """The span in which an interrupt may stop the run (none starts after a halt)."""
        if self._halt is not None:
            raise WorkerStopping(self._halt)
        self._running = True
        try:
            yield
        finally:
            self._running = False


class Heartbeat:
    """Renews ``lease`` while its job runs (a daemon thread, started and stopped as a
    context manager); tells ``guard`` when the lease is lost or the job cancelled
    (``cancelled``: the statuses that mean the job was cancelled)."""

    def __init__(
        self,
        engine: Engine,
        lease: Lease,
        terms: LeaseTerms,
        guard: RunGuard,
        cancelled: frozenset[str] = frozenset(),
    ) -> None:
        self.engine = engine
        self.lease = lease
        self.terms = terms
        self.guard = guard
        self.cancelled = cancelled
        self.beats = 0
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"heartbeat-{lease.what}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def beat(self) -> bool:
        """Renew once; False once the lease is gone (the guard was told)."""
        try:
            with session_scope(self.engine) as s:
                status = leases.renew(s, self.lease, self.terms)
        except Exception as exc:  # noqa: BLE001 - a catalog hiccup: try again next beat
            log.warning("%s: could not renew the lease: %s", self.lease.what, exc)
            return True
        self.beats += 1
        if status is None:
            log.warning("%s: the lease was taken over; stopping the run", self.lease.what)
            self.guard.request(leases.lost(self.lease))
            return False
        if status in self.cancelled:
            log.info("%s was cancelled; stopping the run", self.lease.what)
            self.guard.request(RunCancelled(f"{self.lease.what} was cancelled while running"))
        return True

    def _loop(self) -> None:
        while not self._done.wait(self.terms.heartbeat_seconds):
            if not self.beat():
                return


__all__ = ["Heartbeat", "RunGuard", "WorkerStopping"]
