"""Receipts of the audit chain head: what the platform signs and a party keeps.

A :class:`Receipt` says "when run R started, the platform's audit chain held ``seq`` events
ending in ``head_hash``", for one party, signed by the platform with Ed25519 (the key the
lab's settings name; its public key is given to every party). A party stores the receipt of
every run it takes part in on its own disk; whoever later rewrites the catalog's audit
trail, even the database's owner, cannot change the receipts, so ``fedlab lab audit verify
--receipts DIR`` detects the rewrite (the tamper evidence of a shared ledger, without one).

Revealed to whom: a party learns the chain's length and head hash at the start of its run,
the run's name and time; no event's content. The signature proves the platform issued it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crypto.errors import ConfigError
from crypto.signed import PlatformSigned

RECEIPT_VERSION = 1


@dataclass(frozen=True)
class Receipt(PlatformSigned):
    """The audit chain head at the start of one run, for one party."""

    run: str  # the run's name (``experiment-12``)
    party: str
    seq: int  # events in the chain
    head_hash: str  # the hash of event ``seq``
    at: str  # when it was issued (ISO, UTC)
    version: int = RECEIPT_VERSION
    signature: str = ""  # hex Ed25519 over :meth:`body`; "" = unsigned

    @classmethod
    def from_json(cls, text: str, where: str = "receipt") -> Receipt:
        try:
            raw = json.loads(text)
            return cls(
                run=str(raw["run"]),
                party=str(raw["party"]),
                seq=int(raw["seq"]),
                head_hash=str(raw["head_hash"]),
                at=str(raw["at"]),
                version=int(raw.get("version", RECEIPT_VERSION)),
                signature=str(raw.get("signature", "")),
            )
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                f"{where}: not an audit receipt (JSON with run, party, seq, head_hash, at)"
            ) from None


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The platform's receipt-signing key (PEM, PKCS#8, unencrypted; keep it 0600)."""
    p = Path(path)
    try:
        key = serialization.load_pem_private_key(p.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        raise ConfigError(
            f"{p.name}: not a readable Ed25519 private key (PEM)",
            hint="Create one with `fedlab lab audit keygen --out DIR`.",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{p.name}: the audit signing key must be Ed25519")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The platform's public key parties check receipts with (PEM)."""
    p = Path(path)
    try:
        key = serialization.load_pem_public_key(p.read_bytes())
    except (OSError, ValueError, TypeError):
        raise ConfigError(f"{p.name}: not a readable Ed25519 public key (PEM)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{p.name}: the audit public key must be Ed25519")
    return key


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


__all__ = [
    "RECEIPT_VERSION",
    "Receipt",
    "load_private_key",
    "load_public_key",
    "private_pem",
    "public_pem",
]
