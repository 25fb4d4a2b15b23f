"""X25519 primitives for ECDH-PSI and their parallel execution over a process pool.

Nothing here leaves the party: these are local computations. Inputs and outputs cross
process boundaries on this machine only (ids in, packed 32-byte points out; the secret
scalar is passed to the local worker processes with each task and never logged).

Hash to the curve (try-and-increment): ``u = SHA-256(DOMAIN || counter || id)`` with the top
bit ignored (as X25519 does), accepted only when ``u^3 + A u^2 + u`` is a non-zero square
mod p, i.e. when u is the x-coordinate of a point of Curve25519 itself and not of its
twist. The accepted u is uniform among the curve's x-coordinates; clamped X25519 scalars
are multiples of the cofactor 8, so every blinded value lies in the prime-order subgroup.
See docs/crypto/psi.md for the full argument.

Scalar multiplication: libsodium's ``crypto_scalarmult`` through ctypes when the system
library is present (fewer Python objects per call), otherwise ``cryptography``'s X25519.
Both compute the RFC 7748 function and give identical bytes (tested).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

import gmpy2

from crypto.errors import CryptoError, ProtocolError

__all__ = [
    "HASH_DOMAIN",
    "POINT_BYTES",
    "Pending",
    "PsiPool",
    "backend_name",
    "blind_packed",
    "hash_to_u",
    "reblind_packed",
    "scalarmult",
]

POINT_BYTES = 32
HASH_DOMAIN = b"fedlab/psi/x25519-h2c/v1\x00"
_P = gmpy2.mpz(2**255 - 19)
_A = gmpy2.mpz(486662)
_MASK255 = (1 << 255) - 1
_COUNTERS = [bytes((c,)) for c in range(256)]
# Below this many items one process does the work (pool start-up costs ~50 ms).
PARALLEL_MIN_ITEMS = 20_000
CHUNK_ITEMS = 10_000


def _load_sodium() -> Callable[[bytes, bytes], bytes] | None:
    name = ctypes.util.find_library("sodium")
    if name is None or os.environ.get("FEDLAB_PSI_BACKEND") == "cryptography":
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    if lib.sodium_init() < 0:
        return None
    fn = lib.crypto_scalarmult
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]
    fn.restype = ctypes.c_int
    buf = ctypes.create_string_buffer(POINT_BYTES)

    def mult(k: bytes, u: bytes) -> bytes:
        if fn(buf, k, u) != 0:
            raise ValueError("low-order point")
        return buf.raw

    return mult


def _cryptography_mult() -> Callable[[bytes, bytes], bytes]:
    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PrivateKey,
        X25519PublicKey,
    )

    cache: dict[bytes, X25519PrivateKey] = {}

    def mult(k: bytes, u: bytes) -> bytes:
        sk = cache.get(k)
        if sk is None:
            cache.clear()
            sk = cache[k] = X25519PrivateKey.from_private_bytes(k)
        return sk.exchange(X25519PublicKey.from_public_bytes(u))

    return mult


_sodium = _load_sodium()
scalarmult: Callable[[bytes, bytes], bytes] = _sodium or _cryptography_mult()


def backend_name() -> str:
    return "libsodium" if _sodium is not None else "cryptography"


def hash_to_u(ident: str) -> bytes:
    """Encoded u-coordinate of a point of Curve25519 (not the twist) derived from ``ident``."""
    data = ident.encode("utf-8")
    sha, mpz, jacobi, p, a = hashlib.sha256, gmpy2.mpz, gmpy2.jacobi, _P, _A
    for ctr in _COUNTERS:
        h = sha(HASH_DOMAIN + ctr + data).digest()
        u = mpz(int.from_bytes(h, "little") & _MASK255)
        # Jacobi symbol of u^3 + A u^2 + u; it only depends on the value mod p, so neither
        # u (which is >= p with probability 2^-250) nor the cubic needs reducing first.
        if jacobi(u * (u * (u + a) + 1), p) == 1:
            return h
    raise CryptoError("hash to Curve25519 found no point in 256 tries")  # probability 2^-256


def _blind_chunk(key: bytes, ids: Sequence[str]) -> bytes:
    mult = scalarmult
    h2u = hash_to_u
    return b"".join([mult(key, h2u(i)) for i in ids])


def _reblind_chunk(key: bytes, packed: bytes) -> bytes:
    mult = scalarmult
    mv = memoryview(packed)
    out = []
    try:
        for off in range(0, len(packed), POINT_BYTES):
            out.append(mult(key, bytes(mv[off : off + POINT_BYTES])))
    except ValueError as exc:
        raise ProtocolError(
            f"blinded point at byte offset {off} is a low-order point",
            hint="The peer sent malformed PSI points; stop the run and check the peer's software.",
        ) from exc
    return b"".join(out)


def _workers(n_items: int, workers: int | None) -> int:
    if workers is not None:
        return max(1, workers)
    if n_items < PARALLEL_MIN_ITEMS:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _check_packed(packed: bytes) -> None:
    if len(packed) % POINT_BYTES:
        raise ProtocolError(
            f"packed PSI points have {len(packed)} bytes, not a multiple of {POINT_BYTES}",
            hint="The peer's message was truncated or is not a PSI point list.",
        )


class Pending:
    """Chunks submitted to a ``PsiPool``; ``result()`` joins them in order."""

    def __init__(self, futures: list[Future[bytes]]) -> None:
        self._futures = futures

    def result(self) -> bytes:
        return b"".join(f.result() for f in self._futures)


class PsiPool:
    """A process pool for several blinding steps at once (keeps both cores busy)."""

    def __init__(self, workers: int | None = None, *, start_method: str | None = None) -> None:
        # "fork" where available: no re-import of the caller's main module (forkserver and
        # spawn re-run an unguarded script) and no start-up cost. Workers only run the
        # functions of this module, which take no locks another thread could hold.
        if start_method is None and "fork" in mp.get_all_start_methods():
            start_method = "fork"
        self._ex = ProcessPoolExecutor(
            max_workers=workers or max(1, min(os.cpu_count() or 1, 8)),
            mp_context=mp.get_context(start_method),
        )

    def __enter__(self) -> PsiPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._ex.shutdown(wait=True, cancel_futures=True)

    def blind(self, key: bytes, ids: Sequence[str]) -> Pending:
        return Pending(
            [
                self._ex.submit(_blind_chunk, key, list(ids[i : i + CHUNK_ITEMS]))
                for i in range(0, len(ids), CHUNK_ITEMS)
            ]
        )

    def reblind(self, key: bytes, packed: bytes) -> Pending:
        _check_packed(packed)
        step = CHUNK_ITEMS * POINT_BYTES
        return Pending(
            [
                self._ex.submit(_reblind_chunk, key, packed[i : i + step])
                for i in range(0, len(packed), step)
            ]
        )


def blind_packed(
    key: bytes, ids: Sequence[str], *, workers: int | None = None, pool: PsiPool | None = None
) -> bytes:
    """``x(k * H(id))`` for every id, concatenated 32-byte values in the input order."""
    if pool is not None:
        return pool.blind(key, ids).result()
    w = _workers(len(ids), workers)
    if w == 1:
        return _blind_chunk(key, ids)
    with PsiPool(w) as p:
        return p.blind(key, ids).result()


def reblind_packed(
    key: bytes, packed: bytes, *, workers: int | None = None, pool: PsiPool | None = None
) -> bytes:
    """``x(k * P)`` for every packed 32-byte point, same order."""
    _check_packed(packed)
    if pool is not None:
        return pool.reblind(key, packed).result()
    w = _workers(len(packed) // POINT_BYTES, workers)
    if w == 1:
        return _reblind_chunk(key, packed)
    with PsiPool(w) as p:
        return p.reblind(key, packed).result()
