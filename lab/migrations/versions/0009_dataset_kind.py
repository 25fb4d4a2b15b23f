"""dataset kind: a registered dataset is a party's table (``table``) or a folder of its raw
records (``records``: ``records_<table>.csv``, from which the party computes registry
indicators as of the observation date, federation.partyrecords)

Every existing registration is a table. Both directions alter the table in place (SQLite >=
3.35), as 0005 does. Downgrade: the column goes; a records registration then reads as a
table again and a run on it fails at the party naming the folder.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_registration", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="table")
        )


def downgrade() -> None:
    with op.batch_alter_table("dataset_registration", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("kind")
