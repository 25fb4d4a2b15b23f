"""indicator library: family, dimension, sub-dimension, English description, unit,
point-in-time rule, source tables and sensitivity on indicator

The catalog's 指标库 holds two families: ``registry`` (the point-in-time indicators of
``features.indicators``, computed from raw records) and ``aggregated`` (pre-aggregated
columns of a registered dataset; every indicator of an older catalog is one). Codes may
now hold capitals and '.' (a rule of the models, not of the schema).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT = sqlmodel.sql.sqltypes.AutoString
_COLUMNS = (
    ("description_en", _TEXT(), ""),
    ("family", _TEXT(length=16), "aggregated"),
    ("dimension", _TEXT(length=32), ""),
    ("sub_dimension", _TEXT(length=32), ""),
    ("unit", _TEXT(length=32), ""),
    ("pit_rule", _TEXT(), ""),
    ("source_tables", sa.JSON(), "[]"),
    ("sensitivity", _TEXT(length=4), ""),
)


def upgrade() -> None:
    with op.batch_alter_table("indicator", schema=None) as batch_op:
        for name, type_, default in _COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=False, server_default=default))


def downgrade() -> None:
    # in place (SQLite >= 3.35), as 0004 does: consent grants and experiments refer to rows
    with op.batch_alter_table("indicator", schema=None, recreate="never") as batch_op:
        for name, _type, _default in reversed(_COLUMNS):
            batch_op.drop_column(name)
