"""worker credentials: a lab worker signs in with a credential an admin issued

``worker_credential`` keeps one row per registered worker id: the argon2 hash of its token
(the token itself is shown once, when issued), who issued it and when, and when it was
revoked. Outside ``FEDLAB_ENVIRONMENT=local`` a worker without a valid credential claims
nothing (lab.services.workers).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_credential",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("issued_by", sa.Integer(), nullable=False),
        sa.Column("issued_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["issued_by"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("worker_credential", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_worker_credential_worker_id"), ["worker_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("worker_credential", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_credential_worker_id"))
    op.drop_table("worker_credential")
