"""The Paillier public key and vectors of ciphertexts (the scheme: ``crypto.paillier``).

What leaves a party: only public keys (``n``, ``hs``) and ciphertexts (``to_bytes``). A
ciphertext reveals its length, exponent and the key fingerprint, nothing about its
plaintext to anyone without the private key. Results of homomorphic arithmetic keep the
randomness of their inputs: :meth:`EncryptedArray.rerandomize` before sending them to the
key holder when the computation itself must stay hidden.
"""

from __future__ import annotations

import functools
import hashlib
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gmpy2
import numpy as np

from crypto import _multiexp, _pool
from crypto._paillier_math import (
    _WINDOW,
    derive_hs,
    encode_matrix,
    fixed_base_table,
    is_int_like,
    mpz_array,
    n_bytes,
)
from crypto._pool import ObfuscatorPool
from crypto.errors import CryptoError, KeyMismatchError
from crypto.fixedpoint import (
    DEFAULT_EXPONENT,
    check_exponent,
    check_range,
    encode,
    to_signed_ints,
)

DEFAULT_KEY_BITS = 2048
"""2048-bit ``n``: about 112 bits of security (NIST SP 800-57); use 3072 for 128 bits."""

SUPPORTED_KEY_BITS = (1024, 2048, 3072, 4096)
"""1024 is for tests only: it is not secure."""

DEFAULT_RANDOMNESS_BITS = 256
"""Bits of the secret DJN exponent ``a``: twice the 128-bit security level (generic attacks
on a short exponent cost 2**128, above the 112 bits of a 2048-bit key and equal to a
3072-bit key's; the rule NIST SP 800-56A sets for Diffie-Hellman private exponents, at
least twice the security strength). ``key_bits // 2`` is the conservative,
factoring-based choice of the DJN paper; see docs/crypto/paillier.md."""

_PK_MAGIC = b"FLPK"
_CT_MAGIC = b"FLPC"
_VERSION = 1
_CT_HEADER = struct.Struct(">4sB8siIH")
_PK_HEADER = struct.Struct(">4sBHI")


