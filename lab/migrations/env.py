"""Alembic environment: the engine comes from lab.db (``config.attributes['engine']``)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import lab.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run lab.db.upgrade(engine)")
run_migrations_online()
