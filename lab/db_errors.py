"""Database failures as coded errors: one line a person can act on, never a traceback.

:func:`catalog_error` maps a failure of SQLAlchemy, its driver or Alembic to the lab's
coded errors: a server that cannot be reached, a wrong password or a corrupt SQLite file
is :class:`~lab.errors.CatalogUnavailableError`; a database without the lab's tables, or
with a schema revision this version does not know, is
:class:`~lab.errors.CatalogSchemaError`; a URL that cannot be parsed or whose driver is
not installed is :class:`~lab.errors.ConfigError`. :func:`database_errors` raises the
coded error in place of the original (chained, so ``--debug`` can still show it).

What it reveals, to whom: the message goes to the person who ran the command. It holds the
catalog URL with its password masked and the first lines of the driver's own message
(host, port, database, table names); drivers do not put passwords in their messages, and
no catalog row is ever part of one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import ArgumentError, DBAPIError

from lab.errors import (
    CatalogError,
    CatalogSchemaError,
    CatalogUnavailableError,
    ConfigError,
    LabError,
)

#: how the drivers say "this table does not exist" (sqlite3; PostgreSQL's SQLSTATE 42P01)
MISSING_TABLE = ("no such table", "UndefinedTable")
MAX_REASON = 300


def reason(exc: BaseException) -> str:
    """The driver's message of ``exc`` on one line (SQLAlchemy's SQL and links left out)."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


def _alembic_error(exc: BaseException) -> bool:
    try:
        from alembic.util.exc import CommandError
    except ImportError:  # pragma: no cover - alembic is a dependency of the lab
        return False
    return isinstance(exc, CommandError)


def catalog_error(exc: BaseException, url: str | None = None) -> LabError | None:
    """The coded error for database failure ``exc`` on the catalog at ``url`` (a URL with
    its password masked), or None when ``exc`` is no database failure."""
    where = f"catalog {url}: " if url else "catalog: "
    why = reason(exc)
    if _alembic_error(exc):
        return CatalogSchemaError(f"{where}the schema cannot be migrated ({why})")
    if isinstance(exc, ArgumentError):  # also NoSuchModuleError: a driver not installed
        return ConfigError(
            f"{where}the database URL cannot be used ({why})",
            hint="Use a SQLite path or a postgresql+psycopg:// URL (--db or FEDLAB_DATABASE_URL).",
        )
    if not isinstance(exc, DBAPIError):
        return None
    orig = getattr(exc, "orig", None)
    if any(m in why or m == type(orig).__name__ for m in MISSING_TABLE):
        return CatalogSchemaError(
            f"{where}not a lab catalog, or one that was never migrated ({why})"
        )
    if type(exc).__name__ in ("OperationalError", "InterfaceError", "DatabaseError"):
        return CatalogUnavailableError(f"{where}the database cannot be used ({why})")
    return CatalogError(
        f"{where}the database refused an operation ({why})",
        hint="Run the command again; if it fails the same way, report it with `--debug`.",
    )


@contextmanager
def database_errors(url: str | None = None) -> Iterator[None]:
    """Raise the coded error of :func:`catalog_error` for a database failure in the block."""
    try:
        yield
    except Exception as exc:
        coded = catalog_error(exc, url)
        if coded is None:
            raise
        raise coded from exc


__all__ = ["MISSING_TABLE", "catalog_error", "database_errors", "reason"]