@dataclass(frozen=True)
class PaillierPublicKey:
    """A Paillier public key with ``g = n + 1`` and the DJN randomness base ``hs``.

    Two keys are equal when their ``n`` is equal (``hs`` is an encryption accelerator).
    """

    n: int
    hs: int = field(default=0, compare=False, repr=False)
    randomness_bits: int = field(default=DEFAULT_RANDOMNESS_BITS, compare=False)

    def __post_init__(self) -> None:
        n = int(self.n)
        if n < 2**255 or n % 2 == 0:
            raise CryptoError("Paillier modulus must be an odd number of at least 256 bits")
        if self.randomness_bits % _WINDOW or not 128 <= self.randomness_bits <= n.bit_length():
            raise CryptoError(
                f"randomness_bits must be a multiple of {_WINDOW} in [128, key bits], "
                f"got {self.randomness_bits}"
            )
        object.__setattr__(self, "n", n)
        hs = int(self.hs)
        if hs == 0:
            hs = derive_hs(n)
        elif not 1 < hs < n * n:
            raise CryptoError("public key's randomness base hs is out of range")
        object.__setattr__(self, "hs", hs)

    def __repr__(self) -> str:
        return f"PaillierPublicKey(bits={self.bits}, fingerprint={self.fingerprint()})"

    @property
    def bits(self) -> int:
        return self.n.bit_length()

    @functools.cached_property
    def nsquare(self) -> Any:
        return gmpy2.mpz(self.n) ** 2

    @functools.cached_property
    def _n_mpz(self) -> Any:
        return gmpy2.mpz(self.n)

    @property
    def max_int(self) -> int:
        """Largest safe plaintext magnitude: values satisfy ``|m| < n / 3``."""
        return (self.n - 1) // 3

    @property
    def ciphertext_bytes(self) -> int:
        return (int(self.nsquare).bit_length() + 7) // 8

    def fingerprint(self) -> str:
        """First 16 hex digits of SHA-256 over ``n`` (big-endian): names the key in logs."""
        return hashlib.sha256(n_bytes(self.n)).hexdigest()[:16]

    def to_bytes(self) -> bytes:
        """``FLPK`` header, ``n`` and ``hs`` as fixed-width big-endian integers."""
        nb = n_bytes(self.n)
        width = len(nb)
        header = _PK_HEADER.pack(_PK_MAGIC, _VERSION, self.randomness_bits, width)
        return header + nb + self.hs.to_bytes(2 * width, "big")

    @classmethod
    def from_bytes(cls, data: bytes) -> PaillierPublicKey:
        try:
            magic, version, rbits, width = _PK_HEADER.unpack_from(data, 0)
        except struct.error:
            raise CryptoError("public key bytes are truncated") from None
        if magic != _PK_MAGIC or version != _VERSION:
            raise CryptoError("these bytes are not a Paillier public key of this lab")
        body = memoryview(data)[_PK_HEADER.size :]
        if len(body) != 3 * width:
            raise CryptoError("public key bytes have the wrong length (truncated or corrupted)")
        n = int.from_bytes(body[:width], "big")
        hs = int.from_bytes(body[width:], "big")
        return cls(n, hs, rbits)

    # -- encryption -------------------------------------------------------------------------

    def obfuscators(self, count: int) -> np.ndarray:
        """``count`` fresh ``hs**a mod n**2`` values (object array of mpz)."""
        table = fixed_base_table(self.hs, int(self.nsquare), self.randomness_bits)
        windows = self.randomness_bits // _WINDOW
        chunks = []
        for start in range(0, count, 4096):
            k = min(4096, count - start)
            digits = np.frombuffer(os.urandom(k * windows), dtype=np.uint8).reshape(k, windows)
            chunks.append(table.pow_many(digits))
        if not chunks:
            return np.empty(0, dtype=object)
        return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]

    def _take_obfuscators(self, count: int, pool: ObfuscatorPool | None) -> np.ndarray:
        if pool is None:
            return self.obfuscators(count)
        if pool.public_key != self:
            raise KeyMismatchError(
                f"obfuscator pool belongs to key {pool.public_key.fingerprint()}, "
                f"not {self.fingerprint()}"
            )
        return pool.take(count)

    def encrypt(
        self,
        x: object,
        *,
        exponent: int = DEFAULT_EXPONENT,
        pool: ObfuscatorPool | None = None,
    ) -> EncryptedArray:
        """Encrypt a float/int or a 1-d array at fixed-point ``exponent``.

        ``m = round(x * 2**exponent)``; negatives wrap modulo ``n``. NaN/inf raise
        :class:`CryptoError` naming the index; ``|m| >= n/3`` raises
        :class:`EncodingOverflowError`. ``pool`` supplies precomputed randomness.
        """
        exponent = check_exponent(exponent)
        residues = encode(x, exponent, self.n)
        return self._encrypt_residues(residues, exponent, pool)

    def encrypt_ints(
        self, ints: object, *, exponent: int = 0, pool: ObfuscatorPool | None = None
    ) -> EncryptedArray:
        """Encrypt integers exactly (signed, ``|m| < n/3``), labelled with ``exponent``."""
        exponent = check_exponent(exponent)
        signed = to_signed_ints(np.asarray(ints, dtype=object), 0)
        check_range(signed, self.n)
        return self._encrypt_residues([m % self.n for m in signed], exponent, pool)

    def raw_encrypt(
        self, residues: Sequence[int], *, exponent: int = 0, pool: ObfuscatorPool | None = None
    ) -> EncryptedArray:
        """Encrypt plaintext residues in ``[0, n)`` as they are (packed plaintexts).

        Prefer :meth:`encrypt` or :meth:`encrypt_ints`: this skips the safe-range check.
        """
        for i, m in enumerate(residues):
            if not 0 <= m < self.n:
                raise CryptoError(f"raw plaintext at index {i} is outside [0, n)")
        return self._encrypt_residues(list(residues), check_exponent(exponent), pool)

    def _encrypt_residues(
        self, residues: Sequence[int], exponent: int, pool: ObfuscatorPool | None
    ) -> EncryptedArray:
        n = self._n_mpz
        gm = mpz_array(n * m + 1 for m in residues)
        obf = self._take_obfuscators(len(residues), pool)
        return EncryptedArray._wrap(self, gm * obf % self.nsquare, exponent)


