"""``fedlab ui``: streamlit headless on the chosen port, catalog URL only in the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from lab.commands import ui as ui_cmd


def test_ui_starts_streamlit_with_the_catalog_in_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def fake_call(cmd: list[str], env: dict[str, str]) -> int:
        calls.append((cmd, env))
        return 0

    monkeypatch.setattr(ui_cmd.subprocess, "call", fake_call)
    app = typer.Typer()
    app.command()(ui_cmd.ui)
    db = tmp_path / "lab.db"
    result = CliRunner().invoke(app, ["--db", str(db), "--port", "8611", "--min-cell", "25"])
    assert result.exit_code == 0, result.output
    (cmd, env), = calls
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("sandbox_ui/app.py")
    flags: dict[str, Any] = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert flags["--server.headless"] == "true" and flags["--server.port"] == "8611"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert env["FEDLAB_DATABASE_URL"] == f"sqlite:///{db}"
    assert env["FEDLAB_UI_MIN_CELL"] == "25"
    assert not any(str(db) in part for part in cmd)  # the URL is not on the command line
    assert db.is_file()  # the catalog was migrated before the sandbox started
    assert "http://127.0.0.1:8611" in result.output
