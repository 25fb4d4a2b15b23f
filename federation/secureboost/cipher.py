"""The two backends of one protocol: Paillier ciphertexts, or the packed integers themselves.

The guest (key holder) encrypts one packed ``[[count=1 | g + offset | h]]`` per active row
and decrypts the hosts' packed bin sums; a host only adds the guest's ciphertexts, packs
the sums (Horner) and re-randomises them before they leave it, so the guest cannot link a
sum to the rows it came from. Only the public key and ciphertexts cross parties; the
primes stay at the guest (its own worker processes compute its randomness with them).
The ``plaintext`` backend sends the same messages with the integers in the clear (tests
and overhead measurements only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gmpy2
import numpy as np

from crypto.errors import ConfigError, ProtocolError
from crypto.paillier import EncryptedArray, PaillierPrivateKey, PaillierPublicKey, generate_keypair
from federation.secureboost.params import Backend
from federation.secureboost.prefetch import (
    CrtKey,
    forget_prefetch,
    start_prefetch,
    take_prefetched,
)


class _PlainBlob:
    """Fixed-width big-endian integers (the plaintext backend's stand-in for ciphertexts)."""

    @staticmethod
    def dump(values: Sequence[int], width: int) -> bytes:
        return b"".join(int(v).to_bytes(width, "big") for v in values)

    @staticmethod
    def load(blob: bytes, width: int) -> list[int]:
        mv = memoryview(blob)
        return [int.from_bytes(mv[i : i + width], "big") for i in range(0, len(blob), width)]


class GuestCipher:
    """The guest's side: encrypt packed rows, decrypt packed bin sums.

    As the key holder the guest computes the DJN randomness ``hs**a mod n**2`` by the CRT,
    ``mod p**2`` and ``mod q**2`` separately from fixed-base tables with 12-bit windows
    (half-size numbers: about half the cost of the public-key path at 2048 bits); the
    primes go to this party's own worker processes only. The ciphertexts are the same as
    :meth:`crypto.paillier.PaillierPublicKey.encrypt` would produce."""

    pk: PaillierPublicKey
    _sk: PaillierPrivateKey

    def __init__(
        self,
        backend: Backend | str,
        key_bits: int,
        randomness_bits: int,
        *,
        key: tuple[bytes, tuple[int, int]] | None = None,
    ) -> None:
        self.backend = backend
        self.key_bits = key_bits
        self.width = 2 * key_bits // 8 + 1
        if backend == "paillier":
            if key is None:
                self.pk, self._sk = generate_keypair(key_bits, randomness_bits=randomness_bits)
            else:
                self.pk = PaillierPublicKey.from_bytes(key[0])
                self._sk = PaillierPrivateKey(self.pk, *key[1])
            self.public = self.pk.to_bytes()
        elif backend == "plaintext":
            self.public = b""
        else:
            raise ConfigError(
                f"secureboost supports backend 'paillier' or 'plaintext', not {backend!r}"
            )

    def primes(self) -> tuple[int, int] | None:
        """The private key's primes (to keep in the guest's own state), ``None`` in plain."""
        return self._sk.export_primes() if self.backend == "paillier" else None

    def _crt_key(self) -> CrtKey:
        return self._sk.crt_key()

    def prefetch(self, count: int, workers: int) -> None:
        """Start computing ``count`` obfuscators for the next :meth:`encrypt` in
        low-priority worker processes (they take the cycles the hosts' work leaves idle);
        no-op for the plaintext backend."""
        if self.backend == "paillier" and count > 0 and workers > 1:
            start_prefetch(self.pk.fingerprint(), self._crt_key(), count, workers)

    def encrypt(self, plains: list[int], *, prefetch_next: int = 0, workers: int = 1) -> bytes:
        """Encrypt packed rows; with ``prefetch_next > 0`` start computing that many fresh
        obfuscators for the next call in worker processes (overlaps the hosts' work)."""
        if self.backend == "plaintext":
            return _PlainBlob.dump(plains, self.width)
        n, N = gmpy2.mpz(self.pk.n), self.pk.nsquare
        for i, m in enumerate(plains):
            if not 0 <= m < n:
                raise ProtocolError(f"packed plaintext at row {i} is outside [0, n)")
        obf = take_prefetched(self.pk.fingerprint(), self._crt_key(), len(plains), workers)
        fmod = gmpy2.f_mod
        # (1 + m n) r = r + n ((m r) mod n)  (mod n^2): a short product and a reduction mod n
        # instead of a full product mod n^2; the sum is below 2 n^2
        cts = [r + n * fmod(m * r, n) for m, r in zip(plains, obf, strict=True)]
        cts = [c - N if c >= N else c for c in cts]
        self.prefetch(prefetch_next, workers)
        return EncryptedArray(self.pk, cts).to_bytes()

    def forget(self) -> None:
        """Drop this key's pending randomness and this process's CRT tables (run over)."""
        forget_prefetch(self.pk.fingerprint())

    def decrypt(self, blob: bytes, workers: int) -> list[int]:
        if self.backend == "plaintext":
            return _PlainBlob.load(blob, self.width)
        enc = EncryptedArray.from_bytes(self.pk, blob)
        return self._sk.decrypt_ints(enc, workers=workers)


class HostCipher:
    """A host's side: additions of the guest's (encrypted) rows, packing, serialization."""

    def __init__(self, backend: Backend | str, public: bytes, key_bits: int) -> None:
        self.backend = backend
        self.width = 2 * key_bits // 8 + 1
        self.pk: Any = None
        self.modulus: Any = None
        if backend == "paillier":
            self.pk = PaillierPublicKey.from_bytes(public)
            self.modulus = self.pk.nsquare

    def load(self, blob: bytes) -> np.ndarray:
        if self.backend == "plaintext":
            vals: list[Any] = _PlainBlob.load(blob, self.width)
        else:
            vals = EncryptedArray.from_bytes(self.pk, blob).raw_ciphertexts()
        out = np.empty(len(vals), dtype=object)
        out[:] = vals
        return out

    def pack(self, sums: list[Any], w: int, k: int) -> list[Any]:
        """Horner-pack ``k`` bin sums per plaintext: ``acc * 2**w + next``."""
        return pack_sums(sums, w, k, None if self.backend == "plaintext" else self.modulus)

    def dump(self, values: list[Any]) -> bytes:
        if self.backend == "plaintext":
            return _PlainBlob.dump(values, self.width)
        # fresh randomness: the key holder must not link a sum to the rows it came from
        return EncryptedArray(self.pk, values).rerandomize().to_bytes()


def pack_sums(sums: list[Any], w: int, k: int, modulus: Any) -> list[Any]:
    """Horner-pack ``k`` values per group: ``acc * 2**w + next`` on plaintexts
    (``modulus is None``), ``acc**(2**w) * next mod modulus`` on Paillier ciphertexts."""
    out = []
    if modulus is None:
        for i in range(0, len(sums), k):
            acc = 0
            for v in sums[i : i + k]:
                acc = (acc << w) + v
            out.append(acc)
        return out
    N = gmpy2.mpz(modulus)
    shift = gmpy2.mpz(1) << w
    powmod, fmod = gmpy2.powmod, gmpy2.f_mod
    for i in range(0, len(sums), k):
        group = sums[i : i + k]
        acc = group[0]
        for v in group[1:]:
            acc = fmod(powmod(acc, shift, N) * v, N)
        out.append(acc)
    return out


def segment_reduce(values: list[Any], starts: Sequence[int], modulus: Any) -> list[Any]:
    """Per-run sums of ``values`` (``modulus is None``) or products mod ``modulus``."""
    bounds = [*starts, len(values)]
    out: list[Any] = []
    if modulus is None:
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            out.append(sum(values[lo:hi]))
        return out
    N = gmpy2.mpz(modulus)
    fmod = gmpy2.f_mod  # faster than % on mpz (same result: both operands are positive)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        acc = values[lo]
        for x in values[lo + 1 : hi]:
            acc = fmod(acc * x, N)
        out.append(acc)
    return out


__all__ = ["GuestCipher", "HostCipher", "pack_sums", "segment_reduce"]
