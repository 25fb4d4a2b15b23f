"""The worker's claim of a queued job (an experiment, a sample count): exactly one worker wins,
and the winner holds a lease on it.

:func:`claim_oldest` moves the oldest row in a ready status that nobody holds a lease on to
the claimed status with a conditional ``UPDATE ... WHERE id=:id AND status=:ready AND
row_version=:v AND lease_owner IS NULL``: of several workers on one SQLite file or one
PostgreSQL database, exactly one gets rowcount 1; the others see 0 rows and try the next
candidate. The same UPDATE gives the winner a lease (:mod:`lab.services.leases`): its name,
a fresh token, an expiry ``terms.seconds`` from now, and counts the claim in ``attempts``.
The caller holds the write lock. What it reveals: nothing beyond the worker's name on the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from lab.models import utcnow
from lab.services.access import Principal
from lab.services.leases import Lease, LeaseTerms, new_token


@dataclass(frozen=True)
class Claimed:
    """A claimed row: its lease and the status it was claimed from."""

    lease: Lease
    previous: str


def claim_oldest(
    session: Session,
    table: Any,
    *,
    ready: Any | Sequence[Any],
    claimed: Any,
    actor: Principal,
    terms: LeaseTerms | None = None,
    **values: Any,
) -> Claimed | None:
    """The row claimed for ``actor`` (status, row_version, claimed_by, its lease and
    ``values`` set), or None when no row in a ``ready`` status is free."""
    terms = terms or LeaseTerms.from_settings()
    statuses = [ready] if not isinstance(ready, list | tuple) else list(ready)
    candidates = session.exec(
        select(table.id, table.row_version, table.status, table.attempts)
        .where(col(table.status).in_(statuses), col(table.lease_owner).is_(None))
        .order_by(table.id)
        .limit(20)
    ).all()
    for row_id, version, status, attempts in candidates:
        token = new_token()
        res = session.execute(
            update(table)
            .where(
                table.id == row_id,
                table.status == status,
                table.row_version == version,
                col(table.lease_owner).is_(None),
            )
            .values(
                status=claimed,
                row_version=version + 1,
                claimed_by=actor.label,
                lease_owner=actor.label,
                lease_token=token,
                lease_expires_at=utcnow() + timedelta(seconds=terms.seconds),
                attempts=attempts + 1,
                **values,
            )
        )
        if res.rowcount == 1:  # type: ignore[attr-defined]
            lease = Lease(table, int(row_id), token, actor.label, attempts + 1)
            return Claimed(lease, str(getattr(status, "value", status)))
    return None


__all__ = ["Claimed", "claim_oldest"]
