"""Alembic migrations of the lab catalog (run through lab.db.upgrade)."""
