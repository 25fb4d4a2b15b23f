"""Catalog fixtures: every catalog test runs against SQLite and, when a server is
configured (FEDLAB_TEST_POSTGRES_URL, or the URL .ci/services wrote to .ci/.env), PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from lab.db import make_engine, session_scope, upgrade
from lab.seed import SeedResult, seed_demo
from lab.services.access import Principal
from lab.services.catalog import authenticate

REPO = Path(__file__).resolve().parents[2]


def postgres_url() -> str | None:
    url = os.environ.get("FEDLAB_TEST_POSTGRES_URL")
    env_file = REPO / ".ci" / ".env"
    if not url and env_file.is_file():
        for line in env_file.read_text(encoding="utf-8").splitlines():
            if line.startswith("FEDLAB_TEST_POSTGRES_URL="):
                url = line.split("=", 1)[1].strip()
    return url or None


def _fresh_postgres(url: str) -> Engine:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    except Exception as exc:  # noqa: BLE001 - a clear skip beats a wall of errors
        engine.dispose()
        pytest.skip(
            f"PostgreSQL at FEDLAB_TEST_POSTGRES_URL is not reachable: {type(exc).__name__}"
        )
    return engine


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def make_catalog(backend: str, tmp_path: Path) -> Engine:
    if backend == "sqlite":
        engine = make_engine(tmp_path / "lab.db", create=True)
    else:
        url = postgres_url()
        if not url:
            pytest.skip(
                "PostgreSQL case skipped: FEDLAB_TEST_POSTGRES_URL is not set "
                "(.ci/services starts a server and writes it to .ci/.env)"
            )
        engine = _fresh_postgres(url)
    upgrade(engine)
    return engine


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated catalog on each backend."""
    eng = make_catalog(request.param, tmp_path)
    yield eng
    eng.dispose()


@dataclass
class World:
    engine: Engine
    seed: SeedResult

    def who(self, username: str) -> Principal:
        with session_scope(self.engine) as s:
            return authenticate(
                session=s, username=username, password=None, password_required=False
            )


@pytest.fixture
def world(engine: Engine) -> World:
    """The demo catalog: 4 banks, 3 agencies, staff, admin, algorithms, samples."""
    return World(
        engine,
        seed_demo(engine, agencies=("tax", "social_insurance", "courts"), bank_indicators=False),
    )
