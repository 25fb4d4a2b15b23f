"""Suite-wide fixtures: fixed seeds, isolated Flower home, path to shared public data."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FEDLAB_SHARED_DATA", REPO.parent / "shared" / "data"))

# Services started by .ci/services (e.g. PostgreSQL) leave their URLs in .ci/.env.
_CI_ENV = REPO / ".ci" / ".env"
if _CI_ENV.is_file():
    for _line in _CI_ENV.read_text().splitlines():
        _key, _sep, _value = _line.strip().partition("=")
        if _sep and _key and not _key.startswith("#"):
            os.environ.setdefault(_key, _value)


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)


@pytest.fixture(autouse=True)
def _flwr_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLWR_HOME", str(tmp_path_factory.getbasetemp() / "flwr-home"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public credit data sets beside the checkout; skip where they are absent."""
    if not (SHARED_DATA / "default_credit_hetero_guest.csv").is_file():
        pytest.skip(f"shared public data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def listening_address() -> Iterator[str]:
    """``127.0.0.1:PORT`` where a socket accepts TCP connections (stands in for a SuperLink)."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        yield f"127.0.0.1:{srv.getsockname()[1]}"
