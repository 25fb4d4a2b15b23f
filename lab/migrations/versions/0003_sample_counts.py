"""sample counts at the bank: sample_count requests, counts source and profile on sample_set

A sample set's counts are either declared by the bank (typed in) or counted at the bank by
a ``sample_count`` request that the worker runs there; the sample set then records who
requested the count, when it was counted, and the profile (aggregates of at least k
enterprises per cell).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sample_set", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "counts_source", sa.String(length=16), nullable=False, server_default="declared"
            )
        )
        batch_op.add_column(
            sa.Column("counted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "count_requested_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
            )
        )
        batch_op.add_column(sa.Column("profile", sa.JSON(), nullable=False, server_default="{}"))

    op.create_table(
        "sample_count",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_by_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("failure_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["owner_org_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["requested_by"], ["user.id"]),
        sa.ForeignKeyConstraint(["sample_id"], ["sample_set.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sample_count", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sample_count_owner_org_id"), ["owner_org_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sample_count_sample_id"), ["sample_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sample_count_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sample_count", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sample_count_status"))
        batch_op.drop_index(batch_op.f("ix_sample_count_sample_id"))
        batch_op.drop_index(batch_op.f("ix_sample_count_owner_org_id"))
    op.drop_table("sample_count")
    with op.batch_alter_table("sample_set", schema=None) as batch_op:
        batch_op.drop_column("profile")
        batch_op.drop_column("count_requested_by")
        batch_op.drop_column("counted_at")
        batch_op.drop_column("counts_source")
