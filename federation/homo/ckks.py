"""Secure aggregation for horizontal FedAvg: CKKS sums, sealed key distribution, pairwise masks.

Three ways a bank protects its sample-weighted update before it goes to the coordinator:

* ``plaintext``: the vector as is (benchmarks and tests only);
* ``ckks``: the banks share one CKKS secret context. One bank (the key dealer) creates it and
  *seals* the secret context to every other bank's X25519 public key (:func:`seal`:
  ephemeral X25519 + HKDF-SHA256 + AES-256-GCM, HPKE-like). Sealed blobs travel through
  the coordinator, which cannot open them; the coordinator gets the *public* context only.
  Each bank sends ``CkksArray.to_bytes()``; :class:`CiphertextAggregator` (coordinator)
  adds ciphertexts and returns the encrypted sum, which only the banks decrypt.
* ``masked``: pairwise masks (SecAgg-style, single masking). Every pair of banks derives a
  seed by X25519 through the coordinator; bank ``i`` adds ``+PRG(s_ij)`` for ``j > i`` and
  ``-PRG(s_ij)`` for ``j < i`` to its fixed-point update modulo 2^64 (:func:`mask_update`).
  The masks cancel in the sum; the coordinator learns the sum only. When a bank drops out,
  each survivor reveals its round masks with the dropped banks (:func:`dropout_correction`)
  so the coordinator can remove them.

What the coordinator sees: ``plaintext``: every update; ``ckks``: ciphertexts, their count
and sizes; ``masked``: uniformly random uint64 vectors and the (unmasked) sum. (Flower's
SecAgg+, backend ``secaggplus``, is wired in ``federation.homo.secaggplus``.) See
docs/protocols/homo_ckks.md for key authenticity and what a malicious coordinator could do.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from crypto.errors import CryptoError, PrivacyViolationError
from crypto.pairwise import new_keypair

_SEAL_MAGIC = b"FCLSEAL1"
#: fixed-point scale of the masked backend's ring encoding (values up to ~5e11 fit in int64)
SECAGG_FRAC_BITS = 24


# ---------------------------------------------------------------------------------------
# X25519 keys and sealed boxes
# ---------------------------------------------------------------------------------------


def x25519_keypair() -> tuple[bytes, bytes]:
    """A fresh (private, public) X25519 key pair as raw 32-byte strings."""
    return new_keypair()


def _exchange(priv: bytes, peer_pub: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PrivateKey,
        X25519PublicKey,
    )

    if len(peer_pub) != 32:
        raise CryptoError(f"an X25519 public key has 32 bytes, got {len(peer_pub)}")
    return X25519PrivateKey.from_private_bytes(priv).exchange(
        X25519PublicKey.from_public_bytes(peer_pub)
    )


def _hkdf(secret: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(hashes.SHA256(), 32, salt=salt, info=info).derive(secret)


def key_fingerprint(pub: bytes) -> str:
    """16 hex digits naming an X25519 public key (for logs and pinning)."""
    return hashlib.sha256(pub).hexdigest()[:16]


def seal(recipient_pub: bytes, plaintext: bytes, *, info: bytes) -> bytes:
    """Encrypt ``plaintext`` so that only the holder of ``recipient_pub``'s key can open it.

    Ephemeral X25519 -> HKDF-SHA256(salt = eph_pub || recipient_pub, info) -> AES-256-GCM
    with ``info`` as associated data. ``info`` binds the blob to a run and a recipient.
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    eph_priv, eph_pub = x25519_keypair()
    key = _hkdf(
        _exchange(eph_priv, recipient_pub), b"fedlab/seal/v1|" + info, salt=eph_pub + recipient_pub
    )
    nonce = os.urandom(12)
    return _SEAL_MAGIC + eph_pub + nonce + AESGCM(key).encrypt(nonce, plaintext, info)


def open_sealed(priv: bytes, pub: bytes, blob: bytes, *, info: bytes) -> bytes:
    """Open a :func:`seal` blob with the recipient's key pair; raises CryptoError if altered."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not blob.startswith(_SEAL_MAGIC) or len(blob) < len(_SEAL_MAGIC) + 32 + 12 + 16:
        raise CryptoError("sealed key blob is malformed (bad magic or too short)")
    off = len(_SEAL_MAGIC)
    eph_pub, nonce, ct = blob[off : off + 32], blob[off + 32 : off + 44], blob[off + 44 :]
    key = _hkdf(_exchange(priv, eph_pub), b"fedlab/seal/v1|" + info, salt=eph_pub + pub)
    try:
        return AESGCM(key).decrypt(nonce, ct, info)
    except InvalidTag:
        raise CryptoError(
            "sealed key blob does not open with this party's key (altered, "
            "or sealed to another key or run)",
            hint="Restart the run so the key dealer seals a fresh copy.",
        ) from None


# ---------------------------------------------------------------------------------------
# CKKS
# ---------------------------------------------------------------------------------------


def new_shared_context(profile: str = "aggregate") -> Any:
    """The key dealer's fresh secret CKKS context (``crypto.ckks.CkksContext``)."""
    from crypto.ckks import CkksContext

    return CkksContext.from_profile(profile)


def encrypt_update(ctx: Any, vec: np.ndarray) -> bytes:
    """A bank's update as CKKS ciphertext bytes (what leaves the bank)."""
    from crypto.ckks import CkksArray

    return CkksArray.encrypt(ctx, np.asarray(vec, dtype=np.float64)).to_bytes()


