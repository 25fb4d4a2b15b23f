"""Database engine, schema migrations and transactional sessions for the catalog.

SQLite (a file, default) or PostgreSQL (``postgresql+psycopg://...``). A SQLite file that
does not exist is refused (:class:`~lab.errors.CatalogNotFoundError`) unless the caller
creates the catalog (``create=True``: ``fedlab lab init``, the demo, test fixtures), so a
mistyped ``--db`` never becomes an empty catalog; :func:`prepare` then checks that the
database holds a lab catalog and migrates it. Database failures become coded errors
(:mod:`lab.db_errors`). Every session is
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
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session

from lab.db_errors import database_errors
from lab.errors import CatalogNotFoundError, CatalogSchemaError, ConfigError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 60_000


def normalize_url(url_or_path: str | Path) -> str:
    """A database URL from a URL or a plain file path (``lab.db`` → ``sqlite:///lab.db``)."""
    text = str(url_or_path)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser()}"


def parse_url(url_or_path: str | Path) -> URL:
    """The catalog's URL; :class:`ConfigError` when it cannot be parsed."""
    try:
        return make_url(normalize_url(url_or_path))
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"the catalog database URL cannot be parsed ({exc})",
            hint="Use a SQLite path or a postgresql+psycopg://user:pw@host:5432/db URL "
            "(--db or FEDLAB_DATABASE_URL).",
        ) from None


def safe_url(engine: Engine) -> str:
    """The engine's URL with its password masked: the only form that may be shown."""
    return engine.url.render_as_string(hide_password=True)


def make_engine(url_or_path: str | Path, *, echo: bool = False, create: bool = False) -> Engine:
    """An engine for the catalog. A SQLite file must exist unless ``create`` (then its
    folder is made when needed): :class:`CatalogNotFoundError` names the missing file."""
    url = parse_url(url_or_path)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            path = Path(url.database)
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            elif not path.is_file():
                what = "is a folder" if path.is_dir() else "does not exist"
                raise CatalogNotFoundError(
                    f"no catalog at {str(path)!r}: the file {what} ({path.absolute()})"
                )
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _sqlite_pragmas(engine)
        return engine
    if backend == "postgresql":
        with database_errors(url.render_as_string(hide_password=True)):  # a missing driver
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


def head_revision(engine: Engine) -> str | None:
    """The newest schema revision this version of the lab ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def prepare(engine: Engine, *, migrate: bool = True, create: bool = False) -> None:
    """Check that ``engine``'s database holds a lab catalog and bring its schema to the
    current revision (``migrate``; else refuse one that is not at it). A database without
    the lab's schema gets it only with ``create``. Coded errors, never a driver's."""
    where = safe_url(engine)
    with database_errors(where):
        rev = current_revision(engine)
        if rev is None and not create:
            raise CatalogSchemaError(f"catalog {where}: the database holds no lab catalog")
        if migrate or create:
            upgrade(engine)
        elif rev != (head := head_revision(engine)):
            raise CatalogSchemaError(
                f"catalog {where}: schema revision {rev}, this version of the lab needs {head}"
            )


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
    "head_revision",
    "make_engine",
    "normalize_url",
    "parse_url",
    "prepare",
    "safe_url",
    "session_scope",
    "upgrade",
]
