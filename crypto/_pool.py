"""Parallel and precomputed work for Paillier: a process pool on raw integers and a pool of
precomputed obfuscators.

Worker processes receive plain integers (ciphertexts, exponent matrices, the modulus, and
for decryption the CRT parameters of a private key the calling party already holds) and
return plain integers. Nothing leaves the machine: the pool is local to the party.

Parallelism is opt-in: pass ``workers=2`` (or set ``FEDLAB_CRYPTO_WORKERS``); by default
everything runs in the calling process. Workers start with the ``forkserver`` method
(safe next to Flower's threads), so a script that asks for workers needs the usual
``if __name__ == "__main__":`` guard. If the pool breaks, the work is redone in-process.
On this 2-core machine a second process gave 1.1-1.8x when the other core was idle, and
nothing when other jobs kept it busy. Jobs of a few milliseconds (encrypted dot products)
go to ``crypto._pipes`` instead, where the calling thread computes a share itself.
"""

from __future__ import annotations

import atexit
import collections
import multiprocessing
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

import gmpy2
import numpy as np

from crypto import _multiexp, _pipes
from crypto._paillier_math import crt_decrypt
from crypto._workers import worker_init
from crypto.crt_randomness import CrtKey, crt_obfuscators, crt_tables


class ObfuscatorSource(Protocol):
    """What the pools need of a Paillier public key (``crypto.paillier.ObfuscatorSource``)."""

    @property
    def ciphertext_bytes(self) -> int: ...

    def fingerprint(self) -> str: ...

    def obfuscators(self, count: int) -> np.ndarray: ...


_MIN_ROWS_FOR_POOL = 256
_MIN_DECRYPT_FOR_POOL = 64

_executor: ProcessPoolExecutor | None = None
_executor_workers = 0
_lock = threading.Lock()


def default_workers() -> int:
    """``FEDLAB_CRYPTO_WORKERS`` if set (``0`` means the CPU count), else 1."""
    env = os.environ.get("FEDLAB_CRYPTO_WORKERS", "").strip()
    if env.isdigit():
        return int(env) or os.cpu_count() or 1
    return 1


def get_executor(workers: int) -> Executor:
    """A process pool with ``workers`` processes. The calling thread only waits: if it
    computed a share itself it would hold the GIL and delay the executor's feeder thread."""
    global _executor, _executor_workers
    with _lock:
        if _executor is None or _executor_workers != workers:
            if _executor is not None:
                _executor.shutdown(wait=False, cancel_futures=True)
            _executor = new_executor(workers)
            _executor_workers = workers
        return _executor


def new_executor(workers: int, *, nice: int = 0) -> ProcessPoolExecutor:
    """A ``forkserver`` process pool whose workers run at ``nice`` and end with their owner."""
    return ProcessPoolExecutor(
        max_workers=workers,
        initializer=worker_init,
        initargs=(os.getpid(), nice),
        mp_context=multiprocessing.get_context("forkserver"),
    )


def shutdown() -> None:
    """Stop the worker processes (registered at exit)."""
    global _executor

    _pipes.shutdown()
    with _lock:
        if _executor is not None:
            _executor.shutdown(wait=True, cancel_futures=True)
            _executor = None


atexit.register(shutdown)


def _resolve(workers: int | None, size: int, threshold: int) -> int:
    if workers is None:
        return default_workers() if size >= threshold else 1
    return max(1, int(workers))


#: the calling process's share of rows against one helper's: the helper also unpacks its
#: bases and packs its answer (1.2: fastest at 2 processes among 1.0-1.4 here)
CALLER_WEIGHT = 1.2


def _split(count: int, parts: int, last_weight: float = 1.0) -> list[tuple[int, int]]:
    """``count`` items in ``parts`` contiguous ranges, the last weighted by ``last_weight``."""
    weights = np.array([1.0] * (parts - 1) + [last_weight])
    cuts = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * count
    bounds = np.round(cuts).astype(int).tolist()
    return [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]


def parallel_multi_exp(
    bases: Sequence[Any], exps: np.ndarray, modulus: Any, workers: int | None = None
) -> list[Any]:
    """Column-wise multi-exponentiation, split by columns (or by rows for few columns)."""
    rows, cols = exps.shape
    w = _resolve(workers, rows * cols, _MIN_ROWS_FOR_POOL)
    if w <= 1:
        return _multiexp.multi_exp_columns(bases, exps, modulus)
    return _parallel_multi_exp(bases, exps, gmpy2.mpz(modulus), w)


def _pool_broken() -> None:
    global _executor
    warnings.warn(
        'the crypto worker pool failed (a script without an `if __name__ == "__main__":` '
        "guard?); computing in this process instead",
        RuntimeWarning,
        stacklevel=3,
    )
    with _lock:
        if _executor is not None:
            _executor.shutdown(wait=False, cancel_futures=True)
            _executor = None


