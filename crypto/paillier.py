"""Paillier encryption for the lab's protocols: keys, vectors of ciphertexts, fast randomness.

This is the public face; the code lives in ``crypto._paillier_public`` (public key and
ciphertext arrays), ``crypto._paillier_private`` (private key, key generation) and
``crypto._paillier_math`` (integer arithmetic).

Scheme (see docs/crypto/paillier.md): ``g = n + 1``, so ``g**m = 1 + n*m mod n**2``; the
randomness is the Damgard-Jurik-Nielsen short-exponent variant ``hs**a mod n**2`` with
``hs = (-x**2)**n`` published in the public key and ``a`` a fresh 512-bit secret exponent,
computed from a fixed-base table (one multiplication per 8 bits of ``a``) or taken from an
:class:`ObfuscatorPool` of precomputed values. Real numbers use fixed-point encoding at
one shared binary exponent per :class:`EncryptedArray` (``crypto.fixedpoint``).

What leaves a party: only public keys (``n``, ``hs``) and ciphertexts (``to_bytes``).
A ciphertext reveals its length, exponent and the key fingerprint; nothing about its
plaintext to anyone without the private key. Results of homomorphic arithmetic keep the
randomness of their inputs: call :meth:`EncryptedArray.rerandomize` before sending them to
the key holder when the computation itself must stay hidden. The private key (``p``,
``q``) never appears in a repr, a log line or an exception message.
"""

from __future__ import annotations

from crypto._paillier_private import PaillierPrivateKey, generate_keypair
from crypto._paillier_public import (
    DEFAULT_EXPONENT,
    DEFAULT_KEY_BITS,
    DEFAULT_RANDOMNESS_BITS,
    SUPPORTED_KEY_BITS,
    EncryptedArray,
    PaillierPublicKey,
)
from crypto._pool import ObfuscatorPool

__all__ = [
    "DEFAULT_EXPONENT",
    "DEFAULT_KEY_BITS",
    "DEFAULT_RANDOMNESS_BITS",
    "SUPPORTED_KEY_BITS",
    "EncryptedArray",
    "ObfuscatorPool",
    "PaillierPrivateKey",
    "PaillierPublicKey",
    "generate_keypair",
]
