"""Paillier key files, fingerprints and a redacting ``Secret`` wrapper.

Files (JSON, integers as hex):
- ``paillier_public.json``: ``n``, the DJN base ``hs``, the key size and the fingerprint.
  This is the only key material that leaves the key holder (sent to the other parties).
- ``paillier_private.json``: the public part plus the primes ``p`` and ``q``. Written
  atomically (temporary file + ``os.replace``) with mode 0600; it never leaves the key
  holder's machine, and its content never appears in a log line or an error message.

A fingerprint (16 hex digits of SHA-256 over ``n``) names a key in logs, messages and the
catalog instead of the key itself.
"""

from __future__ import annotations

import json
import os
import stat
import warnings
from pathlib import Path
from typing import Any, Generic, TypeVar

from crypto.atomic import atomic_write_text
from crypto.errors import CryptoError, KeyFileError
from crypto.paillier import (
    DEFAULT_KEY_BITS,
    PaillierPrivateKey,
    PaillierPublicKey,
    generate_keypair,
)

PUBLIC_KEY_FILE = "paillier_public.json"
PRIVATE_KEY_FILE = "paillier_private.json"
_PUBLIC_KIND = "fedlab-paillier-public-key"
_PRIVATE_KIND = "fedlab-paillier-private-key"
_VERSION = 1

T = TypeVar("T")

__all__ = [
    "PRIVATE_KEY_FILE",
    "PUBLIC_KEY_FILE",
    "KeyFileError",
    "KeyFilePermissionWarning",
    "Secret",
    "fingerprint_file",
    "generate_key_files",
    "load_private_key",
    "load_public_key",
    "public_key_json",
    "save_private_key",
    "save_public_key",
]


class KeyFilePermissionWarning(UserWarning):
    """A private key file is readable by other users."""


class Secret(Generic[T]):
    """Holds a secret value; ``repr``/``str`` print ``Secret(<redacted>)``.

    Call :meth:`reveal` at the one place that needs the value.
    """

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def reveal(self) -> T:
        return self._value

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled; reveal it explicitly where needed")


def _hex(v: int) -> str:
    return format(int(v), "x")


def public_key_json(pk: PaillierPublicKey) -> dict[str, Any]:
    """The public key file's content: safe to send, log or store in the catalog."""
    return {
        "kind": _PUBLIC_KIND,
        "version": _VERSION,
        "bits": pk.bits,
        "fingerprint": pk.fingerprint(),
        "randomness_bits": pk.randomness_bits,
        "n": _hex(pk.n),
        "hs": _hex(pk.hs),
    }


def _write_atomic(path: Path, text: str, mode: int) -> None:
    atomic_write_text(path, text, mode=mode)


def save_public_key(pk: PaillierPublicKey, path: str | os.PathLike[str]) -> Path:
    """Write the public key file (mode 0644)."""
    p = Path(path)
    _write_atomic(p, json.dumps(public_key_json(pk), indent=2) + "\n", 0o644)
    return p


def save_private_key(sk: PaillierPrivateKey, path: str | os.PathLike[str]) -> Path:
    """Write the private key file atomically with mode 0600."""
    p = Path(path)
    prime_p, prime_q = sk.export_primes()
    doc = public_key_json(sk.public_key) | {
        "kind": _PRIVATE_KIND,
        "p": _hex(prime_p),
        "q": _hex(prime_q),
    }
    _write_atomic(p, json.dumps(doc, indent=2) + "\n", 0o600)
    return p


def generate_key_files(
    directory: str | os.PathLike[str], *, bits: int = DEFAULT_KEY_BITS, overwrite: bool = False
) -> tuple[PaillierPublicKey, Path, Path]:
    """Generate a key pair and write both files into ``directory``."""
    d = Path(directory)
    pub, priv = d / PUBLIC_KEY_FILE, d / PRIVATE_KEY_FILE
    if not overwrite:
        for f in (pub, priv):
            if f.exists():
                raise KeyFileError(
                    f"{f} already exists; refusing to overwrite a key",
                    hint="Choose another directory, or pass --force to replace the key pair.",
                )
    pk, sk = generate_keypair(bits)
    save_private_key(sk, priv)
    save_public_key(pk, pub)
    return pk, pub, priv


def _read(path: Path, what: str) -> dict[str, Any]:
    if not path.exists():
        raise KeyFileError(f"{what} file {path} not found")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read {what} file {path}: {exc.__class__.__name__}") from None
    except json.JSONDecodeError:
        raise KeyFileError(f"{what} file {path} is not valid JSON (corrupted?)") from None
    if not isinstance(doc, dict):
        raise KeyFileError(f"{what} file {path} is not a key file of this lab")
    return doc


def _int(doc: dict[str, Any], field: str, path: Path) -> int:
    try:
        return int(str(doc[field]), 16)
    except (KeyError, ValueError):
        raise KeyFileError(f"key file {path} lacks a valid {field!r} field (corrupted?)") from None


def _public_from(doc: dict[str, Any], path: Path) -> PaillierPublicKey:
    try:
        pk = PaillierPublicKey(
            _int(doc, "n", path), _int(doc, "hs", path), int(doc.get("randomness_bits", 512))
        )
    except CryptoError:
        raise KeyFileError(f"key file {path} holds an invalid public key (corrupted?)") from None
    if doc.get("fingerprint") != pk.fingerprint():
        raise KeyFileError(
            f"key file {path}: recorded fingerprint {doc.get('fingerprint')!r} does not match "
            f"its key {pk.fingerprint()} (corrupted or edited)"
        )
    return pk


def load_public_key(path: str | os.PathLike[str]) -> PaillierPublicKey:
    """Load a public key file (a private key file works too: its public part is used)."""
    p = Path(path)
    doc = _read(p, "public key")
    if doc.get("kind") not in (_PUBLIC_KIND, _PRIVATE_KIND):
        raise KeyFileError(f"{p} is not a Paillier key file of this lab")
    return _public_from(doc, p)


def load_private_key(path: str | os.PathLike[str]) -> PaillierPrivateKey:
    """Load a private key file; warns if other users can read it."""
    p = Path(path)
    doc = _read(p, "private key")
    if doc.get("kind") != _PRIVATE_KIND:
        raise KeyFileError(f"{p} is not a Paillier private key file (is it the public one?)")
    mode = stat.S_IMODE(p.stat().st_mode)
    if mode & 0o077:
        warnings.warn(
            f"private key file {p} has mode {mode:o} and is readable by other users; "
            f"run `chmod 600 {p}`",
            KeyFilePermissionWarning,
            stacklevel=2,
        )
    pk = _public_from(doc, p)
    try:
        return PaillierPrivateKey(pk, _int(doc, "p", p), _int(doc, "q", p))
    except CryptoError:
        raise KeyFileError(
            f"private key file {p} does not hold the factors of its public key (corrupted)"
        ) from None


def fingerprint_file(path: str | os.PathLike[str]) -> str:
    """The fingerprint of the key in a public or private key file."""
    return load_public_key(path).fingerprint()
