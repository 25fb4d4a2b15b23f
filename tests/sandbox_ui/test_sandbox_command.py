"""``fedlab ui``: streamlit headless on the chosen port, catalog URL only in the environment."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from lab.commands import ui as ui_cmd
from lab.db import current_revision, head_revision, make_engine, upgrade
from lab.errors import CatalogNotFoundError
from lab.services.connection import open_catalog


def test_ui_starts_streamlit_with_the_catalog_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def fake_run(cmd: list[str], env: dict[str, str]) -> int:
        calls.append((cmd, env))
        return 0

    monkeypatch.setattr(ui_cmd, "run_child", fake_run)
    app = typer.Typer()
    app.command()(ui_cmd.ui)
    db = tmp_path / "lab.db"
    old = make_engine(db, create=True)
    upgrade(old, "0001")  # a catalog of an earlier version: `fedlab ui` migrates it
    old.dispose()
    missing = CliRunner().invoke(app, ["--db", str(tmp_path / "typo.db")])
    assert isinstance(missing.exception, CatalogNotFoundError) and not calls
    assert not (tmp_path / "typo.db").exists()  # a mistyped --db is never created
    result = CliRunner().invoke(app, ["--db", str(db), "--port", "8611", "--min-cell", "25"])
    assert result.exit_code == 0, result.output
    ((cmd, env),) = calls
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("sandbox_ui/app.py")
    flags: dict[str, Any] = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert flags["--server.headless"] == "true" and flags["--server.port"] == "8611"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert env["FEDLAB_DATABASE_URL"] == f"sqlite:///{db}"
    assert env["FEDLAB_UI_MIN_CELL"] == "25"
    assert not any(str(db) in part for part in cmd)  # the URL is not on the command line
    assert current_revision(make_engine(db)) == head_revision(old)  # before streamlit started
    assert "http://127.0.0.1:8611" in result.output


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (read from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc (Linux)")
def test_sigterm_stops_the_streamlit_child(tmp_path: Path) -> None:
    port = _free_port()
    open_catalog(tmp_path / "lab.db", create=True).dispose()  # `fedlab lab init`'s catalog
    cmd = [
        sys.executable,
        "-c",
        "from lab.cli import main; main()",
        "ui",
        "--db",
        str(tmp_path / "lab.db"),
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "FEDLAB_ENVIRONMENT": "local"},
    )
    children: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the sandbox answers on its port
            assert proc.poll() is None, proc.stdout.read().decode()  # type: ignore[union-attr]
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("the sandbox did not start listening within 60 s")
        children = _children(proc.pid)
        assert children, "fedlab ui runs streamlit as its child"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [c for c in children if _alive(c)], "streamlit outlived fedlab ui"
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing serves the port any more
    finally:
        for c in children + _children(proc.pid):
            if _alive(c):
                os.kill(c, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


STUBBORN_CHILD = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "signal.signal(signal.SIGINT, signal.SIG_IGN); print('ready', flush=True); "
    "time.sleep(120)"
)


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_run_child_kills_a_child_that_ignores_the_signal(signum: int) -> None:
    parent = (
        "import sys; from lab.commands.ui import run_child; "
        f"sys.exit(run_child([sys.executable, '-c', {STUBBORN_CHILD!r}], {{}}, grace=1.0))"
    )
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE)
    children: list[int] = []
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        children = _children(proc.pid)
        assert len(children) == 1
        t0 = time.monotonic()
        proc.send_signal(signum)
        assert proc.wait(timeout=20) == 0  # asked to stop: a clean exit
        assert 1.0 <= time.monotonic() - t0 < 15  # after the grace period, not before
        assert not _alive(children[0])
    finally:
        for c in children:
            if _alive(c):
                os.kill(c, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_child_returns_the_child_exit_code() -> None:
    assert ui_cmd.run_child([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ)) == 3
    assert ui_cmd.run_child([sys.executable, "-c", "pass"], dict(os.environ)) == 0
