"""Database and settings failures end a ``fedlab`` command with one coded line and exit
code 2, not a traceback (issue 15); ``--debug`` or ``FEDLAB_DEBUG=1`` shows the traceback."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import DatabaseError

from lab.cli import main
from lab.errors import CatalogUnavailableError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from lab.settings import get_settings

    for name in list(os.environ):
        if name.startswith("FEDLAB_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run ``fedlab ARGV`` in this process; its one stderr line (exit code 2 asserted)."""
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err.strip()


def _catalog(tmp_path: Path) -> Path:
    """A catalog made by ``fedlab lab init`` (its admin user is ``admin``)."""
    db = tmp_path / "lab.db"
    with pytest.raises(SystemExit) as done:
        main(["lab", "init", "--db", str(db)])
    assert done.value.code == 0
    return db


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def _corrupt(tmp_path: Path) -> Path:
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(bytes(range(256)) * 40)
    return bad


def test_an_unreachable_postgresql_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"postgresql+psycopg://lab:hunter2secret@127.0.0.1:{_closed_port()}/lab"
    line = _fails(capsys, "lab", "experiments", "list", "--db", url, "--user", "staff")
    assert line.startswith("error [FEDLAB-551]: catalog postgresql+psycopg://lab:***@127.0.0.1")
    assert "Connection refused" in line and "(hint: " in line
    assert "hunter2secret" not in line


def test_a_corrupt_sqlite_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _corrupt(tmp_path)
    before = bad.read_bytes()
    line = _fails(capsys, "lab", "worker", "--once", "--db", str(bad))
    assert line.startswith("error [FEDLAB-551]:") and "file is not a database" in line
    assert bad.read_bytes() == before  # nothing was written to it


def test_a_catalog_of_an_unknown_schema_revision_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _catalog(tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    line = _fails(capsys, "lab", "audit", "verify", "--db", str(db), "--user", "admin")
    assert line.startswith("error [FEDLAB-552]:") and "'9999'" in line
    assert "fedlab lab init" in line


def test_a_table_missing_mid_command_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _catalog(tmp_path)
    with sqlite3.connect(db) as conn:  # at the current revision, but a table is gone
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("DROP TABLE experiment")
    line = _fails(capsys, "lab", "experiments", "list", "--db", str(db), "--user", "admin")
    assert line.startswith("error [FEDLAB-552]:") and "no such table: experiment" in line


def test_a_url_that_cannot_be_parsed_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://lab:pw@db.example:notaport/lab"
    line = _fails(capsys, "lab", "init", "--db", url)
    assert line.startswith("error [FEDLAB-100]: the catalog database URL cannot be parsed")
    nodriver = "postgresql+nosuchdriver://lab:pw@db.example/lab"
    line = _fails(capsys, "lab", "init", "--db", nodriver)
    assert line.startswith("error [FEDLAB-100]:") and "cannot be used" in line


def test_bad_settings_name_each_variable_but_never_its_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDLAB_WORKER_POLL_SECONDS", "s3cr3t-looking")
    monkeypatch.setenv("FEDLAB_ENVIRONMENT", "prod")
    line = _fails(capsys, "lab", "init", "--db", str(tmp_path / "lab.db"))
    assert line.startswith("error [FEDLAB-151]: bad lab settings: ")
    assert "FEDLAB_WORKER_POLL_SECONDS: Input should be a valid number" in line
    assert "FEDLAB_ENVIRONMENT: Input should be 'local', 'staging' or 'production'" in line
    assert "s3cr3t-looking" not in line and "prod'" not in line.replace("'production'", "")
    assert not (tmp_path / "lab.db").exists()


def test_a_placeholder_password_outside_local_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FEDLAB_ENVIRONMENT", "staging")
    monkeypatch.setenv("FEDLAB_FIRST_ADMIN_PASSWORD", "changethis")
    line = _fails(capsys, "lab", "init", "--db", str(tmp_path / "lab.db"))
    assert line.startswith("error [FEDLAB-151]:") and "FEDLAB_FIRST_ADMIN_PASSWORD" in line
    assert "changethis" not in line


def test_debug_shows_the_original_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = str(_corrupt(tmp_path))
    with pytest.raises(CatalogUnavailableError) as err:
        main(["--debug", "lab", "worker", "--once", "--db", bad])
    assert isinstance(err.value.__cause__, DatabaseError)  # the driver's own, chained
    assert "file is not a database" in str(err.value.__cause__)
    monkeypatch.setenv("FEDLAB_DEBUG", "1")
    with pytest.raises(CatalogUnavailableError):
        main(["lab", "worker", "--once", "--db", bad])
    monkeypatch.delenv("FEDLAB_DEBUG")
    _fails(capsys, "lab", "worker", "--once", "--db", bad)  # and off again


def test_the_installed_entry_point_prints_one_line(tmp_path: Path) -> None:
    bad = str(_corrupt(tmp_path))
    cmd = [sys.executable, "-m", "lab.cli", "lab", "experiments", "list", "--db", bad]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDLAB_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    plain = subprocess.run(cmd + ["--user", "admin"], capture_output=True, text=True, env=env)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.startswith("error [FEDLAB-551]:") and plain.stderr.count("\n") == 1
    debug = subprocess.run(
        cmd + ["--user", "admin"],
        capture_output=True,
        text=True,
        env={**env, "FEDLAB_DEBUG": "1"},
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    assert "sqlite3.DatabaseError: file is not a database" in debug.stderr
