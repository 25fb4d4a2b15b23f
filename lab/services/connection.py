"""Opening the catalog for a reader: an engine on a catalog migrated to the current
schema, and the one-transaction session scope every service call runs in.

The SDK, the CLI and the sandbox open the catalog here, so the lab (not a reader) brings
its schema up to date. What it reveals, to whom: nothing; the URL may carry a password and
is never logged or shown (render it with ``hide_password=True``).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from lab.db import make_engine, session_scope, upgrade


def open_catalog(url_or_path: str | Path, *, migrate: bool = True) -> Engine:
    """An engine on the catalog at ``url_or_path`` (SQLite path or database URL), its
    schema migrated to the current revision unless ``migrate`` is False."""
    engine = make_engine(url_or_path)
    if migrate:
        upgrade(engine)
    return engine


__all__ = ["open_catalog", "session_scope"]