class EncryptedArray:
    """A 1-d vector of Paillier ciphertexts sharing one key and one fixed-point exponent.

    Arithmetic: ``+``/``-`` with another EncryptedArray (same key; the lower exponent is
    rescaled up by ``c**(2**d)``, exact) or with plaintext numbers (encoded at this
    exponent, so they round to ``2**-exponent``); unary ``-``; ``*`` by a plaintext
    scalar/vector (ints at exponent 0, floats at :data:`DEFAULT_EXPONENT`; the result's
    exponent is the sum). Ciphertext x ciphertext is impossible in Paillier and raises.
    """

    __slots__ = ("public_key", "exponent", "_c")

    def __init__(
        self, public_key: PaillierPublicKey, ciphertexts: Iterable[int], exponent: int = 0
    ) -> None:
        self.public_key = public_key
        self.exponent = check_exponent(exponent)
        self._c = mpz_array(ciphertexts)

    @classmethod
    def _wrap(cls, pk: PaillierPublicKey, cts: np.ndarray, exponent: int) -> EncryptedArray:
        obj = cls.__new__(cls)
        obj.public_key = pk
        obj.exponent = exponent
        obj._c = cts
        return obj

    def __len__(self) -> int:
        return len(self._c)

    def __repr__(self) -> str:
        return (
            f"EncryptedArray(len={len(self)}, exponent={self.exponent}, "
            f"key={self.public_key.fingerprint()})"
        )

    def raw_ciphertexts(self) -> list[Any]:
        """The ciphertexts as a list of ``mpz`` (for worker processes and serialization)."""
        return self._c.tolist()  # type: ignore[no-any-return]

    # -- helpers ----------------------------------------------------------------------------

    def _same_key(self, other: EncryptedArray) -> None:
        if other.public_key != self.public_key:
            raise KeyMismatchError(
                f"cannot combine ciphertexts under key {self.public_key.fingerprint()} with "
                f"ciphertexts under key {other.public_key.fingerprint()}"
            )

    def _plain_residues(self, other: object) -> list[int]:
        residues = encode(other, self.exponent, self.public_key.n)
        if len(residues) == 1 and len(self) != 1:
            residues = residues * len(self)
        if len(residues) != len(self):
            raise CryptoError(
                f"plaintext has {len(residues)} values, the encrypted vector {len(self)}"
            )
        return residues

    def rescale(self, exponent: int) -> EncryptedArray:
        """The same values at a higher ``exponent`` (``c**(2**d)``: exact, no decryption)."""
        exponent = check_exponent(exponent)
        d = exponent - self.exponent
        if d < 0:
            raise CryptoError(
                f"cannot lower the exponent from {self.exponent} to {exponent} without the key"
            )
        if d == 0:
            return self
        factor = gmpy2.mpz(1) << d
        N = self.public_key.nsquare
        return EncryptedArray._wrap(
            self.public_key,
            mpz_array(gmpy2.powmod_base_list(self._c.tolist(), factor, N)),
            exponent,
        )

    def _aligned(self, other: EncryptedArray) -> tuple[np.ndarray, np.ndarray, int]:
        self._same_key(other)
        if len(other) != len(self) and len(other) != 1 and len(self) != 1:
            raise CryptoError(f"encrypted vectors have lengths {len(self)} and {len(other)}")
        e = max(self.exponent, other.exponent)
        return self.rescale(e)._c, other.rescale(e)._c, e

    # -- arithmetic -------------------------------------------------------------------------

    def __add__(self, other: object) -> EncryptedArray:
        N = self.public_key.nsquare
        if isinstance(other, EncryptedArray):
            a, b, e = self._aligned(other)
            return EncryptedArray._wrap(self.public_key, a * b % N, e)
        n = self.public_key._n_mpz
        gm = mpz_array(n * m + 1 for m in self._plain_residues(other))
        return EncryptedArray._wrap(self.public_key, self._c * gm % N, self.exponent)

    __radd__ = __add__

    def __neg__(self) -> EncryptedArray:
        N = self.public_key.nsquare
        inv = mpz_array(gmpy2.invert(c, N) for c in self._c.tolist())
        return EncryptedArray._wrap(self.public_key, inv, self.exponent)

    def __sub__(self, other: object) -> EncryptedArray:
        if isinstance(other, EncryptedArray):
            return self + (-other)
        neg = -np.asarray(other, dtype=object if is_int_like(other) else np.float64)
        return self + neg

    def __rsub__(self, other: object) -> EncryptedArray:
        return (-self) + other

    def __mul__(self, other: object) -> EncryptedArray:
        return self.mul(other)

    __rmul__ = __mul__

    def mul(self, other: object, *, exponent: int | None = None) -> EncryptedArray:
        """Multiply by plaintext scalar(s); the result's exponent is ``self.exponent +
        exponent`` (default 0 for ints, :data:`DEFAULT_EXPONENT` for floats)."""
        if isinstance(other, EncryptedArray):
            raise CryptoError(
                "Paillier cannot multiply two ciphertexts; multiply by a plaintext instead"
            )
        if exponent is None:
            exponent = 0 if is_int_like(other) else DEFAULT_EXPONENT
        exponent = check_exponent(exponent)
        arr = np.asarray(other)
        ks = to_signed_ints(arr if arr.dtype.kind in "iubf" else arr.astype(object), exponent)
        check_range(ks, self.public_key.n)
        if len(ks) == 1 and len(self) != 1:
            ks = ks * len(self)
        if len(ks) != len(self):
            raise CryptoError(f"plaintext has {len(ks)} values, the encrypted vector {len(self)}")
        N = self.public_key.nsquare
        out = mpz_array(gmpy2.powmod(c, k, N) for c, k in zip(self._c.tolist(), ks, strict=True))
        return EncryptedArray._wrap(self.public_key, out, self.exponent + exponent)

    def sum(self) -> EncryptedArray:
        """The encrypted sum of all entries (length 1)."""
        total = _multiexp.product(self._c.tolist(), self.public_key.nsquare)
        return EncryptedArray._wrap(self.public_key, mpz_array([total]), self.exponent)

    def dot_plain(
        self, X: object, *, x_exponent: int | None = None, workers: int | None = None
    ) -> EncryptedArray:
        """``X.T @ self`` for a plaintext ``X`` of shape ``(len(self), k)`` (or ``(len,)``).

        One multi-exponentiation per column (``crypto._multiexp``: Bos-Coster levels on
        base-``n`` digit pairs, the digits shared by all columns) instead of one
        exponentiation per element. Negative entries go into a second product that is
        inverted once per column: ``prod_(X_ij > 0) c_i**X_ij * (prod_(X_ij < 0)
        c_i**-X_ij)**-1``. Integer ``X`` is used exactly (exponent 0 unless ``x_exponent``
        is given); float ``X`` is encoded at ``x_exponent`` (default
        :data:`DEFAULT_EXPONENT`; 8-16 bits is faster). The result has exponent
        ``self.exponent + x_exponent`` and the randomness of the inputs (see
        :meth:`rerandomize`). ``workers`` > 1 computes one share here and the others in
        helper processes (``crypto._pipes``; default: automatic for large inputs).
        """
        arr = np.asarray(X)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[0] != len(self):
            raise CryptoError(f"plaintext matrix has shape {arr.shape}; expected ({len(self)}, k)")
        if x_exponent is None:
            x_exponent = 0 if arr.dtype.kind in "iub" or is_int_like(arr) else DEFAULT_EXPONENT
        x_exponent = check_exponent(x_exponent)
        exps = encode_matrix(arr, x_exponent, self.public_key.n)

        N = self.public_key.nsquare
        parts = _pool.parallel_multi_exp(self._c.tolist(), exps, N, workers)
        return EncryptedArray._wrap(self.public_key, mpz_array(parts), self.exponent + x_exponent)

    def segment_sum(
        self, group_ids: object, n_groups: int, *, rerandomize: bool = False
    ) -> EncryptedArray:
        """Per-group encrypted sums (additions only): entry ``g`` is the sum of the
        entries whose ``group_ids`` equal ``g``; an empty group is an encryption of 0.

        ``rerandomize=True`` multiplies every sum by fresh randomness (do this before
        sending sums to the key holder)."""
        ids = np.asarray(group_ids)
        if ids.shape != (len(self),):
            raise CryptoError(f"group_ids has shape {ids.shape}; expected ({len(self)},)")
        if ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= n_groups):
            raise CryptoError(f"group_ids must be integers in [0, {n_groups})")
        N = self.public_key.nsquare
        order = np.argsort(ids, kind="stable")
        bounds = np.searchsorted(ids[order], np.arange(n_groups + 1))
        cts = self._c[order].tolist()
        sums = [
            _multiexp.product(cts[lo:hi], N)
            for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
        ]
        out = EncryptedArray._wrap(self.public_key, mpz_array(sums), self.exponent)
        return out.rerandomize() if rerandomize else out

    def rerandomize(self, pool: ObfuscatorPool | None = None) -> EncryptedArray:
        """Same plaintexts, fresh randomness (multiply by new ``hs**a`` obfuscators)."""
        obf = self.public_key._take_obfuscators(len(self), pool)
        return EncryptedArray._wrap(
            self.public_key, self._c * obf % self.public_key.nsquare, self.exponent
        )

    # -- indexing ---------------------------------------------------------------------------

    def take(self, indices: object) -> EncryptedArray:
        idx = np.asarray(indices)
        return EncryptedArray._wrap(self.public_key, self._c[idx].reshape(-1), self.exponent)

    def __getitem__(self, index: object) -> EncryptedArray:
        if isinstance(index, (int, np.integer)):
            return self.take([int(index)])
        if isinstance(index, slice):
            return EncryptedArray._wrap(self.public_key, self._c[index], self.exponent)
        return self.take(index)

    @classmethod
    def concatenate(cls, parts: Sequence[EncryptedArray]) -> EncryptedArray:
        """Join vectors of one key (exponents are raised to the largest)."""
        if not parts:
            raise CryptoError("cannot concatenate an empty list of encrypted vectors")
        first = parts[0]
        for p in parts[1:]:
            first._same_key(p)
        e = max(p.exponent for p in parts)
        cts = np.concatenate([p.rescale(e)._c for p in parts])
        return cls._wrap(first.public_key, cts, e)

    # -- bytes ------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Header (magic, version, key fingerprint, exponent, count, width) then each
        ciphertext as a fixed-width big-endian integer of ``2 * key bytes``."""
        width = self.public_key.ciphertext_bytes
        fp = bytes.fromhex(self.public_key.fingerprint())[:8]
        header = _CT_HEADER.pack(_CT_MAGIC, _VERSION, fp, self.exponent, len(self), width)
        return header + b"".join(c.to_bytes(width, "big") for c in self._c.tolist())

    @classmethod
    def from_bytes(cls, public_key: PaillierPublicKey, data: bytes) -> EncryptedArray:
        """Parse :meth:`to_bytes` output; checks the key fingerprint and every value."""
        try:
            magic, version, fp, exponent, count, width = _CT_HEADER.unpack_from(data, 0)
        except struct.error:
            raise CryptoError("ciphertext bytes are truncated (no complete header)") from None
        if magic != _CT_MAGIC or version != _VERSION:
            raise CryptoError("these bytes are not encrypted values of this lab")
        if fp != bytes.fromhex(public_key.fingerprint())[:8]:
            raise KeyMismatchError(
                f"ciphertexts were made under key {fp.hex()}, expected {public_key.fingerprint()}"
            )
        if width != public_key.ciphertext_bytes or len(data) != _CT_HEADER.size + count * width:
            raise CryptoError("ciphertext bytes have the wrong length (truncated or corrupted)")
        N = public_key.nsquare
        from_bytes = gmpy2.mpz.from_bytes
        base = _CT_HEADER.size
        cts = [
            from_bytes(data[base + i * width : base + (i + 1) * width], "big") for i in range(count)
        ]
        for i, c in enumerate(cts):
            if not 0 < c < N:
                raise CryptoError(f"ciphertext at index {i} is out of range (corrupted bytes)")
        out = np.empty(count, dtype=object)
        out[:] = cts
        return cls._wrap(public_key, out, check_exponent(exponent))


__all__ = [
    "DEFAULT_EXPONENT",
    "DEFAULT_KEY_BITS",
    "DEFAULT_RANDOMNESS_BITS",
    "SUPPORTED_KEY_BITS",
    "EncryptedArray",
    "PaillierPublicKey",
]
