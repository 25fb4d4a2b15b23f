"""The key holder's fast Paillier randomness: DJN obfuscators by the CRT.

An obfuscator is ``hs**a mod n**2`` with ``a`` uniform below ``2**randomness_bits``
(:meth:`crypto.paillier.PaillierPublicKey.obfuscators` computes the same values from the
public key). Whoever holds the primes computes it ``mod p**2`` and ``mod q**2`` separately
from fixed-base tables with 12-bit windows and recombines (Garner): half-size numbers and
fewer windows, about 3x cheaper than the public-key path at 2048 bits. The ciphertexts are
distributed exactly as :meth:`~crypto.paillier.PaillierPublicKey.encrypt`'s.

Only the key holder (and its own worker processes) ever sees the primes; the tables are
derived from them and never leave the process.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import gmpy2
import numpy as np

#: (n, hs, p, q, randomness_bits): what a worker process needs (the primes: secret)
CrtKey = tuple[int, int, int, int, int]

_CRT_WINDOW = 12  # 2**12 entries per window: ~27 MB per prime at 2048-bit keys


class _WindowTable:
    """``base ** (d * 2**(w*i)) mod modulus`` for every window ``i`` and digit ``d``: one
    multiplication per window for ``base ** a``, ``a < 2**bits`` (the last window may be
    narrower than ``w``)."""

    def __init__(self, base: Any, modulus: Any, bits: int, window: int) -> None:
        self.modulus = gmpy2.mpz(modulus)
        self.widths = [min(window, bits - lo) for lo in range(0, bits, window)]
        self.rows: list[list[Any]] = []
        g = gmpy2.mpz(base) % self.modulus
        fmod = gmpy2.f_mod
        for width in self.widths:
            row = [gmpy2.mpz(1), g]
            for _ in range(2, 1 << width):
                row.append(fmod(row[-1] * g, self.modulus))
            self.rows.append(row)
            for _ in range(width):
                g = fmod(g * g, self.modulus)

    def pow_many(self, digits: np.ndarray) -> list[Any]:
        """``base ** a`` for each row of ``digits`` (shape ``(count, windows)``, window
        ``i``'s digit of ``a`` in column ``i``)."""
        cols = digits.T.tolist()
        row0 = self.rows[0]
        acc = [row0[d] for d in cols[0]]
        fmod, N = gmpy2.f_mod, self.modulus
        for row, ds in zip(self.rows[1:], cols[1:], strict=True):
            acc = [fmod(x * row[d], N) for x, d in zip(acc, ds, strict=True)]
        return acc

    def random_digits(self, count: int) -> np.ndarray:
        """Uniform digits of ``count`` exponents uniform below ``2**bits``."""
        raw = np.frombuffer(os.urandom(count * len(self.widths) * 2), dtype=np.uint16)
        masks = np.array([(1 << w) - 1 for w in self.widths], dtype=np.uint16)
        return raw.reshape(count, len(self.widths)) & masks


@functools.lru_cache(maxsize=1)  # derived from the primes: one key's tables at a time
def crt_tables(n: int, hs: int, p: int, q: int, bits: int) -> tuple[Any, ...]:
    p2, q2 = gmpy2.mpz(p) ** 2, gmpy2.mpz(q) ** 2
    return (
        _WindowTable(gmpy2.mpz(hs) % p2, p2, bits, _CRT_WINDOW),
        _WindowTable(gmpy2.mpz(hs) % q2, q2, bits, _CRT_WINDOW),
        p2,
        q2,
        gmpy2.invert(q2, p2),
    )


def crt_obfuscators(key: CrtKey, count: int) -> list[Any]:
    """``count`` fresh DJN obfuscators ``hs**a mod n**2`` (``a`` uniform below
    ``2**bits``) computed mod ``p**2`` and ``q**2`` and recombined (Garner)."""
    tp = crt_tables(*key)[0]
    out: list[Any] = []
    for start in range(0, count, 4096):
        out.extend(crt_pow(key, tp.random_digits(min(4096, count - start))))
    return out


def crt_pow(key: CrtKey, digits: np.ndarray) -> list[Any]:
    """``hs**a mod n**2`` for each row of ``digits`` (base-``2**12`` digits of ``a``,
    least significant first)."""
    n, hs, p, q, bits = key
    tp, tq, p2, q2, q2inv = crt_tables(n, hs, p, q, bits)
    fmod = gmpy2.f_mod
    rp, rq = tp.pow_many(digits), tq.pow_many(digits)
    return [b + q2 * fmod((a - b) * q2inv, p2) for a, b in zip(rp, rq, strict=True)]


__all__ = ["CrtKey", "crt_obfuscators", "crt_pow", "crt_tables"]
