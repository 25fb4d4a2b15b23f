"""sample versions and definitions: version, previous_id, current; label horizon, date
column and out-of-time validation start on sample_set; counts "none" (not counted)

A sample set is edited into a new version (a new row with the same name, ``version`` + 1,
``previous_id`` naming the old row); the old row stays, no longer ``current``, so a model's
lineage keeps naming the version it trained on. The name is unique per bank and version.
A sample whose counts were never counted at the bank nor typed in (declared 0) now says
so (``counts_source = "none"``).

Downgrade: every version but the current one is renamed ``name (vN)`` so the old
uniqueness of names holds again; the new columns go.

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

NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}
OLD_UNIQUE = ("owner_org_id", "name")
NEW_UNIQUE = ("owner_org_id", "name", "version")


def _unique_name(columns: tuple[str, ...]) -> str | None:
    """The name of sample_set's unique constraint over ``columns`` (None: unnamed)."""
    for uc in sa.inspect(op.get_bind()).get_unique_constraints("sample_set"):
        if tuple(uc["column_names"]) == columns:
            return uc["name"]
    return None


def _swap_unique(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    name = _unique_name(old) or "uq_sample_set_" + "_".join(old)
    with op.batch_alter_table("sample_set", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(name, type_="unique")
        batch_op.create_unique_constraint("uq_sample_set_" + "_".join(new), list(new))


def upgrade() -> None:
    with op.batch_alter_table("sample_set", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("label_horizon_months", sa.Integer(), nullable=True),
        )
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
        batch_op.add_column(sa.Column("previous_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("current", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.create_foreign_key(
            "fk_sample_set_previous_id_sample_set", "sample_set", ["previous_id"], ["id"]
        )
    _swap_unique(OLD_UNIQUE, NEW_UNIQUE)
    op.execute(
        "UPDATE sample_set SET counts_source = 'none' "
        "WHERE counts_source = 'declared' AND n_total = 0"
    )


def downgrade() -> None:
    op.execute("UPDATE sample_set SET counts_source = 'declared' WHERE counts_source = 'none'")
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, name, version FROM sample_set WHERE current = :f"), {"f": False}
    ).all()
    for row_id, name, version in rows:
        bind.execute(
            sa.text("UPDATE sample_set SET name = :n WHERE id = :i"),
            {"n": f"{name} (v{version})"[:120], "i": row_id},
        )
    _swap_unique(NEW_UNIQUE, OLD_UNIQUE)
    with op.batch_alter_table("sample_set", schema=None) as batch_op:
        batch_op.drop_constraint("fk_sample_set_previous_id_sample_set", type_="foreignkey")
        batch_op.drop_column("current")
        batch_op.drop_column("previous_id")
        batch_op.drop_column("version")
        batch_op.drop_column("validation_start")
        batch_op.drop_column("date_column")
        batch_op.drop_column("label_horizon_months")
