"""Paillier's integer arithmetic below the key and ciphertext classes.

Plain functions on integers: object arrays of mpz, the DJN randomness base and its
fixed-base tables, CRT decryption with a private key's primes (called in the key holder's
own process or its local worker processes), prime generation and fixed-point encoding of
matrices. Nothing here sends anything anywhere; the CRT parameters are the key holder's
secret and are passed only to its own local workers.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import gmpy2
import numpy as np

from crypto import _multiexp
from crypto.fixedpoint import check_range, to_signed_ints

_WINDOW = 8


def mpz_array(values: Iterable[Any]) -> np.ndarray:
    vals = [gmpy2.mpz(v) for v in values]
    out = np.empty(len(vals), dtype=object)
    out[:] = vals
    return out


# Process-wide and bounded: one table per key in use (8 keys), rebuilt on a miss.
@functools.lru_cache(maxsize=8)
def fixed_base_table(hs: int, nsquare: int, bits: int) -> _multiexp.FixedBaseTable:
    return _multiexp.FixedBaseTable(hs, nsquare, bits, _WINDOW)


def derive_hs(n: int) -> int:
    """``hs = (-x**2)**n mod n**2`` for a fresh random unit ``x``."""
    nn = gmpy2.mpz(n)
    while True:
        x = gmpy2.mpz(secrets.randbelow(n - 2) + 2)
        if gmpy2.gcd(x, nn) == 1:
            break
    h = (-x * x) % nn
    return int(gmpy2.powmod(h, nn, nn * nn))


def n_bytes(n: int) -> bytes:
    return int(n).to_bytes((int(n).bit_length() + 7) // 8, "big")


def crt_decrypt(
    ciphertexts: Sequence[Any], p: Any, q: Any, p2: Any, q2: Any, hp: Any, hq: Any, qinv: Any
) -> list[int]:
    """Raw CRT decryption of ciphertext ints to residues in ``[0, n)``."""
    xs_p = gmpy2.powmod_base_list([c % p2 for c in ciphertexts], p - 1, p2)
    xs_q = gmpy2.powmod_base_list([c % q2 for c in ciphertexts], q - 1, q2)
    out = []
    for xp, xq in zip(xs_p, xs_q, strict=True):
        mp = (xp - 1) // p * hp % p
        mq = (xq - 1) // q * hq % q
        out.append(int(mq + (mp - mq) * qinv % p * q))
    return out


def random_prime(bits: int) -> Any:
    """A random ``bits``-bit prime ``p = 3 mod 4`` with its two top bits set."""
    while True:
        cand = gmpy2.mpz(secrets.randbits(bits)) | (3 << (bits - 2)) | 3
        for _ in range(4096):
            if gmpy2.is_prime(cand, 40):
                return cand
            cand += 4
        # restart from a fresh random point (keeps the top bits)


def is_int_like(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iu":
            return True
        if value.dtype == object:
            return all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                for v in value.ravel().tolist()
            )
        return False
    if isinstance(value, (list, tuple)):
        return bool(value) and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
        )
    return False


def encode_matrix(arr: np.ndarray, exponent: int, n: int) -> np.ndarray:
    """Signed fixed-point integers of a 2-d array (int64 when they fit, else object)."""
    if arr.dtype.kind in "iu" and arr.size and int(arr.max()) >= 2**62:
        arr = arr.astype(object)  # uint64 above 2**63 must not wrap around in int64
    elif arr.dtype.kind in "iu" and exponent == 0:
        return arr.astype(np.int64)  # |int64| is far inside the safe range |m| < n/3
    flat = to_signed_ints(
        arr.reshape(-1) if arr.dtype.kind in "iubf" else arr.reshape(-1).astype(object), exponent
    )
    check_range(flat, n)
    if flat and max(max(flat), -min(flat)) < 2**61:
        return np.array(flat, dtype=np.int64).reshape(arr.shape)
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(arr.shape)


__all__ = [
    "crt_decrypt",
    "derive_hs",
    "encode_matrix",
    "fixed_base_table",
    "is_int_like",
    "mpz_array",
    "n_bytes",
    "random_prime",
]