def _unpack(blob: bytes, width: int) -> list[Any]:
    frm = gmpy2.mpz.from_bytes
    return [frm(blob[i : i + width], "big") for i in range(0, len(blob), width)]


def _multi_exp_job(blob: bytes, width: int, exps: np.ndarray, modulus: Any) -> bytes:
    out = _multiexp.multi_exp_columns(_unpack(blob, width), exps, modulus)
    return _pack_fixed(out, width)


def _parallel_multi_exp(bases: Sequence[Any], exps: np.ndarray, N: Any, w: int) -> list[Any]:
    """``w`` shares, ``w - 1`` on pipe helpers and the last in this thread: by columns when
    there are enough, else by rows (one product of the partial results per column)."""

    rows, cols = exps.shape
    helpers = _pipes.pipe_workers(w - 1)
    width = (int(N).bit_length() + 7) // 8
    if cols >= w:
        parts = _split(cols, w)
        blob = _pack_fixed(bases, width)
        lo, hi = parts[-1]
        remote, mine = helpers.share(
            [(_multi_exp_job, (blob, width, exps[:, a:b], N)) for a, b in parts[:-1]],
            lambda: _multiexp.multi_exp_columns(bases, exps[:, lo:hi], N),
        )
        return [v for blob_out in remote for v in _unpack(blob_out, width)] + list(mine)
    parts = _split(rows, w, CALLER_WEIGHT)
    lo, hi = parts[-1]
    remote, mine = helpers.share(
        [
            (_multi_exp_job, (_pack_fixed(bases[a:b], width), width, exps[a:b], N))
            for a, b in parts[:-1]
        ],
        lambda: _multiexp.multi_exp_columns(bases[lo:hi], exps[lo:hi], N),
    )
    acc = list(mine)
    for blob_out in remote:
        acc = [a * b % N for a, b in zip(acc, _unpack(blob_out, width), strict=True)]
    return acc


def _pack_fixed(values: Sequence[Any], width: int) -> bytes:
    return b"".join(v.to_bytes(width, "big") for v in values)


def _decrypt_chunk(cts: Sequence[Any], crt: tuple[Any, ...]) -> list[int]:

    return crt_decrypt(cts, *crt)


def parallel_decrypt(
    cts: Sequence[Any], crt: tuple[Any, ...], workers: int | None = None
) -> list[int]:
    """CRT decryption, split across processes for long vectors."""
    w = _resolve(workers, len(cts), _MIN_DECRYPT_FOR_POOL)
    if w <= 1 or len(cts) < 2:
        return _decrypt_chunk(cts, crt)
    try:
        return _parallel_decrypt(cts, crt, w)
    except BrokenProcessPool:
        _pool_broken()
        return _decrypt_chunk(cts, crt)


def _decrypt_job(blob: bytes, width: int, crt: tuple[Any, ...]) -> list[int]:
    return _decrypt_chunk(_unpack(blob, width), crt)


def _parallel_decrypt(cts: Sequence[Any], crt: tuple[Any, ...], w: int) -> list[int]:
    ex = get_executor(w)
    width = (int(max(cts)).bit_length() + 7) // 8
    futures = [
        ex.submit(_decrypt_job, _pack_fixed(cts[lo:hi], width), width, crt)
        for lo, hi in _split(len(cts), w)
    ]
    out: list[int] = []
    for f in futures:
        out.extend(f.result())
    return out


def _obfuscator_job(pk: ObfuscatorSource, count: int) -> bytes:
    return _pack_fixed(pk.obfuscators(count).tolist(), pk.ciphertext_bytes)


def parallel_obfuscators(
    pk: ObfuscatorSource, count: int, workers: int | None = None
) -> np.ndarray:
    """``count`` fresh obfuscators computed across worker processes (each worker builds
    the key's fixed-base table once)."""
    w = _resolve(workers, count, 1024)
    if w <= 1:
        return pk.obfuscators(count)
    try:
        ex = get_executor(w)
        futures = [ex.submit(_obfuscator_job, pk, hi - lo) for lo, hi in _split(count, w)]
        vals = [v for f in futures for v in _unpack(f.result(), pk.ciphertext_bytes)]
    except BrokenProcessPool:
        _pool_broken()
        return pk.obfuscators(count)
    out = np.empty(len(vals), dtype=object)
    out[:] = vals
    return out


def _crt_width(key: CrtKey) -> int:
    return (int(key[0]) ** 2).bit_length() // 8 + 1  # bytes of a value mod n**2


def _crt_obfuscator_job(key: CrtKey, count: int) -> bytes:

    return _pack_fixed(crt_obfuscators(key, count), _crt_width(key))


