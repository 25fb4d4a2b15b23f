"""sample versions and definitions: version, previous_id, current; label horizon, date
column and out-of-time validation start on sample_set; counts "none" (not counted)

A sample set is edited into a new version (a new row that takes the name, ``version`` + 1,
``previous_id`` naming the old row); the old row stays, no longer ``current`` and renamed
``name (vN)`` (names stay unique per bank), so a model's lineage keeps naming the version
it trained on.
A sample whose counts were never counted at the bank nor typed in (declared 0) now says
so (``counts_source = "none"``).

Both directions alter the table in place (columns added or dropped; SQLite >= 3.35), never
recreate it. Downgrade: the new columns go (old versions keep their ``(vN)`` names).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ALTER TABLE ... ADD COLUMN in place: recreating sample_set, as batch mode would, fails
    # on a catalog whose experiments and counts refer to its rows (foreign keys are on)
    with op.batch_alter_table("sample_set", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("label_horizon_months", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "date_column",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default="observation_date",
            )
        )
        batch_op.add_column(sa.Column("validation_start", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        # the version it replaces (a sample_set id; no FOREIGN KEY: SQLite adds none in place)
        batch_op.add_column(sa.Column("previous_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("current", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.execute(
        "UPDATE sample_set SET counts_source = 'none' "
        "WHERE counts_source = 'declared' AND n_total = 0"
    )


def downgrade() -> None:
    op.execute("UPDATE sample_set SET counts_source = 'declared' WHERE counts_source = 'none'")
    with op.batch_alter_table("sample_set", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("current")
        batch_op.drop_column("previous_id")
        batch_op.drop_column("version")
        batch_op.drop_column("validation_start")
        batch_op.drop_column("date_column")
        batch_op.drop_column("label_horizon_months")
