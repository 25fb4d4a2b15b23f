"""Reading and verifying the audit trail (platform staff and admins only).

:func:`verify` checks the hash chain (with the platform's audit key, every event's MAC),
that every experiment and model state rests on its records (lab.audit_state) and, given the
receipts the parties kept, that the chain still holds what they were told
(lab.audit_receipts).

Revealed to whom: events, ids and states to staff and admins; the key to no one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from lab.audit import ChainReport, audit_key, unkeyed_events, verify_chain
from lab.audit_receipts import check_receipts, load_receipts
from lab.audit_state import check_state
from lab.models import AuditEvent, AuditEventPublic
from lab.services.access import Action, Principal, Resource, require


def list_events(
    *,
    session: Session,
    actor: Principal,
    limit: int = 100,
    object_type: str | None = None,
    object_id: str | int | None = None,
) -> list[AuditEventPublic]:
    """The newest ``limit`` events (oldest first), optionally for one object."""
    require(actor, Resource.AUDIT, Action.READ, what="the audit trail")
    stmt = select(AuditEvent)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == str(object_id))
    rows = session.exec(stmt.order_by(AuditEvent.seq.desc()).limit(limit)).all()  # type: ignore[attr-defined]
    return [AuditEventPublic.model_validate(r) for r in reversed(rows)]


@dataclass(frozen=True)
class AuditReport:
    """The chain's report, the states no record backs and what the receipts say."""

    chain: ChainReport
    state: list[str] = field(default_factory=list)
    receipts: list[str] = field(default_factory=list)
    n_receipts: int | None = None  # receipts checked (None: none given)

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.state and not self.receipts

    @property
    def events(self) -> int:
        return self.chain.events

    @property
    def head_hash(self) -> str:
        return self.chain.head_hash

    @property
    def seq(self) -> int | None:
        return self.chain.seq

    @property
    def problem(self) -> str:
        """The first problem found (the chain's, else the state's, else a receipt's)."""
        return self.chain.problem or next(iter(self.state + self.receipts), "")

    def lines(self) -> list[str]:
        out = [str(self.chain)]
        out += [f"state BROKEN: {p}" for p in self.state]
        if self.n_receipts is not None:
            out.append(
                f"receipts: {self.n_receipts} checked, {len(self.receipts)} disagree"
                if self.receipts
                else f"receipts OK: {self.n_receipts} party receipts agree with the chain"
            )
        out += [f"receipt BROKEN: {p}" for p in self.receipts]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def verify(
    *, session: Session, actor: Principal, receipts: str | Path | None = None
) -> AuditReport:
    """The chain (MACs with the audit key), the catalog state and the parties' receipts
    (``receipts``: a folder holding the ``*.receipt.json`` files they kept)."""
    require(actor, Resource.AUDIT, Action.VERIFY, what="the audit trail")
    found = load_receipts(receipts) if receipts is not None else None
    return AuditReport(
        chain=verify_chain(session, audit_key(), unkeyed_events()),
        state=check_state(session),
        receipts=check_receipts(session, found) if found is not None else [],
        n_receipts=len(found) if found is not None else None,
    )


__all__ = ["AuditReport", "list_events", "verify"]
