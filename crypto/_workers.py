"""Set-up of the crypto package's local worker processes.

A worker runs at the calling party's machine only; it lowers its priority when asked and
ends as soon as the process that created it is gone, so no worker outlives its owner
holding key-derived tables. Nothing is sent anywhere.
"""

from __future__ import annotations

import os
import threading
import time

#: seconds between a worker's checks that the process which created its pool still exists
OWNER_CHECK_SECONDS = 0.5


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a killed owner whose parent has
    not reaped it yet)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def worker_init(owner: int, nice: int) -> None:
    """Pool worker set-up: lower the CPU priority by ``nice``, and exit as soon as the
    process that created the pool (``owner``) is gone. Nothing else ends a ``forkserver``
    worker (nor the fork server) when its owner is killed (SIGKILL, a Ray worker torn
    down): it would wait for work forever, holding its memory (CRT tables: tens of MB)."""
    if nice:
        try:
            os.nice(nice)
        except OSError:  # not permitted here: the work still runs, at normal priority
            pass

    def watch() -> None:
        while alive(owner):
            time.sleep(OWNER_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="fedlab-owner-watch", daemon=True).start()


__all__ = ["OWNER_CHECK_SECONDS", "alive", "worker_init"]
