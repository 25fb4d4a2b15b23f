"""CKKS building blocks on TenSEAL: contexts, long encrypted vectors, masked partial dot products.

What leaves a party, and to whom:

1. ``CkksContext.to_bytes()`` (default) carries the public key (and relinearization keys,
   plus Galois keys only when the context was created with ``galois=True``) -- never the
   secret key. ``to_bytes(secret=True)`` is for the key holder's own storage or for the
   parties that share the secret key in horizontal FedAvg; it must never go to the server.
2. ``CkksArray.to_bytes()`` carries ciphertexts only; anyone with the public context can add
   them or multiply them by plaintext numbers, only a secret context decrypts them.
3. ``PartialDot.to_bytes()`` carries one ciphertext per column whose slots the decryptor
   sees one by one after decryption: add a mask first (``add_mask``) so the decryptor learns
   ``slot value + uniform noise`` per slot, and only the masked slot sums are handed back.
   See docs/crypto/ckks.md for what that hides and what it does not.

Design rules taken from measurement (docs/crypto/ckks.md): products are built from
elementwise multiply-and-add (TenSEAL's ``matmul`` takes ~30 s for 4096 x 16), slot sums
are left to the decryptor, Galois keys (35 MB) ship only when asked for, and ciphertexts are
never ``.copy()``-ed (a copy duplicates the context with all its keys).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import tenseal as ts

from crypto.ckks_params import PROFILES, CkksParams, CkksProfile
from crypto.errors import CryptoError, EncodingOverflowError, KeyMismatchError

__all__ = [
    "PROFILES",
    "CkksArray",
    "CkksContext",
    "CkksParams",
    "CkksProfile",
    "PartialDot",
    "sum_encrypted",
]

_CTX_MAGIC = b"FCLCKKS1"
_ARR_MAGIC = b"FCLCKA1\x00"
_DOT_MAGIC = b"FCLCKD1\x00"


# Largest magnitude accepted for encrypted values and plaintext operands. Measured: on every
# profile values up to 1e6 decrypt correctly after the profile's full multiplicative depth;
# on "precise" values of 4e6 wrap around modulo q0 and decrypt to wrong numbers. Results of
# products cannot be checked on ciphertexts: keep them below this bound as well.
MAX_ABS_VALUE = 1e6


def _check_finite(x: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(x)):
        raise CryptoError(
            f"{what} contains NaN or infinity; CKKS would encrypt garbage",
            hint="Clean or clip the values before encrypting.",
        )
    if x.size and float(np.abs(x).max()) > MAX_ABS_VALUE:
        raise EncodingOverflowError(
            f"{what} has magnitude {float(np.abs(x).max()):.3g} above the CKKS bound "
            f"{MAX_ABS_VALUE:g}; larger values wrap around and decrypt to wrong numbers"
        )


class CkksContext:
    """A TenSEAL CKKS context plus its parameters; secret (key holder) or public."""

    def __init__(self, raw: ts.Context, params: CkksParams) -> None:
        self._raw = raw
        self.params = params
        self._fingerprint: str | None = None

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def create(cls, params: CkksParams = CkksParams(), *, galois: bool = False) -> CkksContext:
        """A fresh secret context (holds the secret key)."""
        raw = ts.context(
            ts.SCHEME_TYPE.CKKS,
            params.poly_modulus_degree,
            coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes),
        )
        raw.global_scale = 2.0**params.global_scale_bits
        if galois:
            raw.generate_galois_keys()
        return cls(raw, params)

    @classmethod
    def from_profile(cls, name: str, *, galois: bool = False) -> CkksContext:
        if name not in PROFILES:
            raise CryptoError(
                f"unknown CKKS profile {name!r}; expected one of {sorted(PROFILES)}",
                hint="Set the experiment's ckks profile to a name in crypto.ckks.PROFILES.",
            )
        return cls.create(PROFILES[name].params, galois=galois)

    def public(self, *, galois: bool = False) -> CkksContext:
        """A copy without the secret key; Galois keys only if asked for (they are ~35 MB)."""
        return CkksContext.from_bytes(self._serialize(secret=False, galois=galois))

    # ---- properties ---------------------------------------------------------------------
    @property
    def raw(self) -> ts.Context:
        """The TenSEAL context (for code that needs TenSEAL directly)."""
        return self._raw

    @property
    def is_private(self) -> bool:
        return bool(self._raw.is_private())

    @property
    def has_galois_keys(self) -> bool:
        return bool(self._raw.has_galois_keys())

    @property
    def slot_count(self) -> int:
        return self.params.slot_count

    def secret_key(self) -> Any:
        if not self.is_private:
            raise CryptoError(
                f"CKKS context {self.fingerprint()} is public: it holds no secret key and "
                "cannot decrypt",
                hint="Decrypt at the party that created the key pair (its secret context).",
            )
        return self._raw.secret_key()

    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) of the public key material; same for public/secret."""
        if self._fingerprint is None:
            pub = self._raw.serialize(
                save_public_key=True,
                save_secret_key=False,
                save_galois_keys=False,
                save_relin_keys=False,
            )
            self._fingerprint = hashlib.sha256(pub).hexdigest()[:16]
        return self._fingerprint

    def __repr__(self) -> str:
        kind = "secret" if self.is_private else "public"
        return (
            f"CkksContext({kind}, N={self.params.poly_modulus_degree}, "
            f"fingerprint={self.fingerprint()})"
        )

    # ---- serialization ------------------------------------------------------------------
    def _serialize(self, *, secret: bool, galois: bool) -> bytes:
        if secret and not self.is_private:
            raise CryptoError(
                "cannot serialize a secret CKKS context from a public one",
                hint="Serialize the context that created the keys.",
            )
        body: bytes = self._raw.serialize(
            save_public_key=True,
            save_secret_key=secret,
            save_galois_keys=galois and self.has_galois_keys,
            save_relin_keys=True,
        )
        header = json.dumps(asdict(self.params)).encode()
        return _CTX_MAGIC + struct.pack("<I", len(header)) + header + body

    def to_bytes(self, *, secret: bool = False, galois: bool | None = None) -> bytes:
        """Serialize; public by default. Galois keys are kept iff present (or as asked)."""
        keep_galois = self.has_galois_keys if galois is None else galois
        return self._serialize(secret=secret, galois=keep_galois)

    @classmethod
    def from_bytes(cls, data: bytes) -> CkksContext:
        if not data.startswith(_CTX_MAGIC):
            raise CryptoError(
                "bytes are not a serialized CKKS context (bad magic)",
                hint="Pass the output of CkksContext.to_bytes().",
            )
        off = len(_CTX_MAGIC)
        (hlen,) = struct.unpack_from("<I", data, off)
        header = json.loads(data[off + 4 : off + 4 + hlen])
        params = CkksParams(
            poly_modulus_degree=int(header["poly_modulus_degree"]),
            coeff_mod_bit_sizes=tuple(int(b) for b in header["coeff_mod_bit_sizes"]),
            global_scale_bits=int(header["global_scale_bits"]),
        )
        raw = ts.context_from(data[off + 4 + hlen :])
        return cls(raw, params)


