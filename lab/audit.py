"""The audit trail: append-only, hash-chained events.

Each event stores the hash of the event before it (``prev_hash``) and its own hash over
its sequence number, time, actor, action, object and details. :func:`verify_chain`
recomputes the chain and reports the first event that was edited, deleted, inserted or
moved; the chain head (last sequence number and hash) is kept in ``audit_head`` so that
cutting events off the end is detected too. Details must never hold a secret or a raw
record: callers pass identifiers, counts and reasons only.
"""

from __future__ import annotations

import hashlib
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
    )
    head.last_seq = seq
    head.last_hash = digest
    session.add(ev)
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

    def __str__(self) -> str:
        if self.ok:
            return f"audit chain OK: {self.events} events, head {self.head_hash[:16]}"
        where = f" at event #{self.seq}" if self.seq is not None else ""
        return f"audit chain BROKEN{where}: {self.problem}"


def verify_chain(session: Session) -> ChainReport:
    """Recompute every hash in sequence order; detect edits, deletions, insertions, reorders."""
    events = session.exec(
        select(AuditEvent).order_by(col(AuditEvent.seq), col(AuditEvent.id))
    ).all()
    head = session.exec(select(AuditHead).where(AuditHead.id == 1)).one()
    prev = GENESIS_HASH
    last_id = 0
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
    return ChainReport(True, len(events), prev)


__all__ = [
    "GENESIS_HASH",
    "ChainReport",
    "append_event",
    "event_hash",
    "verify_chain",
    "write_lock",
]
