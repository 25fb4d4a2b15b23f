"""The catalog's clock: aware UTC times (SQLModel's UTCDateTime stores them and reads them
back in UTC on both backends). Reveals nothing."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Aware UTC; SQLModel's UTCDateTime stores it and reads it back in UTC on both backends."""
    return datetime.now(UTC)


__all__ = ["utcnow"]
