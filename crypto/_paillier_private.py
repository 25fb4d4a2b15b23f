"""The Paillier private key and key generation.

The private key (``p``, ``q``) stays at the key holder: it decrypts (CRT, optionally on the
holder's own local worker processes) and prepares encryption randomness from the primes;
it never appears in a repr, a log line or an exception message, and nothing of it leaves
the machine. ``generate_keypair`` draws an admissible DJN modulus and the public
randomness base ``hs``; only the public key (``n``, ``hs``) is ever sent to other parties.
"""

from __future__ import annotations

import secrets
from typing import Any

import gmpy2
import numpy as np

from crypto import _pool
from crypto._paillier_math import random_prime
from crypto._paillier_public import (
    DEFAULT_KEY_BITS,
    DEFAULT_RANDOMNESS_BITS,
    SUPPORTED_KEY_BITS,
    EncryptedArray,
    PaillierPublicKey,
)
from crypto._pool import PendingObfuscators
from crypto.crt_randomness import CrtKey
from crypto.errors import CryptoError, KeyMismatchError
from crypto.fixedpoint import decode, to_signed


class PaillierPrivateKey:
    """The private half: the primes ``p`` and ``q``. Never printed, logged or sent.

    ``repr``/``str`` show only the key size and the public fingerprint.
    """

    __slots__ = ("public_key", "_p", "_q", "_p2", "_q2", "_hp", "_hq", "_qinv")

    def __init__(self, public_key: PaillierPublicKey, p: int, q: int) -> None:
        if int(p) * int(q) != public_key.n or p == q:
            raise CryptoError(
                f"private key does not match public key {public_key.fingerprint()}",
                hint="Load the private key file that belongs to this public key.",
            )
        if p < q:
            p, q = q, p
        self.public_key = public_key
        self._p, self._q = gmpy2.mpz(p), gmpy2.mpz(q)
        self._p2, self._q2 = self._p**2, self._q**2
        g = gmpy2.mpz(public_key.n + 1)
        self._hp = gmpy2.invert((gmpy2.powmod(g, self._p - 1, self._p2) - 1) // self._p, self._p)
        self._hq = gmpy2.invert((gmpy2.powmod(g, self._q - 1, self._q2) - 1) // self._q, self._q)
        self._qinv = gmpy2.invert(self._q, self._p)

    def __repr__(self) -> str:
        return (
            f"PaillierPrivateKey(<redacted>, bits={self.public_key.bits}, "
            f"fingerprint={self.public_key.fingerprint()})"
        )

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaillierPrivateKey) and self.public_key == other.public_key

    def __hash__(self) -> int:
        return hash(("PaillierPrivateKey", self.public_key.n))

    def export_primes(self) -> tuple[int, int]:
        """``(p, q)`` for writing the private key file (``crypto.keys``). Handle as secret."""
        return int(self._p), int(self._q)

    def _crt_args(self) -> tuple[Any, ...]:
        return (self._p, self._q, self._p2, self._q2, self._hp, self._hq, self._qinv)

    def obfuscators(self, count: int, *, workers: int | None = None) -> np.ndarray:
        """``count`` fresh DJN obfuscators, computed by the CRT (the key holder's fast path,
        :mod:`crypto.crt_randomness`; same distribution as the public key's
        :meth:`PaillierPublicKey.obfuscators`). ``workers`` > 1 uses this process's pool."""

        return _pool.parallel_crt_obfuscators(self.crt_key(), count, workers)

    def start_obfuscators(
        self, count: int, *, workers: int | None = None
    ) -> PendingObfuscators | None:
        """:meth:`obfuscators` started in the worker processes and gathered later
        (``.result()``); ``None`` when there are no worker processes to use."""

        return _pool.start_crt_obfuscators(self.crt_key(), count, workers)

    def warm_up(self, *, workers: int | None = None) -> None:
        """Start building :meth:`obfuscators`' fixed-base tables in the worker processes
        (returns at once; the first :meth:`obfuscators` call waits for them)."""

        _pool.warm_crt_tables(self.crt_key(), workers)

    def crt_key(self) -> CrtKey:
        """``(n, hs, p, q, randomness_bits)`` for :mod:`crypto.crt_randomness`. Secret: it
        holds the primes (only for this party's own worker processes)."""
        pk = self.public_key
        return (int(pk.n), int(pk.hs), int(self._p), int(self._q), int(pk.randomness_bits))

    def _check(self, enc: EncryptedArray) -> None:
        if not isinstance(enc, EncryptedArray):
            raise CryptoError(f"expected an EncryptedArray, got {type(enc).__name__}")
        if enc.public_key != self.public_key:
            raise KeyMismatchError(
                f"ciphertexts were encrypted under key {enc.public_key.fingerprint()}, "
                f"this private key is {self.public_key.fingerprint()}"
            )

    def decrypt_ints(self, enc: EncryptedArray, *, workers: int | None = None) -> list[int]:
        """Raw plaintext residues in ``[0, n)`` (for packed values)."""
        self._check(enc)
        cts = enc.raw_ciphertexts()

        return _pool.parallel_decrypt(cts, self._crt_args(), workers)

    def decrypt_signed_ints(self, enc: EncryptedArray, *, workers: int | None = None) -> list[int]:
        """Signed plaintext integers ``m`` (before dividing by ``2**exponent``)."""
        return to_signed(self.decrypt_ints(enc, workers=workers), self.public_key.n)

    def decrypt(self, enc: EncryptedArray, *, workers: int | None = None) -> np.ndarray:
        """Decrypt and decode to float64 (exact to the encoding's precision).

        Raises :class:`EncodingOverflowError` when a result left the safe range.
        """
        residues = self.decrypt_ints(enc, workers=workers)
        return decode(residues, enc.exponent, self.public_key.n)


def generate_keypair(
    bits: int = DEFAULT_KEY_BITS, *, randomness_bits: int = DEFAULT_RANDOMNESS_BITS
) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """A fresh key pair: ``n = p*q`` with ``p = q = 3 mod 4``, ``gcd(p-1, q-1) = 2``
    (an admissible DJN modulus), and the DJN randomness base ``hs``."""
    if bits not in SUPPORTED_KEY_BITS:
        raise CryptoError(
            f"unsupported Paillier key size {bits}; choose one of {SUPPORTED_KEY_BITS}",
            hint="2048 is the default, 3072 gives 128-bit security.",
        )
    half = bits // 2
    while True:
        p = random_prime(half)
        q = random_prime(half)
        if gmpy2.gcd(p - 1, q - 1) != 2 or (p - q).bit_length() < half - 2:
            continue
        n = p * q
        if n.bit_length() == bits:
            break
    nn = int(n)
    # hs = h**n mod n**2 with h = -x**2, computed by CRT (we know p, q here).
    while True:
        x = gmpy2.mpz(secrets.randbelow(nn - 2) + 2)
        if gmpy2.gcd(x, n) == 1:
            break
    h = (-x * x) % n
    p2, q2 = p * p, q * q
    hp_ = gmpy2.powmod(h, n, p2)
    hq_ = gmpy2.powmod(h, n, q2)
    hs = hq_ + (hp_ - hq_) * gmpy2.invert(q2, p2) % p2 * q2
    pk = PaillierPublicKey(nn, int(hs), randomness_bits)
    return pk, PaillierPrivateKey(pk, int(p), int(q))


__all__ = ["PaillierPrivateKey", "generate_keypair"]
