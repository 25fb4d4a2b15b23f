"""The audit trail: append-only, hash-chained, keyed events.

Each event stores the hash of the event before it (``prev_hash``) and its own hash over
its sequence number, time, actor, action, object and details. :func:`verify_chain`
recomputes the chain and reports the first event that was edited, deleted, inserted or
moved; the chain head (last sequence number and hash) is kept in ``audit_head`` so that
cutting events off the end is detected too. Details must never hold a secret or a raw
record: callers pass identifiers, counts and reasons only.

The chain alone can be rewritten from any point by whoever controls the database (every
hash recomputed). So, with the platform's audit key configured (``FEDLAB_AUDIT_KEY``, which
the database never holds), every event also carries ``mac`` = HMAC-SHA256(key, hash):
a rewrite without the key fails :func:`verify_chain` with the key. Events appended before a
key was configured carry no MAC; how many there were is recorded out of the database
(``FEDLAB_AUDIT_UNKEYED_EVENTS``), so stripping MACs is detected too. The
parties' signed receipts of the chain head (lab.audit_receipts) detect a rewrite even by
someone who holds the key. The database refuses UPDATE, DELETE and TRUNCATE of events and
any move of the head but one step forward to an appended event (migrations 0002, 0010).

Revealed to whom: events to platform staff (lab.services.audit); the key to no one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from lab.models import AuditEvent, AuditHead, utcnow

GENESIS_HASH = "0" * 64


def _canonical_time(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 over the event's canonical JSON (sorted keys, UTC microsecond time)."""
    body = json.dumps(
        {
            "seq": seq,
            "at": _canonical_time(at),
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "details": details,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def event_mac(key: bytes, digest: str) -> str:
    """HMAC-SHA256 of an event's hash under the audit key."""
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


def unkeyed_events() -> int:
    """How many events the trail held when the key was configured (the settings')."""
    from lab.settings import get_settings

    return get_settings().audit_unkeyed_events


def audit_key() -> bytes | None:
    """The platform's audit key from the settings (``FEDLAB_AUDIT_KEY``), or None."""
    from lab.settings import get_settings

    key = get_settings().audit_key
    return key.get_secret_value().encode("utf-8") if key and key.get_secret_value() else None


def write_lock(session: Session) -> AuditHead:
    """Take the catalog's write lock (the audit head row) for the rest of the transaction.

    Writers that touch several rows take it first, so they never wait on each other in a
    cycle; on SQLite every transaction already holds the write lock (BEGIN IMMEDIATE).
    """
    return session.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update()).one()


def append_event(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (the head row is locked until commit)."""
    head = write_lock(session)
    # JSON round trip: what we hash is exactly what the database will give back.
    clean = json.loads(json.dumps(details or {}, ensure_ascii=False, default=str))
    seq = head.last_seq + 1
    at = utcnow()
    digest = event_hash(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=clean,
        prev_hash=head.last_hash,
    )
    key = audit_key()
    ev = AuditEvent(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=clean,
        prev_hash=head.last_hash,
        hash=digest,
        mac=event_mac(key, digest) if key else None,
    )
    session.add(ev)
    session.flush()  # the event first: the head may only move to an appended event
    head.last_seq = seq
    head.last_hash = digest
    session.add(head)
    session.flush()
    return ev


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`: ``ok`` or the first problem found."""

    ok: bool
    events: int
    head_hash: str
    problem: str = ""
    seq: int | None = None
    keyed: int | None = None  # events whose MAC was checked (None: verified without a key)

    def __str__(self) -> str:
        if self.ok:
            keyed = (
                "; MACs not checked (no FEDLAB_AUDIT_KEY)"
                if self.keyed is None
                else f"; {self.keyed} keyed by MAC"
                + (
                    f", {self.events - self.keyed} before the key"
                    if self.keyed < self.events
                    else ""
                )
            )
            return f"audit chain OK: {self.events} events, head {self.head_hash[:16]}{keyed}"
        where = f" at event #{self.seq}" if self.seq is not None else ""
        return f"audit chain BROKEN{where}: {self.problem}"


def _mac_problem(ev: AuditEvent, key: bytes, unkeyed: int) -> str:
    """Why ``ev``'s MAC does not hold under ``key`` ("" when it does); the first
    ``unkeyed`` events may carry none (appended before the key was configured)."""
    if ev.mac is None:
        if ev.seq > unkeyed:
            return (
                f"no MAC, but the trail is keyed from event #{unkeyed + 1} "
                "(FEDLAB_AUDIT_UNKEYED_EVENTS): the chain was rewritten by someone without "
                "the audit key"
            )
        return ""
    if not hmac.compare_digest(ev.mac, event_mac(key, ev.hash)):
        return "MAC does not match the audit key: the event was rewritten without the key"
    return ""


def verify_chain(session: Session, key: bytes | None = None, unkeyed: int = 0) -> ChainReport:
    """Recompute every hash in sequence order; detect edits, deletions, insertions, reorders.
    With the audit ``key``, every event's MAC is checked too; only the first ``unkeyed``
    events may carry none."""
    events = session.exec(
        select(AuditEvent).order_by(col(AuditEvent.seq), col(AuditEvent.id))
    ).all()
    head = session.exec(select(AuditHead).where(AuditHead.id == 1)).one()
    prev = GENESIS_HASH
    last_id = 0
    keyed = 0
    for expected_seq, ev in enumerate(events, start=1):
        if ev.seq != expected_seq:
            kind = "deleted" if ev.seq > expected_seq else "duplicated"
            return ChainReport(
                False,
                len(events),
                prev,
                f"sequence jumps to {ev.seq} where "
                f"{expected_seq} was expected: an event was {kind}",
                expected_seq,
            )
        if ev.id is not None and ev.id <= last_id:
            return ChainReport(
                False,
                len(events),
                prev,
                "row order differs from sequence order: events were reordered",
                ev.seq,
            )
        last_id = ev.id or last_id
        if ev.prev_hash != prev:
            return ChainReport(
                False,
                len(events),
                prev,
                "prev_hash does not match the previous "
                "event: an event was inserted, deleted or moved",
                ev.seq,
            )
        recomputed = event_hash(
            seq=ev.seq,
            at=ev.at,
            actor=ev.actor,
            action=ev.action,
            object_type=ev.object_type,
            object_id=ev.object_id,
            details=ev.details,
            prev_hash=ev.prev_hash,
        )
        if recomputed != ev.hash:
            return ChainReport(
                False,
                len(events),
                prev,
                "stored hash does not match the event's content: it was edited",
                ev.seq,
            )
        if key is not None:
            why = _mac_problem(ev, key, unkeyed)
            if why:
                return ChainReport(False, len(events), prev, why, ev.seq)
            keyed += ev.mac is not None
        prev = ev.hash
    if head.last_seq != len(events) or head.last_hash != prev:
        return ChainReport(
            False,
            len(events),
            prev,
            f"chain head says {head.last_seq} events ending in "
            f"{head.last_hash[:16]}, found {len(events)} ending in {prev[:16]}: "
            "events were cut off the end or the head was altered",
            head.last_seq,
        )
    return ChainReport(True, len(events), prev, keyed=keyed if key is not None else None)


__all__ = [
    "GENESIS_HASH",
    "ChainReport",
    "append_event",
    "audit_key",
    "unkeyed_events",
    "event_hash",
    "event_mac",
    "verify_chain",
    "write_lock",
]
