"""Reading and verifying the audit trail (platform staff and admins only)."""

from __future__ import annotations

from sqlmodel import Session, select

from lab.audit import ChainReport, verify_chain
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


def verify(*, session: Session, actor: Principal) -> ChainReport:
    require(actor, Resource.AUDIT, Action.VERIFY, what="the audit trail")
    return verify_chain(session)


__all__ = ["list_events", "verify"]
