"""sample default rule (逾期定义): default_rule on sample_set, what counts as default in the
label column (federation.default_rule)

Every existing sample version keeps today's behaviour: its label column already holds 0/1
(``{"kind": "label_is_binary"}``). Both directions alter the table in place (SQLite >=
3.35), as 0005 does: experiments and counts refer to sample_set rows. Downgrade: the column
goes; a sample version with another rule then reads its label column as 0/1 again.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sample_set", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column(
                "default_rule",
                sa.JSON(),
                nullable=False,
                server_default='{"kind": "label_is_binary"}',
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("sample_set", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("default_rule")
