"""Database engine, schema migrations and transactional sessions for the catalog.

SQLite (a file, default) or PostgreSQL (``postgresql+psycopg://...``). Every session is
one transaction: committed on success, rolled back on any error. On SQLite each
transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers (several workers on one
file) queue on the write lock instead of failing half-way; on PostgreSQL rows are claimed
with conditional ``UPDATE``s and the audit chain is appended under a row lock.
Nothing here leaves the machine; the URL's password is never logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from lab.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 60_000


def normalize_url(url_or_path: str | Path) -> str:
    """A database URL from a URL or a plain file path (``lab.db`` → ``sqlite:///lab.db``)."""
    text = str(url_or_path)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser()}"


def make_engine(url_or_path: str | Path, *, echo: bool = False) -> Engine:
    """An engine for the catalog; creates the SQLite file's folder when needed."""
    url = make_url(normalize_url(url_or_path))
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _sqlite_pragmas(engine)
        return engine
    if backend == "postgresql":
        return create_engine(url, echo=echo, pool_pre_ping=True)
    raise ConfigError(
        f"unsupported catalog database {backend!r} in {url.render_as_string(hide_password=True)!r}",
        hint="Use a SQLite path or a postgresql+psycopg:// URL (FEDLAB_DATABASE_URL).",
    )


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below take over
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(engine: Engine) -> Any:
    """Alembic's configuration, built in code (no alembic.ini): scripts ship in lab/."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


__all__ = [
    "current_revision",
    "downgrade",
    "make_engine",
    "normalize_url",
    "session_scope",
    "upgrade",
]
