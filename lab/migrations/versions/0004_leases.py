"""leases: every claimed job (experiment, sample count) holds a lease renewed by heartbeat

A worker's claim sets ``lease_owner`` (the worker), ``lease_token`` (one per claim: what
the worker must still hold to file its result), ``lease_expires_at`` (renewed by the
worker's heartbeat) and counts the claim in ``attempts``. A reaper moves a job whose lease
expired back to its queue or to failed (lab.services.leases).

Jobs that were queued or running when this revision is applied were claimed by workers
without a heartbeat: they get a lease that has already expired, so the first reaper
requeues them (attempt 1) instead of leaving them stranded.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = {"experiment": ("queued", "running"), "sample_count": ("running",)}


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "lease_owner", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True
                )
            )
            batch_op.add_column(
                sa.Column("lease_token", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
            )
            batch_op.add_column(
                sa.Column("lease_expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
            )
            batch_op.add_column(
                sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
            )
    now = datetime.now(UTC)
    for table, active in TABLES.items():
        rows = sa.table(
            table,
            sa.column("status", sa.String()),
            sa.column("claimed_by", sa.String()),
            sa.column("lease_owner", sa.String()),
            sa.column("lease_token", sa.String()),
            sa.column("lease_expires_at", sqlmodel.sql.sqltypes.UTCDateTime()),
            sa.column("attempts", sa.Integer()),
        )
        op.execute(
            rows.update()
            .where(rows.c.status.in_(active))
            .values(
                lease_owner=sa.func.coalesce(rows.c.claimed_by, "unknown worker"),
                lease_token="pre-lease",
                lease_expires_at=now,
                attempts=1,
            )
        )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN in place (SQLite >= 3.35): recreating the table, as batch
    # mode would, fails on a catalog whose transitions and models refer to its rows
    for table in TABLES:
        with op.batch_alter_table(table, schema=None, recreate="never") as batch_op:
            batch_op.drop_column("attempts")
            batch_op.drop_column("lease_expires_at")
            batch_op.drop_column("lease_token")
            batch_op.drop_column("lease_owner")
