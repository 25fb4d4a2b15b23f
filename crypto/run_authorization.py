"""Run authorizations (运行授权): the platform's signed permission for one party to serve
one run, which the party checks at its own node before it reads any of its data.

A :class:`RunAuthorization` names the run, the party and its role, the columns of the
party's data the run may use (``*``: every column, only for a bank's own job on its own
data, such as counting its sample), the guest's label column, the data owners' consent
grants the run rests on with their expiry, and its own validity window. The lab's worker
signs it with the platform's Ed25519 key (the key that signs audit receipts:
crypto.receipts) after re-checking approval and consents; the party verifies it with the
platform's public key (federation.run_auth).

Revealed to whom: the party learns the run's name, which of its columns are asked for and
the ids and expiry of the consents the run rests on (its own grants, for an agency).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crypto.errors import ConfigError
from crypto.signed import PlatformSigned

RUN_AUTHORIZATION_VERSION = 1
ALL_COLUMNS = "*"


def utc_text(at: datetime) -> str:
    """An ISO UTC time as the authorization stores it."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Grant:
    """One consent grant a run rests on: its id and when it expires (ISO UTC)."""

    id: int
    expires_at: str


@dataclass(frozen=True)
class RunAuthorization(PlatformSigned):
    """The platform's permission for ``party`` (as ``role``) to serve ``run``."""

    run: str
    party: str
    role: str
    columns: tuple[str, ...]
    issued_at: str
    expires_at: str
    label: str = ""
    purpose: str = ""
    grants: tuple[Grant, ...] = field(default_factory=tuple)
    nonce: str = ""  # random: two authorizations are never the same (one run each)
    version: int = RUN_AUTHORIZATION_VERSION
    signature: str = ""

    @classmethod
    def from_json(cls, text: str, where: str = "run authorization") -> RunAuthorization:
        try:
            raw = json.loads(text)
            return cls(
                run=str(raw["run"]),
                party=str(raw["party"]),
                role=str(raw["role"]),
                columns=tuple(str(c) for c in raw["columns"]),
                issued_at=str(raw["issued_at"]),
                expires_at=str(raw["expires_at"]),
                label=str(raw.get("label", "")),
                purpose=str(raw.get("purpose", "")),
                grants=tuple(
                    Grant(int(g["id"]), str(g["expires_at"])) for g in raw.get("grants", [])
                ),
                nonce=str(raw.get("nonce", "")),
                version=int(raw.get("version", RUN_AUTHORIZATION_VERSION)),
                signature=str(raw.get("signature", "")),
            )
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"{where}: not a run authorization") from None


__all__ = [
    "ALL_COLUMNS",
    "Grant",
    "RUN_AUTHORIZATION_VERSION",
    "RunAuthorization",
    "parse_utc",
    "utc_text",
]
