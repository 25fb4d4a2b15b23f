"""Worker processes the calling thread feeds itself, through pipes, while it computes a
share of the same job.

``crypto._pool``'s process pool hands work over through its management thread. That suits
long jobs; for a job of a few milliseconds (one encrypted dot product) it costs more than
it saves: the calling thread must sit idle, because a caller that computed its own share
would hold the GIL (gmpy2 arithmetic does not release it) and keep the management thread
from sending the other shares for up to the 5 ms switch interval. Here the calling thread
writes each helper's share straight into that helper's pipe, computes its own share, then
reads the helpers' answers: no thread in between, and every core works.

Helpers start with the ``forkserver`` method (a script that uses them needs the usual
``if __name__ == "__main__":`` guard), take module-level functions and plain values
(bytes, integers, numpy arrays), and end when their pipe closes, i.e. with the process
that started them, however it ends. Nothing leaves the machine: helpers are local to the
party. A helper that dies is replaced and its share computed in the calling process, with
a warning.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from crypto._workers import worker_init

Job = tuple[Callable[..., Any], tuple[Any, ...]]


def _serve(conn: Connection, owner: int) -> None:
    """A helper's loop: run each ``(function, args)`` received, send back ``(ok, value)``."""
    worker_init(owner, 0)  # exit if the owner is gone even while the pipe stays open
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[bool, Any] = (True, fn(*args))
        except Exception as exc:  # sent back and raised in the caller
            reply = (False, exc)
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return


class _Helper:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("forkserver")
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(
            target=_serve, args=(child, os.getpid()), name="fedlab-crypto-helper", daemon=True
        )
        self.proc.start()
        child.close()  # the helper's end lives in the helper only: EOF when we are gone

    def close(self) -> None:
        self.conn.close()
        self.proc.join(timeout=2)
        if self.proc.is_alive():
            self.proc.kill()


class PipeWorkers:
    """``count`` helper processes; :meth:`share` runs jobs on them and one here at once."""

    def __init__(self, count: int) -> None:
        self.count = int(count)
        self._helpers: list[_Helper | None] = [None] * self.count
        self._lock = threading.Lock()

    def _helper(self, i: int) -> _Helper:
        h = self._helpers[i]
        if h is None or not h.proc.is_alive():
            if h is not None:
                h.close()
            h = self._helpers[i] = _Helper()
        return h

    def share(self, remote: Sequence[Job], local: Callable[[], Any]) -> tuple[list[Any], Any]:
        """Run ``remote[i]`` on helper ``i`` and ``local()`` in this thread meanwhile;
        return the remote results (in order) and the local one. With more jobs than helpers,
        or when another thread is using the helpers, everything runs in this thread."""
        if len(remote) > self.count or not self._lock.acquire(blocking=False):
            return [fn(*args) for fn, args in remote], local()
        try:
            sent: list[_Helper | None] = []
            for i, job in enumerate(remote):
                try:
                    h = self._helper(i)
                    h.conn.send(job)
                    sent.append(h)
                except (OSError, EOFError):
                    sent.append(None)
            try:
                mine = local()
            finally:  # read every answer, so that no pipe keeps a stale one
                replies = [
                    self._collect(i, h, job)
                    for i, (h, job) in enumerate(zip(sent, remote, strict=True))
                ]
            for ok, value in replies:
                if not ok:
                    raise value
            return [value for _, value in replies], mine
        finally:
            self._lock.release()

    def _collect(self, i: int, h: _Helper | None, job: Job) -> tuple[bool, Any]:
        if h is not None:
            try:
                return h.conn.recv()  # type: ignore[no-any-return]
            except (OSError, EOFError):
                pass
        warnings.warn(
            f"crypto helper process {i} is gone; computing its share here",
            RuntimeWarning,
            stacklevel=4,
        )
        self._drop(i)
        fn, args = job
        return True, fn(*args)

    def _drop(self, i: int) -> None:
        h, self._helpers[i] = self._helpers[i], None
        if h is not None:
            h.close()

    def pids(self) -> list[int]:
        return [h.proc.pid for h in self._helpers if h is not None and h.proc.pid is not None]

    def close(self) -> None:
        with self._lock:
            for i in range(self.count):
                self._drop(i)


_workers: PipeWorkers | None = None
_workers_lock = threading.Lock()


def pipe_workers(count: int) -> PipeWorkers:
    """The process-wide set of ``count`` helpers (replaced when ``count`` changes)."""
    global _workers
    with _workers_lock:
        if _workers is None or _workers.count != count:
            if _workers is not None:
                _workers.close()
            _workers = PipeWorkers(count)
        return _workers


def shutdown() -> None:
    global _workers
    with _workers_lock:
        if _workers is not None:
            _workers.close()
            _workers = None
