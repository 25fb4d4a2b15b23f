"""Pairwise secrets between two parties that only talk through the coordinator.

Two parties (e.g. a guest and a host) each create an X25519 key pair, exchange the public
halves through the coordinator, and derive the same 32-byte key (X25519 + HKDF-SHA256,
bound to a run-specific ``context``). The coordinator relays the public keys but cannot
compute the shared key (semi-honest coordinator: it relays faithfully).

From a pairwise key:

* :class:`MaskStream` draws masks (ChaCha20 keystream -> uniform floats in ``[-bound,
  bound)`` or raw ``uint64``) addressed by ``(purpose, a, b)``: both parties draw the same
  mask for the same address, nobody else can;
* :func:`seal` / :func:`open_sealed` encrypt a small secret (e.g. a seed one party chooses
  for all its peers) with ChaCha20-Poly1305 so that it can travel through the coordinator;
* :func:`secret_permutation` turns a secret seed into a uniformly random permutation per
  address (ChaCha20 keystream keys, argsort).

What leaves a party: only its X25519 public key (32 bytes) and sealed boxes (nonce,
ciphertext, 16-byte tag). Private keys, shared keys and seeds stay in the party's state.
"""

from __future__ import annotations

import hashlib
import os
import struct

import numpy as np

from crypto.errors import CryptoError

KEY_BYTES = 32
_NONCE = struct.Struct("<IIII")
_SEAL_NONCE_BYTES = 12


def new_keypair() -> tuple[bytes, bytes]:
    """A fresh X25519 key pair as raw bytes: ``(private, public)``. Keep ``private``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    sk = X25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    priv = sk.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    pub = sk.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
    return priv, pub


def shared_key(
    private: bytes,
    peer_public: bytes,
    *,
    context: bytes = b"",
    label: bytes = b"fedlab/pairwise/v1",
) -> bytes:
    """The 32-byte key two parties share: HKDF-SHA256(X25519(private, peer_public)).

    ``label`` names the protocol, ``context`` binds the key to one run (e.g. the run's
    public key): the same key pair used in two runs gives unrelated keys.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if len(peer_public) != KEY_BYTES:
        raise CryptoError(f"an X25519 public key has {KEY_BYTES} bytes, got {len(peer_public)}")
    secret = X25519PrivateKey.from_private_bytes(private).exchange(
        X25519PublicKey.from_public_bytes(peer_public)
    )
    info = label + b"|" + hashlib.sha256(context).digest()
    return HKDF(hashes.SHA256(), KEY_BYTES, salt=None, info=info).derive(secret)


def subkey(key: bytes, label: bytes) -> bytes:
    """An independent key for another use of the same pairwise key (HKDF-Expand)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

    return HKDFExpand(hashes.SHA256(), KEY_BYTES, info=b"fedlab/subkey|" + label).derive(key)


def keystream(key: bytes, purpose: int, a: int, b: int, nbytes: int) -> bytes:
    """``nbytes`` of ChaCha20 keystream for the address ``(purpose, a, b)``."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    if len(key) != KEY_BYTES:
        raise CryptoError(f"a pairwise key has {KEY_BYTES} bytes, got {len(key)}")
    nonce = _NONCE.pack(0, purpose & 0xFFFFFFFF, a & 0xFFFFFFFF, b & 0xFFFFFFFF)
    enc = Cipher(algorithms.ChaCha20(key, nonce), mode=None).encryptor()
    return enc.update(bytes(nbytes))


class MaskStream:
    """Masks both holders of a pairwise key draw identically.

    ``mask(purpose, a, b, n)`` is uniform in ``[-bound, bound)`` (53-bit resolution);
    ``uint64(purpose, a, b, n)`` gives raw 64-bit words (for masks modulo 2**64).
    Never reuse an address for two different values.
    """

    __slots__ = ("_key", "bound")

    def __init__(self, key: bytes, bound: float = float(2**20)) -> None:
        if len(key) != KEY_BYTES:
            raise CryptoError(f"a pairwise key has {KEY_BYTES} bytes, got {len(key)}")
        self._key = key
        self.bound = float(bound)

    def __repr__(self) -> str:
        return f"MaskStream(bound={self.bound:g})"

    def uint64(self, purpose: int, a: int, b: int, n: int) -> np.ndarray:
        return np.frombuffer(keystream(self._key, purpose, a, b, 8 * n), dtype=np.uint64)

    def mask(self, purpose: int, a: int, b: int, n: int) -> np.ndarray:
        u = (self.uint64(purpose, a, b, n) >> np.uint64(11)).astype(np.float64)
        return (u * 2.0**-53 * 2.0 - 1.0) * self.bound


def secret_permutation(seed: bytes, purpose: int, a: int, b: int, n: int) -> np.ndarray:
    """A uniformly random permutation of ``range(n)`` for the address ``(purpose, a, b)``.

    Everyone holding ``seed`` gets the same permutation; without it the permutation is
    unpredictable (argsort of 64-bit ChaCha20 words; ties have probability ~n^2/2^65).
    """
    keys = np.frombuffer(keystream(seed, purpose, a, b, 8 * n), dtype=np.uint64)
    return np.argsort(keys, kind="stable").astype(np.int64)


def seal(key: bytes, plaintext: bytes, *, aad: bytes = b"") -> bytes:
    """ChaCha20-Poly1305 box: ``nonce || ciphertext || tag`` (random 96-bit nonce)."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    nonce = os.urandom(_SEAL_NONCE_BYTES)
    return nonce + ChaCha20Poly1305(subkey(key, b"seal")).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, box: bytes, *, aad: bytes = b"", what: str = "sealed value") -> bytes:
    """Open a :func:`seal` box; a wrong key or altered bytes raise :class:`CryptoError`."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    box = bytes(box)
    if len(box) < _SEAL_NONCE_BYTES + 16:
        raise CryptoError(f"{what} is truncated ({len(box)} bytes)")
    try:
        return ChaCha20Poly1305(subkey(key, b"seal")).decrypt(
            box[:_SEAL_NONCE_BYTES], box[_SEAL_NONCE_BYTES:], aad
        )
    except InvalidTag:
        raise CryptoError(
            f"{what} does not open with the pairwise key (altered in transit, or "
            "sealed for another party or run)"
        ) from None


__all__ = [
    "KEY_BYTES",
    "MaskStream",
    "keystream",
    "new_keypair",
    "open_sealed",
    "seal",
    "secret_permutation",
    "shared_key",
    "subkey",
]
