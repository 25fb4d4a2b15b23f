"""Opening the catalog for a reader: an engine on a catalog migrated to the current
schema, and the one-transaction session scope every service call runs in.

The SDK, the CLI and the sandbox open the catalog here, so the lab (not a reader) brings
its schema up to date. Only a caller that means to make a catalog (``fedlab lab init``)
passes ``create``: anywhere else a missing SQLite file or a database without the lab's
schema is a coded error (:class:`~lab.errors.CatalogNotFoundError`,
:class:`~lab.errors.CatalogSchemaError`), never a new empty catalog.

What it reveals, to whom: nothing; the URL may carry a password and is never logged or
shown (render it with ``hide_password=True``).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from lab.db import make_engine, prepare, session_scope


def open_catalog(url_or_path: str | Path, *, migrate: bool = True, create: bool = False) -> Engine:
    """An engine on the catalog at ``url_or_path`` (SQLite path or database URL), its
    schema migrated to the current revision unless ``migrate`` is False (then it must be
    at it). With ``create`` a missing SQLite file or an empty database becomes a new
    catalog."""
    engine = make_engine(url_or_path, create=create)
    try:
        prepare(engine, migrate=migrate, create=create)
    except BaseException:
        engine.dispose()
        raise
    return engine


__all__ = ["open_catalog", "session_scope"]
