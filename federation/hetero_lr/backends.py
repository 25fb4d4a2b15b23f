"""Crypto backends of hetero logistic regression: one interface, three implementations.

The protocol (the ``federation.hetero_lr`` package) is written once against :class:`LrBackend`:

* ``plaintext``: no encryption at all, the same code path; for tests and for measuring the
  crypto overhead in benchmarks. It protects nothing: never use it on real data.
* ``paillier``: exact fixed-point additive HE (``crypto.paillier``).
* ``ckks``: packed approximate HE (``crypto.ckks``); much faster, errors ~1e-6.

What leaves whom (the backend only produces bytes; the protocol decides where they go):

1. The key holder (the coordinator) publishes ``KeyHolder.public_bytes``: a Paillier
   public key or a CKKS context *without* its secret key.
2. A party serialises ciphertexts with :meth:`Session.dump`; only the key holder can
   decrypt them.
3. :meth:`Session.masked_xtd` returns an encrypted ``X.T @ d`` to which the party has added
   a uniform mask it keeps; the key holder decrypts (:meth:`KeyHolder.decrypt_gradient`)
   masked sums only (CKKS: masked per-slot values, see ``crypto.ckks.PartialDot``).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Any

import numpy as np

from crypto.errors import ConfigError

#: Gradient masks are uniform in [-GRADIENT_MASK_BOUND, GRADIENT_MASK_BOUND).
GRADIENT_MASK_BOUND = float(2**20)
#: Per-slot mask bound for CKKS partial dot products (a level-2 CKKS ciphertext holds
#: values below ~2^19 at scale 2^40, so the mask stays well under that).
CKKS_SLOT_MASK_BOUND = 1e3
#: Fixed-point exponent for Paillier: values are encoded as round(x * 2^PAILLIER_PRECISION_BITS).
PAILLIER_PRECISION_BITS = 32
#: Standardized features are encoded with this many fractional bits (resolution 2^-8 of a
#: standard deviation) in the plaintext-ciphertext products; the multi-exponentiation cost
#: grows with the bits (2048-bit keys: ~13 us per row-feature at 10 bits, ~10 us at 8).
PAILLIER_FEATURE_BITS = 8

Ct = Any  # a backend's in-memory ciphertext type


class KeyHolder(ABC):
    """The coordinator's key pair. ``public_bytes`` may leave; the secret never does."""

    public_bytes: bytes

    @abstractmethod
    def decrypt_gradient(self, blob: bytes) -> np.ndarray:
        """Decrypt a masked gradient produced by :meth:`Session.masked_xtd`."""

    @abstractmethod
    def encrypt(self, x: np.ndarray) -> bytes:
        """Encrypt under this key (serialised); uses precomputed randomness when there is."""

    def precompute(self, count: int) -> None:  # noqa: B027 - optional hook, empty by design
        """Prepare randomness for ``count`` encrypted values before they are needed.

        Optional: a key holder without precomputation encrypts on demand.
        """

    def __repr__(self) -> str:  # never show key material
        return f"{type(self).__name__}(public={hashlib.sha256(self.public_bytes).hexdigest()[:16]})"


class Session(ABC):
    """Ciphertext operations under one public key (what a party or relay needs)."""

    @abstractmethod
    def encrypt(self, x: np.ndarray) -> Ct: ...

    @abstractmethod
    def load(self, blob: bytes) -> Ct: ...

    @abstractmethod
    def dump(self, ct: Ct) -> bytes: ...

    def add(self, a: Ct, b: Ct) -> Ct:
        """Sum of two ciphertexts (every backend's ciphertexts add with ``+``)."""
        return a + b

    def add_plain(self, ct: Ct, x: np.ndarray) -> Ct:
        """Ciphertext plus a plain vector."""
        return ct + np.asarray(x, dtype=np.float64)

    @abstractmethod
    def mul_plain(self, ct: Ct, x: np.ndarray) -> Ct:
        """Elementwise product with a plain vector."""

    @abstractmethod
    def masked_xtd(
        self, ct: Ct, X: np.ndarray, rng: np.random.Generator
    ) -> tuple[bytes, np.ndarray]:
        """Encrypted ``X.T @ d`` plus a mask; returns (bytes for the key holder, mask totals).

        The key holder's decryption minus the returned mask totals is ``X.T @ d``.
        """

    def masked_xtd_shifted(
        self, ct: Ct, shift: np.ndarray, X: np.ndarray, rng: np.random.Generator
    ) -> tuple[bytes, np.ndarray]:
        """:meth:`masked_xtd` of ``d = ct - shift`` for a plain ``shift`` (a pairwise mask
        the party removes): decryption minus the mask totals is ``X.T @ (ct - shift)``."""
        return self.masked_xtd(self.add_plain(ct, -np.asarray(shift, dtype=np.float64)), X, rng)


