"""Receipts of the audit chain head, issued to the parties of every run, and the check of
the catalog's chain against the receipts the parties kept.

When a worker starts a run it issues each party a :class:`crypto.receipts.Receipt` of the
chain head as it stands (``seq`` events ending in ``head_hash``), signed with the
platform's Ed25519 key (``FEDLAB_AUDIT_SIGNING_KEY``; unsigned without one). The receipt
travels to the party in the run's setup message, and the party keeps it on its own disk
(federation.receipts). :func:`check_receipts` later compares every receipt it is given with
the catalog: the event ``seq`` must exist and carry ``head_hash``, and the signature must be
the platform's (``FEDLAB_AUDIT_PUBLIC_KEY``, else the signing key's). A rewrite of the trail
from before any receipt, a truncation and a reset head are thus detected by what the
parties hold, whoever controls the database.

Revealed to whom: each party of a run learns the chain's length and head hash at its start
and the run's name; no event's content.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from crypto.receipts import Receipt, load_private_key, load_public_key
from lab.errors import ConfigError
from lab.models import AuditEvent, AuditHead

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

RECEIPT_SUFFIX = ".receipt.json"


def signing_key() -> Ed25519PrivateKey | None:
    """The platform's Ed25519 signing key (``FEDLAB_AUDIT_SIGNING_KEY``), or None."""
    from lab.settings import get_settings

    path = get_settings().audit_signing_key
    return load_private_key(path) if path else None


def _public_key() -> Ed25519PublicKey | None:
    from lab.settings import get_settings

    settings = get_settings()
    if settings.audit_public_key:
        return load_public_key(settings.audit_public_key)
    private = signing_key()
    return private.public_key() if private is not None else None


def issue_receipts(session: Session, *, run: str, parties: Iterable[str]) -> dict[str, Receipt]:
    """One receipt of the chain head as it stands now, per party of ``run``."""
    head = session.exec(select(AuditHead).where(AuditHead.id == 1)).one()
    key = signing_key()
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = {}
    for party in parties:
        r = Receipt(run=run, party=party, seq=head.last_seq, head_hash=head.last_hash, at=at)
        out[party] = r.signed(key) if key is not None else r
    return out


def load_receipts(folder: str | Path) -> list[tuple[Path, Receipt]]:
    """Every ``*.receipt.json`` below ``folder`` (what the parties kept), parsed."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"receipts folder {str(root)!r} does not exist")
    found = []
    for path in sorted(root.rglob(f"*{RECEIPT_SUFFIX}")):
        found.append((path, Receipt.from_json(path.read_text("utf-8"), path.name)))
    return found


def check_receipts(session: Session, receipts: Iterable[tuple[Path, Receipt]]) -> list[str]:
    """What the receipts say against the catalog's chain: one line per problem ([] = all
    agree). A receipt's event must exist with its hash, and its signature must hold."""
    public = _public_key()
    problems = []
    for path, r in receipts:
        who = f"{path.name} (party {r.party!r}, run {r.run!r})"
        if public is not None and not r.valid_under(public):
            what = (
                "is unsigned" if not r.signature else "has a signature that is not the platform's"
            )
            problems.append(f"{who} {what}")
            continue
        if r.seq == 0:
            continue  # issued on an empty chain: nothing to compare
        ev = session.exec(select(AuditEvent).where(AuditEvent.seq == r.seq)).first()
        if ev is None:
            problems.append(
                f"{who}: the chain held {r.seq} events when the run started; event "
                f"#{r.seq} is gone (the trail was cut or emptied)"
            )
        elif ev.hash != r.head_hash:
            problems.append(
                f"{who}: event #{r.seq} had hash {r.head_hash[:16]} when the run started, the "
                f"catalog has {ev.hash[:16]} (the trail was rewritten)"
            )
    return problems


__all__ = [
    "RECEIPT_SUFFIX",
    "check_receipts",
    "issue_receipts",
    "load_receipts",
    "signing_key",
]