def _pack_blobs(magic: bytes, head: tuple[int, ...], blobs: Sequence[bytes]) -> bytes:
    parts = [magic, struct.pack("<I", len(head)), struct.pack(f"<{len(head)}q", *head)]
    parts.append(struct.pack("<I", len(blobs)))
    parts.extend(struct.pack("<Q", len(b)) for b in blobs)
    parts.extend(blobs)
    return b"".join(parts)


def _unpack_blobs(magic: bytes, data: bytes, what: str) -> tuple[tuple[int, ...], list[bytes]]:
    if not data.startswith(magic):
        raise CryptoError(
            f"bytes are not a serialized {what} (bad magic)",
            hint=f"Pass the output of {what}.to_bytes().",
        )
    off = len(magic)
    (nh,) = struct.unpack_from("<I", data, off)
    off += 4
    head = struct.unpack_from(f"<{nh}q", data, off)
    off += 8 * nh
    (nb,) = struct.unpack_from("<I", data, off)
    off += 4
    sizes = struct.unpack_from(f"<{nb}Q", data, off)
    off += 8 * nb
    blobs = []
    for s in sizes:
        blobs.append(data[off : off + s])
        off += s
    if off != len(data):
        raise CryptoError(f"serialized {what} is truncated or has trailing bytes")
    return tuple(head), blobs


