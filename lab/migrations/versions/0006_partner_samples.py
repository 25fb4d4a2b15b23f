"""partner samples: a horizontal experiment names one sample set of each other bank

``experiment.partner_sample_ids`` lists the sample sets of the banks that train a
horizontal (``homo_*``) experiment with its owner, one per bank, each in that bank's own
样本库; a vertical experiment leaves it empty. Existing experiments get an empty list.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("experiment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("partner_sample_ids", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    # in place (SQLite >= 3.35), as 0004 does: the catalog's rows refer to experiments
    with op.batch_alter_table("experiment", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("partner_sample_ids")