class LrBackend(ABC):
    """Factory of key pairs (coordinator) and sessions (parties)."""

    name: str

    def __init__(self) -> None:
        self._sessions: OrderedDict[bytes, Session] = OrderedDict()

    @abstractmethod
    def keygen(self) -> KeyHolder: ...

    @abstractmethod
    def _make_session(self, public_bytes: bytes) -> Session: ...

    def session(self, public_bytes: bytes) -> Session:
        """A session for ``public_bytes`` (cached per process: contexts are costly to load)."""
        key = hashlib.sha256(public_bytes).digest()
        sess = self._sessions.get(key)
        if sess is None:
            sess = self._make_session(public_bytes)
            self._sessions[key] = sess
            while len(self._sessions) > 4:
                self._sessions.popitem(last=False)
        return sess


def mask_vector(rng: np.random.Generator, n: int, bound: float = GRADIENT_MASK_BOUND) -> np.ndarray:
    """A uniform mask in [-bound, bound)."""
    return rng.uniform(-bound, bound, size=n)


# ---------------------------------------------------------------------------------------
# plaintext
# ---------------------------------------------------------------------------------------


class _PlainKeyHolder(KeyHolder):
    public_bytes = b"plaintext"

    def encrypt(self, x: np.ndarray) -> bytes:
        return np.ascontiguousarray(x, dtype=np.float64).tobytes()

    def decrypt_gradient(self, blob: bytes) -> np.ndarray:
        return np.frombuffer(blob, dtype=np.float64).copy()


class _PlainSession(Session):
    def encrypt(self, x: np.ndarray) -> Ct:
        return np.asarray(x, dtype=np.float64).copy()

    def load(self, blob: bytes) -> Ct:
        return np.frombuffer(blob, dtype=np.float64).copy()

    def dump(self, ct: Ct) -> bytes:
        return np.ascontiguousarray(ct, dtype=np.float64).tobytes()

    def mul_plain(self, ct: Ct, x: np.ndarray) -> Ct:
        return ct * x

    def masked_xtd(
        self, ct: Ct, X: np.ndarray, rng: np.random.Generator
    ) -> tuple[bytes, np.ndarray]:
        mask = mask_vector(rng, X.shape[1])
        return self.dump(X.T @ ct + mask), mask


class PlaintextBackend(LrBackend):
    """No encryption: the same protocol with identity "ciphertexts" (benchmarks, tests)."""

    name = "plaintext"

    def keygen(self) -> KeyHolder:
        return _PlainKeyHolder()

    def _make_session(self, public_bytes: bytes) -> Session:
        return _PlainSession()


# ---------------------------------------------------------------------------------------
# Paillier
# ---------------------------------------------------------------------------------------


_MIN_PREFETCH = 1024  # fewer values: computed on demand (a worker round trip costs more)


