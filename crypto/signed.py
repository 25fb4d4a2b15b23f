"""Statements the platform signs with its Ed25519 key: the shared canonical form.

A dataclass that mixes in :class:`PlatformSigned` and has a ``signature`` field is signed
over the canonical JSON of every other field (sorted keys, no spaces, UTF-8). Used by the
audit receipts (crypto.receipts) and the run authorizations (crypto.run_authorization).
Nothing here holds a key: callers pass it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Any, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class PlatformSigned:
    """Mixin for a frozen dataclass with a ``signature: str`` field (hex Ed25519)."""

    signature: str

    def _fields(self) -> dict[str, Any]:
        out: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        return out

    def body(self) -> bytes:
        """The signed bytes: every field but the signature, canonical JSON."""
        d = self._fields()
        del d["signature"]
        return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def signed(self, key: Ed25519PrivateKey) -> Self:
        return replace(self, signature=key.sign(self.body()).hex())  # type: ignore[type-var]

    def valid_under(self, key: Ed25519PublicKey) -> bool:
        """Whether the signature is the key holder's over this statement's content."""
        try:
            key.verify(bytes.fromhex(self.signature), self.body())
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_json(self) -> str:
        return json.dumps(self._fields(), sort_keys=True, ensure_ascii=False)


__all__ = ["PlatformSigned"]
