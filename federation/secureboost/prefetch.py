"""The guest's encryption randomness for the next tree, computed ahead in the background.

Nothing here leaves the guest: the obfuscators (and the CRT key holding the primes they are
computed from) go to the guest's own worker processes only, never into a message or into
``ctx.state``.

The guest's randomness for the next tree is background work: its worker processes run at
the lowest CPU priority so that they take only cycles the hosts' histograms and the guest's
own steps leave idle (on a shared machine; on its own machine the guest computes it while
the hosts work). When the guest has to wait for it nothing else runs, and the low priority
costs nothing.
"""

from __future__ import annotations

import atexit
from typing import Any

from crypto import parallel
from crypto.crt_randomness import crt_obfuscators, crt_tables

CrtKey = tuple[int, int, int, int, int]

# Obfuscators being computed in worker processes for the next tree, per key fingerprint.
# A process-wide resource like the pool whose futures it holds (never in ctx.state, which
# must stay picklable and holds no secret); where a runtime starts a fresh process per
# message the prefetch is simply lost and computed on the spot.
_PREFETCH: dict[str, tuple[int, list[tuple[int, Any]]]] = {}

_BACKGROUND_NICE = 19
_background: tuple[int, Any] | None = None
_PREFETCH_CHUNK = 1024  # obfuscators per background job (~0.1 s at 2048 bits)


def background_executor(workers: int) -> Any:
    """A process pool of ``workers`` processes at the lowest CPU priority, for the guest's
    prefetched randomness; separate from the crypto pool the hosts use."""
    global _background
    if _background is None or _background[0] != workers:
        if _background is not None:
            _background[1].shutdown(wait=False, cancel_futures=True)
        _background = (workers, parallel.new_executor(workers, nice=_BACKGROUND_NICE))
    return _background[1]


def _shutdown_background() -> None:
    global _background
    if _background is not None:
        _background[1].shutdown(wait=True, cancel_futures=True)
        _background = None


atexit.register(_shutdown_background)


def start_prefetch(fp: str, key: CrtKey, count: int, workers: int) -> None:
    """Queue the obfuscators in small jobs on the low-priority worker processes."""
    sizes = [min(_PREFETCH_CHUNK, count - lo) for lo in range(0, count, _PREFETCH_CHUNK)]
    try:
        ex = background_executor(workers)
        futs = [(size, ex.submit(crt_obfuscators, key, size)) for size in sizes]
    except RuntimeError:  # executor shut down (interpreter exit)
        return
    _PREFETCH[fp] = (count, futs)


def take_prefetched(fp: str, key: CrtKey, count: int, workers: int) -> list[Any]:
    """The prefetched obfuscators; the jobs not started yet are withdrawn from the
    low-priority processes and computed now at normal priority (so that other load on the
    machine cannot starve the guest), those already running are waited for."""
    got = _PREFETCH.pop(fp, None)
    if got is None or got[0] != count:
        for _, f in got[1] if got else []:
            f.cancel()
        return _obfuscators_now(key, count, workers)
    started, missing = [], 0
    for size, f in got[1]:
        if f.cancel():
            missing += size
        else:
            started.append((size, f))
    out = _obfuscators_now(key, missing, workers) if missing else []
    for size, f in started:
        try:
            out.extend(f.result())
        except Exception:  # noqa: BLE001 - a failed prefetch only costs time
            out.extend(crt_obfuscators(key, size))
    return out


def forget_prefetch(fp: str) -> None:
    """Drop the pending randomness of key ``fp`` and this process's CRT tables."""
    got = _PREFETCH.pop(fp, None)
    for _, f in got[1] if got else []:
        f.cancel()
    crt_tables.cache_clear()


def _obfuscators_now(key: CrtKey, count: int, workers: int) -> list[Any]:
    """``count`` obfuscators at normal priority, split across the crypto worker pool."""
    small = workers < 2 or count < 4 * _PREFETCH_CHUNK
    return list(parallel.parallel_crt_obfuscators(key, count, 1 if small else workers).tolist())


__all__ = [
    "CrtKey",
    "background_executor",
    "forget_prefetch",
    "start_prefetch",
    "take_prefetched",
]