class _PaillierKeyHolder(KeyHolder):
    def __init__(self, key_bits: int, workers: int | None = None) -> None:
        from crypto import paillier

        self._pk, self._sk = paillier.generate_keypair(key_bits)
        self.public_bytes = self._pk.to_bytes()
        self._pool: Any = None
        self._prefetch: Any = None  # pending obfuscators (crypto.parallel) for the next batch
        self._workers = workers
        # part of key set-up: the CRT fixed-base tables (~1 s at 2048 bits) are built in the
        # worker processes while the parties set up, not on the first mini-batch
        self._sk.warm_up(workers=workers)

    def precompute(self, count: int) -> None:
        """Randomness for ``count`` encryptions: as the key holder, by the CRT
        (:meth:`crypto.paillier.PaillierPrivateKey.obfuscators`), across the workers."""
        if count > 0:
            self._add_randomness(self._sk.obfuscators(count, workers=self._workers).tolist())

    def _left(self) -> int:
        return 0 if self._pool is None else len(self._pool)

    def _add_randomness(self, obfuscators: list[Any]) -> None:
        from crypto.parallel import ObfuscatorPool

        if self._pool is None:
            self._pool = ObfuscatorPool(self._pk, size=len(obfuscators), fill=False)
        self._pool.add(obfuscators)

    def encrypt(self, x: np.ndarray) -> bytes:
        """Encrypt ``x``; then, unless precomputed randomness is left for as many values
        again, start preparing it in the worker processes while the parties work on this
        batch (they would wait for the coordinator's ciphertexts otherwise)."""
        x = np.asarray(x, dtype=np.float64)
        if self._prefetch is not None:
            self._add_randomness(self._prefetch.result())
            self._prefetch = None
        self.precompute(x.shape[0] - self._left())
        enc = self._pk.encrypt(x, exponent=PAILLIER_PRECISION_BITS, pool=self._pool)
        missing = x.shape[0] - self._left()
        if missing >= _MIN_PREFETCH:
            self._prefetch = self._sk.start_obfuscators(missing, workers=self._workers)
        return bytes(enc.to_bytes())

    def decrypt_gradient(self, blob: bytes) -> np.ndarray:
        from crypto.paillier import EncryptedArray

        enc = EncryptedArray.from_bytes(self._pk, blob)
        return np.asarray(self._sk.decrypt(enc, workers=1), dtype=np.float64)


class _PaillierSession(Session):
    def __init__(self, public_bytes: bytes, workers: int | None = None) -> None:
        from crypto import paillier

        self._mod = paillier
        self.pk = paillier.PaillierPublicKey.from_bytes(public_bytes)
        self.workers = workers

    def encrypt(self, x: np.ndarray) -> Ct:
        return self.pk.encrypt(np.asarray(x, dtype=np.float64), exponent=PAILLIER_PRECISION_BITS)

    def load(self, blob: bytes) -> Ct:
        return self._mod.EncryptedArray.from_bytes(self.pk, blob)

    def dump(self, ct: Ct) -> bytes:
        return bytes(ct.to_bytes())

    def mul_plain(self, ct: Ct, x: np.ndarray) -> Ct:
        return ct.mul(np.asarray(x, dtype=np.float64), exponent=PAILLIER_FEATURE_BITS)

    def masked_xtd(
        self, ct: Ct, X: np.ndarray, rng: np.random.Generator
    ) -> tuple[bytes, np.ndarray]:
        enc = ct.dot_plain(
            np.asarray(X, dtype=np.float64), x_exponent=PAILLIER_FEATURE_BITS, workers=self.workers
        )
        mask = mask_vector(rng, X.shape[1])
        # fresh randomness: the key holder could otherwise relate the result's randomness
        # to that of the [[d]] ciphertexts it relayed (k obfuscators: cheap)
        return self.dump((enc + mask).rerandomize()), mask

    def masked_xtd_shifted(
        self, ct: Ct, shift: np.ndarray, X: np.ndarray, rng: np.random.Generator
    ) -> tuple[bytes, np.ndarray]:
        """``X_q.T @ [[d + shift]]`` directly (one ciphertext operation per row less), then
        ``X_q.T @ shift`` moved into the mask totals, in exact integers (``X_q``: the
        features at :data:`PAILLIER_FEATURE_BITS`, as the multi-exponentiation uses them).
        The key holder decrypts ``X.T @ d + X_q.T @ shift + m``: still masked by ``m``."""
        from crypto.fixedpoint import to_signed_ints

        X = np.asarray(X, dtype=np.float64)
        blob, mask = self.masked_xtd(ct, X, rng)
        e = ct.exponent
        xq = np.array(to_signed_ints(X.reshape(-1), PAILLIER_FEATURE_BITS), dtype=object).reshape(
            X.shape
        )
        sq = np.array(to_signed_ints(np.asarray(shift, dtype=np.float64), e), dtype=object)
        exact = sq @ xq  # Python integers: no rounding before the final division
        scale = 2 ** (e + PAILLIER_FEATURE_BITS)
        return blob, mask + np.array([float(v) / scale for v in exact.tolist()])