class PendingObfuscators:
    """The key holder's obfuscators being computed in worker processes; :meth:`result`
    gathers them (a job lost with a broken pool is computed in this process)."""

    def __init__(self, key: CrtKey, jobs: list[tuple[int, Any]]) -> None:
        self._key = key
        self._jobs = jobs

    def result(self) -> list[Any]:

        out: list[Any] = []
        for size, job in self._jobs:
            try:
                out.extend(_unpack(job.result(), _crt_width(self._key)))
            except BrokenProcessPool:
                _pool_broken()
                out.extend(crt_obfuscators(self._key, size))
        return out


def start_crt_obfuscators(
    key: CrtKey, count: int, workers: int | None = None
) -> PendingObfuscators | None:
    """Start computing ``count`` of the key holder's obfuscators (:mod:`crypto.crt_randomness`)
    across the worker processes; ``None`` when there is no pool to use (one worker, or the
    pool is unavailable). ``key`` carries the primes, which go to this process's own
    workers only."""
    w = _resolve(workers, count, 1024)
    if w <= 1 or count <= 0:
        return None
    try:
        ex = get_executor(w)
        jobs = [
            (hi - lo, ex.submit(_crt_obfuscator_job, key, hi - lo)) for lo, hi in _split(count, w)
        ]
    except (BrokenProcessPool, RuntimeError, OSError):
        return None
    return PendingObfuscators(key, jobs)


def parallel_crt_obfuscators(key: CrtKey, count: int, workers: int | None = None) -> np.ndarray:
    """``count`` of the key holder's obfuscators, across the worker processes."""

    pending = start_crt_obfuscators(key, count, workers)
    vals = pending.result() if pending is not None else crt_obfuscators(key, count)
    out = np.empty(len(vals), dtype=object)
    out[:] = vals
    return out


def _warm_crt_job(key: CrtKey) -> None:

    crt_tables(*key)


def warm_crt_tables(key: CrtKey, workers: int | None = None) -> None:
    """Build the key's CRT tables in each worker process in the background (one job per
    worker; a job takes long enough that each worker picks one up)."""
    w = _resolve(workers, 0, 1)
    if w <= 1:
        return
    try:
        ex = get_executor(w)
        for _ in range(w):
            ex.submit(_warm_crt_job, key)
    except (BrokenProcessPool, RuntimeError):
        pass  # the tables are then built on first use


class ObfuscatorPool:
    """Precomputed DJN obfuscators ``hs**a mod n**2`` so that online encryption is one
    multiplication. Each obfuscator is handed out once. When the pool runs dry, ``take``
    computes the missing ones on the spot (counted in ``misses``).

    ``background=True`` starts a daemon thread that tops the pool up whenever it falls
    below ``low_water``; it shares the interpreter with the caller, so it helps when the
    caller waits on the network (the usual case in a protocol round).
    """

    def __init__(
        self,
        public_key: ObfuscatorSource,
        size: int = 1024,
        *,
        background: bool = False,
        low_water: int | None = None,
        fill: bool = True,
    ) -> None:
        self.public_key = public_key
        self.size = int(size)
        self.low_water = self.size // 2 if low_water is None else int(low_water)
        self.misses = 0
        self._items: collections.deque[Any] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if fill:
            self.fill()
        if background:
            self._thread = threading.Thread(
                target=self._refill_loop, name="paillier-obfuscators", daemon=True
            )
            self._thread.start()

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return (
            f"ObfuscatorPool(key={self.public_key.fingerprint()}, ready={len(self)}, "
            f"size={self.size})"
        )

    def fill(self, count: int | None = None) -> None:
        """Top up to ``size`` (or add ``count``) obfuscators, synchronously."""
        missing = self.size - len(self._items) if count is None else int(count)
        for start in range(0, max(0, missing), 512):
            batch = self.public_key.obfuscators(min(512, missing - start))
            with self._lock:
                self._items.extend(batch.tolist())

    def add(self, obfuscators: Sequence[Any]) -> None:
        """Add obfuscators computed elsewhere (e.g. by :func:`parallel_obfuscators`)."""
        with self._lock:
            self._items.extend(obfuscators)

    def take(self, count: int) -> np.ndarray:
        """``count`` unused obfuscators (object array); never returns one twice."""
        with self._lock:
            k = min(count, len(self._items))
            got = [self._items.popleft() for _ in range(k)]
        if k < count:
            self.misses += count - k
            got.extend(self.public_key.obfuscators(count - k).tolist())
        if self._thread is not None and len(self._items) < self.low_water:
            self._wake.set()
        out = np.empty(count, dtype=object)
        out[:] = got
        return out

    def _refill_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            while not self._stop.is_set() and len(self._items) < self.size:
                batch = self.public_key.obfuscators(min(128, self.size - len(self._items)))
                with self._lock:
                    self._items.extend(batch.tolist())

    def close(self) -> None:
        """Stop the background thread (if any) and drop the precomputed values."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            self._items.clear()

    def __enter__(self) -> ObfuscatorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
