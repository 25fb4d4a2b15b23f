"""The worker's claim of a queued job (an experiment, a sample count): exactly one worker wins.

:func:`claim_oldest` moves the oldest row in the ready status to the claimed status with a
conditional ``UPDATE ... WHERE id=:id AND status=:ready AND row_version=:v``: of several
workers on one SQLite file or one PostgreSQL database, exactly one gets rowcount 1; the
others see 0 rows and try the next candidate. The caller holds the write lock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from lab.services.access import Principal


def claim_oldest(
    session: Session, table: Any, *, ready: Any, claimed: Any, actor: Principal, **values: Any
) -> int | None:
    """The id of the row claimed for ``actor`` (status, row_version, claimed_by and
    ``values`` set), or None when no row is ready."""
    candidates = session.exec(
        select(table.id, table.row_version)
        .where(table.status == ready)
        .order_by(table.id)
        .limit(20)
    ).all()
    for row_id, version in candidates:
        res = session.execute(
            update(table)
            .where(table.id == row_id, table.status == ready, table.row_version == version)
            .values(status=claimed, row_version=version + 1, claimed_by=actor.label, **values)
        )
        if res.rowcount == 1:  # type: ignore[attr-defined]
            return int(row_id)
    return None


__all__ = ["claim_oldest"]