class PaillierBackend(LrBackend):
    """Exact additive HE with fixed-point encoding (``crypto.paillier``)."""

    name = "paillier"

    def __init__(
        self,
        key_bits: int = 2048,
        workers: int | None = None,
        coordinator_workers: int | None = None,
    ) -> None:
        super().__init__()
        if key_bits < 1024:
            raise ConfigError(
                f"Paillier key_bits {key_bits} is too small; use 2048 (or 1024 in tests)"
            )
        self.key_bits = key_bits
        self.workers = workers  # crypto worker processes (None: FEDLAB_CRYPTO_WORKERS or 1)
        # the key holder's: every party waits while it encrypts, so it may use every core
        self.coordinator_workers = coordinator_workers

    def keygen(self) -> KeyHolder:
        return _PaillierKeyHolder(self.key_bits, self.coordinator_workers or self.workers)

    def _make_session(self, public_bytes: bytes) -> Session:
        return _PaillierSession(public_bytes, self.workers)


# ---------------------------------------------------------------------------------------
# CKKS
# ---------------------------------------------------------------------------------------


class _CkksKeyHolder(KeyHolder):
    def __init__(self, profile: str) -> None:
        from crypto.ckks import CkksContext

        self._ctx = CkksContext.from_profile(profile)
        self.public_bytes = self._ctx.to_bytes()

    def encrypt(self, x: np.ndarray) -> bytes:
        from crypto.ckks import CkksArray

        return bytes(CkksArray.encrypt(self._ctx, np.asarray(x, dtype=np.float64)).to_bytes())

    def decrypt_gradient(self, blob: bytes) -> np.ndarray:
        from crypto.ckks import PartialDot

        return PartialDot.from_bytes(self._ctx, blob).decrypt_sums(self._ctx)


class _CkksSession(Session):
    def __init__(self, public_bytes: bytes) -> None:
        from crypto import ckks

        self._mod = ckks
        self.ctx = ckks.CkksContext.from_bytes(public_bytes)

    def encrypt(self, x: np.ndarray) -> Ct:
        return self._mod.CkksArray.encrypt(self.ctx, np.asarray(x, dtype=np.float64))

    def load(self, blob: bytes) -> Ct:
        return self._mod.CkksArray.from_bytes(self.ctx, blob)

    def dump(self, ct: Ct) -> bytes:
        return bytes(ct.to_bytes())

    def mul_plain(self, ct: Ct, x: np.ndarray) -> Ct:
        return ct * np.asarray(x, dtype=np.float64)

    def masked_xtd(
        self, ct: Ct, X: np.ndarray, rng: np.random.Generator
    ) -> tuple[bytes, np.ndarray]:
        masked, totals = ct.partial_dot(np.asarray(X, dtype=np.float64)).add_mask(
            rng, scale=CKKS_SLOT_MASK_BOUND
        )
        return bytes(masked.to_bytes()), np.asarray(totals, dtype=np.float64)


class CkksBackend(LrBackend):
    """Packed approximate HE (``crypto.ckks``)."""

    name = "ckks"

    def __init__(self, profile: str = "fast") -> None:
        super().__init__()
        self.profile = profile

    def keygen(self) -> KeyHolder:
        return _CkksKeyHolder(self.profile)

    def _make_session(self, public_bytes: bytes) -> Session:
        return _CkksSession(public_bytes)


_BACKENDS: dict[str, type[LrBackend]] = {
    "plaintext": PlaintextBackend,
    "paillier": PaillierBackend,
    "ckks": CkksBackend,
}


def get_backend(name: str, **options: Any) -> LrBackend:
    """A new backend called ``name`` (plaintext | paillier | ckks) with ``options``.

    A party keeps its session in its context's cache (``PartyContext.cache``), the
    coordinator its key holder for the run, so no backend is shared across runs."""
    if name not in _BACKENDS:
        raise ConfigError(
            f"unknown hetero LR backend {name!r}; expected one of {sorted(_BACKENDS)}"
        )
    return _BACKENDS[name](**options)


__all__ = [
    "CKKS_SLOT_MASK_BOUND",
    "GRADIENT_MASK_BOUND",
    "CkksBackend",
    "KeyHolder",
    "LrBackend",
    "PaillierBackend",
    "PlaintextBackend",
    "Session",
    "get_backend",
    "mask_vector",
]