def decrypt_aggregate(secret_ctx: Any, blob: bytes) -> np.ndarray:
    """The banks' side: the summed vector from the coordinator's ciphertext bytes."""
    from crypto.ckks import CkksArray

    return CkksArray.from_bytes(secret_ctx, blob).decrypt(secret_ctx)


class CiphertextAggregator:
    """The coordinator's CKKS aggregation: it only ever holds ciphertexts and a public key.

    ``observe`` (tests) is called with every object this aggregator receives or builds.
    """

    def __init__(self, public_context: bytes, *, observe: Any = None) -> None:
        from crypto.ckks import CkksContext

        ctx = CkksContext.from_bytes(bytes(public_context))
        if ctx.is_private:
            raise PrivacyViolationError(
                "the coordinator was given a secret CKKS context; "
                "it must hold the public context only"
            )
        self.ctx = ctx
        self._observe = observe or (lambda obj: None)
        self._observe(ctx)

    def sum(self, blobs: Iterable[bytes]) -> bytes:
        """Add the banks' ciphertexts; return the encrypted sum's bytes."""
        from crypto.ckks import CkksArray, sum_encrypted

        arrays = []
        for b in blobs:
            if not isinstance(b, (bytes, bytearray)):
                raise PrivacyViolationError(
                    f"CKKS aggregation received a {type(b).__name__}, expected ciphertext bytes"
                )
            self._observe(b)
            arr = CkksArray.from_bytes(self.ctx, bytes(b))
            self._observe(arr)
            arrays.append(arr)
        total = sum_encrypted(arrays)
        self._observe(total)
        out = total.to_bytes()
        self._observe(out)
        return out


# ---------------------------------------------------------------------------------------
# masked: pairwise masks in Z_{2^64}
# ---------------------------------------------------------------------------------------


def pair_seed(priv: bytes, peer_pub: bytes, *, me: str, peer: str, run: str) -> bytes:
    """The seed bank ``me`` shares with ``peer`` (both derive it; the coordinator cannot)."""
    a, b = sorted((me, peer))
    return _hkdf(_exchange(priv, peer_pub), f"fedlab/homo/secagg/v1|{run}|{a}|{b}".encode())


def _prg(seed: bytes, round_no: int, n: int) -> np.ndarray:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    nonce = struct.pack("<QQ", 0, round_no)
    stream = Cipher(algorithms.ChaCha20(seed, nonce), mode=None).encryptor().update(bytes(8 * n))
    return np.frombuffer(stream, dtype=np.uint64).copy()


def to_ring(vec: np.ndarray) -> np.ndarray:
    """Fixed point with :data:`SECAGG_FRAC_BITS` fractional bits, as uint64 (two's complement)."""
    v = np.asarray(vec, dtype=np.float64)
    q = np.rint(v * 2.0**SECAGG_FRAC_BITS)
    if not np.all(np.isfinite(q)) or np.abs(q).max(initial=0) >= 2.0**62:
        raise CryptoError(
            "masked update has values too large (or NaN) for the 64-bit ring",
            hint="Check the model for divergence; updates must stay below 1e11.",
        )
    return q.astype(np.int64).view(np.uint64)


def from_ring(ring: np.ndarray) -> np.ndarray:
    return (
        np.asarray(ring, dtype=np.uint64).view(np.int64).astype(np.float64) * 2.0**-SECAGG_FRAC_BITS
    )


def _signed_mask(
    seeds: Mapping[str, bytes], me: str, peers: Iterable[str], round_no: int, n: int
) -> np.ndarray:
    out = np.zeros(n, dtype=np.uint64)
    for p in peers:
        if p == me:
            continue
        m = _prg(seeds[p], round_no, n)
        out = out + m if me < p else out - m  # uint64 arithmetic wraps modulo 2^64
    return out


def mask_update(
    vec: np.ndarray,
    seeds: Mapping[str, bytes],
    *,
    me: str,
    participants: Sequence[str],
    round_no: int,
) -> np.ndarray:
    """``ring(vec) + sum_{j>me} PRG(s_j) - sum_{j<me} PRG(s_j)`` modulo 2^64."""
    ring = to_ring(vec)
    masked: np.ndarray = ring + _signed_mask(seeds, me, participants, round_no, ring.size)
    return masked


def dropout_correction(
    seeds: Mapping[str, bytes], *, me: str, dropped: Sequence[str], round_no: int, n: int
) -> np.ndarray:
    """A survivor's masks with the dropped banks this round (the coordinator subtracts them)."""
    return _signed_mask(seeds, me, dropped, round_no, n)


def unmask_sum(masked: Iterable[np.ndarray], corrections: Iterable[np.ndarray] = ()) -> np.ndarray:
    """The coordinator's sum of masked vectors minus the survivors' corrections, as floats."""
    total: np.ndarray | None = None
    for m in masked:
        total = np.asarray(m, dtype=np.uint64).copy() if total is None else total + m
    if total is None:
        raise CryptoError("masked sum over zero updates")
    for c in corrections:
        total = total - np.asarray(c, dtype=np.uint64)
    return from_ring(total)


__all__ = [
    "SECAGG_FRAC_BITS",
    "CiphertextAggregator",
    "decrypt_aggregate",
    "dropout_correction",
    "encrypt_update",
    "from_ring",
    "key_fingerprint",
    "mask_update",
    "new_shared_context",
    "open_sealed",
    "pair_seed",
    "seal",
    "to_ring",
    "unmask_sum",
]