class CkksArray:
    """A float vector of any length as full-slot TenSEAL ``CKKSVector`` chunks.

    Every chunk holds ``slot_count`` slots (the tail is zero-padded), so chunks can be
    folded into each other by addition; ``len()`` is the logical length.
    """

    # numpy must defer ``ndarray + CkksArray`` etc. to our reflected operators.
    __array_ufunc__ = None

    def __init__(self, ctx: CkksContext, chunks: list[Any], length: int) -> None:
        self.ctx = ctx
        self.chunks = chunks
        self._length = length

    # ---- encryption ---------------------------------------------------------------------
    @classmethod
    def encrypt(cls, ctx: CkksContext, x: np.ndarray | Sequence[float]) -> CkksArray:
        arr = np.asarray(x, dtype=np.float64).ravel()
        _check_finite(arr, "vector to encrypt")
        slots = ctx.slot_count
        padded = _pad(arr, slots)
        chunks = [
            ts.ckks_vector(ctx.raw, padded[i : i + slots].tolist())
            for i in range(0, len(padded), slots)
        ]
        return cls(ctx, chunks, arr.size)

    def decrypt(self, secret_ctx: CkksContext) -> np.ndarray:
        sk = _secret_for(secret_ctx, self.ctx)
        out = np.empty(len(self.chunks) * self.ctx.slot_count, dtype=np.float64)
        s = self.ctx.slot_count
        for i, c in enumerate(self.chunks):
            out[i * s : (i + 1) * s] = c.decrypt(sk)
        return out[: self._length]

    def __len__(self) -> int:
        return self._length

    def __repr__(self) -> str:
        fp = self.ctx.fingerprint()
        return f"CkksArray(len={self._length}, chunks={len(self.chunks)}, ctx={fp})"

    # ---- arithmetic ---------------------------------------------------------------------
    def _plain_chunks(self, other: np.ndarray | Sequence[float], op: str) -> list[list[float]]:
        arr = np.asarray(other, dtype=np.float64).ravel()
        if arr.size != self._length:
            raise CryptoError(
                f"cannot {op} an encrypted vector of length {self._length} and a plain vector "
                f"of length {arr.size}",
                hint="Align both vectors to the same rows first.",
            )
        _check_finite(arr, f"plain operand of {op}")
        padded = _pad(arr, self.ctx.slot_count)
        s = self.ctx.slot_count
        return [padded[i : i + s].tolist() for i in range(0, len(padded), s)]

    def _check_peer(self, other: CkksArray, op: str) -> None:
        if len(other) != self._length:
            raise CryptoError(
                f"cannot {op} encrypted vectors of lengths {self._length} and {len(other)}",
                hint="Align both vectors to the same rows first.",
            )
        if other.ctx is not self.ctx and other.ctx.fingerprint() != self.ctx.fingerprint():
            raise KeyMismatchError(
                f"cannot {op} ciphertexts of CKKS keys {self.ctx.fingerprint()} and "
                f"{other.ctx.fingerprint()}"
            )

    def __add__(self, other: object) -> CkksArray:
        if isinstance(other, CkksArray):
            self._check_peer(other, "add")
            return CkksArray(
                self.ctx,
                [a + b for a, b in zip(self.chunks, other.chunks, strict=False)],
                self._length,
            )
        if isinstance(other, (np.ndarray, list, tuple)):
            plain = self._plain_chunks(other, "add")
            return CkksArray(
                self.ctx, [a + p for a, p in zip(self.chunks, plain, strict=False)], self._length
            )
        if isinstance(other, (int, float, np.number)):
            return self + np.full(self._length, float(other))
        return NotImplemented

    __radd__ = __add__

    def __iadd__(self, other: object) -> CkksArray:
        """In-place add (``add_``): no new ciphertext objects, no context copies."""
        if isinstance(other, CkksArray):
            self._check_peer(other, "add")
            for a, b in zip(self.chunks, other.chunks, strict=False):
                a.add_(b)
            return self
        if isinstance(other, (np.ndarray, list, tuple)):
            for a, p in zip(self.chunks, self._plain_chunks(other, "add"), strict=False):
                a.add_(p)
            return self
        return NotImplemented

    def __neg__(self) -> CkksArray:
        return CkksArray(self.ctx, [-a for a in self.chunks], self._length)

    def __sub__(self, other: object) -> CkksArray:
        if isinstance(other, CkksArray):
            self._check_peer(other, "subtract")
            return CkksArray(
                self.ctx,
                [a - b for a, b in zip(self.chunks, other.chunks, strict=False)],
                self._length,
            )
        if isinstance(other, (np.ndarray, list, tuple)):
            plain = self._plain_chunks(other, "subtract")
            return CkksArray(
                self.ctx, [a - p for a, p in zip(self.chunks, plain, strict=False)], self._length
            )
        if isinstance(other, (int, float, np.number)):
            return self - np.full(self._length, float(other))
        return NotImplemented

    def __rsub__(self, other: object) -> CkksArray:
        if isinstance(other, (int, float, np.number)):
            return (-self) + np.full(self._length, float(other))
        if isinstance(other, (np.ndarray, list, tuple)):
            return (-self) + np.asarray(other, dtype=np.float64)
        return NotImplemented

    def _check_depth(self, op: str) -> None:
        if self.ctx.params.depth == 0:
            raise CryptoError(
                f"cannot {op}: CKKS parameters {self.ctx.params.coeff_mod_bit_sizes} allow "
                "additions only (depth 0)",
                hint="Use the 'fast' or 'precise' profile when a protocol multiplies ciphertexts "
                "by plaintext data.",
            )

    def __mul__(self, other: object) -> CkksArray:
        """Multiply by a plain scalar or elementwise by a plain vector (uses one level)."""
        if isinstance(other, (int, float, np.number, np.ndarray, list, tuple)):
            self._check_depth("multiply")
        if isinstance(other, (int, float, np.number)):
            v = float(other)
            _check_finite(np.array([v]), "scalar factor")
            return CkksArray(self.ctx, [a * v for a in self.chunks], self._length)
        if isinstance(other, (np.ndarray, list, tuple)):
            plain = self._plain_chunks(other, "multiply")
            return CkksArray(
                self.ctx, [a * p for a, p in zip(self.chunks, plain, strict=False)], self._length
            )
        if isinstance(other, CkksArray):
            raise CryptoError(
                "ciphertext x ciphertext products are not offered by CkksArray",
                hint="Multiply by plaintext data; protocols here never need encrypted x encrypted.",
            )
        return NotImplemented

    __rmul__ = __mul__

    # ---- products -----------------------------------------------------------------------
    def partial_dot(self, X: np.ndarray) -> PartialDot:
        """Encrypted ``X.T @ d`` left unsummed: one slot-length ciphertext per column of X.

        For column j the chunks of ``d * X[:, j]`` are folded by addition; the slot sum of
        the result equals ``(X.T @ d)[j]``. No rotations, no Galois keys.
        """
        self._check_depth("compute partial_dot")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[0] != self._length:
            raise CryptoError(
                f"partial_dot needs a plain matrix with {self._length} rows; got shape {X.shape}",
                hint="Pass the party's feature matrix aligned to the encrypted vector's rows.",
            )
        _check_finite(X, "plain matrix of partial_dot")
        s = self.ctx.slot_count
        n_chunks = len(self.chunks)
        Xp = np.zeros((n_chunks * s, X.shape[1]), dtype=np.float64)
        Xp[: self._length] = X
        cols: list[Any] = []
        for j in range(X.shape[1]):
            acc = None
            for i, c in enumerate(self.chunks):
                prod = c * Xp[i * s : (i + 1) * s, j].tolist()
                if acc is None:
                    acc = prod
                else:
                    acc.add_(prod)
            cols.append(acc)
        return PartialDot(self.ctx, cols)

    # ---- serialization ------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        return _pack_blobs(_ARR_MAGIC, (self._length,), [c.serialize() for c in self.chunks])

    @classmethod
    def from_bytes(cls, ctx: CkksContext, data: bytes) -> CkksArray:
        head, blobs = _unpack_blobs(_ARR_MAGIC, data, "CkksArray")
        length = head[0]
        if len(blobs) != max(1, -(-length // ctx.slot_count)):
            raise CryptoError(
                f"CkksArray of length {length} has {len(blobs)} chunks; the context has "
                f"{ctx.slot_count} slots per chunk",
                hint="Deserialize with the context the array was encrypted under.",
            )
        return cls(ctx, [ts.ckks_vector_from(ctx.raw, b) for b in blobs], length)


class PartialDot:
    """One slot-length ciphertext per column; the slot sums are the dot products."""

    def __init__(self, ctx: CkksContext, columns: list[Any]) -> None:
        self.ctx = ctx
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns)

    def __repr__(self) -> str:
        return f"PartialDot(columns={len(self.columns)}, ctx={self.ctx.fingerprint()})"

    def add_mask(
        self, rng: np.random.Generator, *, scale: float = 1e3
    ) -> tuple[PartialDot, np.ndarray]:
        """Add uniform noise in [-scale, scale) to every slot; return (masked, mask totals).

        The owner keeps the totals (one per column) and subtracts them from the decrypted
        slot sums it gets back. ``self`` is left unchanged.
        """
        s = self.ctx.slot_count
        masks = rng.uniform(-scale, scale, size=(len(self.columns), s))
        masked = [c + m.tolist() for c, m in zip(self.columns, masks, strict=False)]
        return PartialDot(self.ctx, masked), masks.sum(axis=1)

    def decrypt_slots(self, secret_ctx: CkksContext) -> np.ndarray:
        """All slots, shape (k, slot_count): what the decryptor sees."""
        sk = _secret_for(secret_ctx, self.ctx)
        return np.array([c.decrypt(sk) for c in self.columns], dtype=np.float64)

    def decrypt_sums(self, secret_ctx: CkksContext) -> np.ndarray:
        """Slot sums per column (length k)."""
        sums: np.ndarray = self.decrypt_slots(secret_ctx).sum(axis=1)
        return sums

    def to_bytes(self) -> bytes:
        return _pack_blobs(_DOT_MAGIC, (len(self.columns),), [c.serialize() for c in self.columns])

    @classmethod
    def from_bytes(cls, ctx: CkksContext, data: bytes) -> PartialDot:
        _, blobs = _unpack_blobs(_DOT_MAGIC, data, "PartialDot")
        return cls(ctx, [ts.ckks_vector_from(ctx.raw, b) for b in blobs])


def sum_encrypted(arrays: Sequence[CkksArray]) -> CkksArray:
    """Sum of encrypted arrays of one key and length.

    The first array's chunks are added to one fresh ``a + b`` result and then updated in
    place (``add_``); no ``.copy()`` (which would duplicate the context per chunk).
    The inputs are not modified.
    """
    if not arrays:
        raise CryptoError("sum_encrypted needs at least one encrypted array")
    first = arrays[0]
    if len(arrays) == 1:
        return first
    for a in arrays[1:]:
        first._check_peer(a, "add")
    acc = [a + b for a, b in zip(first.chunks, arrays[1].chunks, strict=False)]
    for arr in arrays[2:]:
        for a, b in zip(acc, arr.chunks, strict=False):
            a.add_(b)
    return CkksArray(first.ctx, acc, len(first))


def _pad(arr: np.ndarray, slots: int) -> np.ndarray:
    n_chunks = max(1, -(-arr.size // slots))
    out = np.zeros(n_chunks * slots, dtype=np.float64)
    out[: arr.size] = arr
    return out


def _secret_for(secret_ctx: CkksContext, data_ctx: CkksContext) -> Any:
    if not isinstance(secret_ctx, CkksContext):
        raise CryptoError(
            "decryption needs a CkksContext holding the secret key, got "
            f"{type(secret_ctx).__name__}"
        )
    sk = secret_ctx.secret_key()
    if secret_ctx is not data_ctx and secret_ctx.fingerprint() != data_ctx.fingerprint():
        raise KeyMismatchError(
            f"ciphertexts were encrypted under CKKS key {data_ctx.fingerprint()} but the "
            f"secret context is {secret_ctx.fingerprint()}"
        )
    return sk
