"""``fedlab ui``: start the Streamlit sandbox (sandbox_ui/app.py) headless on a port.

The catalog URL goes to the sandbox through the environment (``FEDLAB_DATABASE_URL``),
never on the command line of the child process (it may carry a password); the URL printed
here has its password masked. The sandbox runs as a child process that ends with this one:
SIGTERM and SIGINT are passed on to it and waited for (:func:`run_child`).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import typer

from crypto.errors import ConfigError
from features.disclosure import DEFAULT_MIN_CELL, raise_min_cell


def streamlit_command(app: Path, *, port: int, host: str) -> list[str]:
    """The ``streamlit run`` command line for the sandbox (headless, no usage stats)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run_child(cmd: list[str], env: dict[str, str], *, grace: float = 10.0) -> int:
    """Run ``cmd`` until it exits; SIGTERM or SIGINT received here is passed on to it.

    After a stop signal the child gets ``grace`` seconds to exit, then it is killed; either
    way it is waited for, so no child outlives this process. Returns the child's exit code,
    0 for a child that stopped because it was asked to.
    """
    proc = subprocess.Popen(cmd, env=env)
    stop_at: list[float] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)
        if not stop_at:
            stop_at.append(time.monotonic())

    previous = {s: signal.signal(s, forward) for s in STOP_SIGNALS}
    try:
        while True:
            try:
                code = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stop_at and time.monotonic() - stop_at[0] > grace:
                    proc.kill()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if proc.poll() is None:  # an error here: do not leave the child behind
            proc.kill()
            proc.wait()
    stopped = bool(stop_at) and code in (0, *(-s for s in STOP_SIGNALS), -signal.SIGKILL)
    return 0 if stopped else code


def ui(
    db: str | None = typer.Option(
        None,
        "--db",
        help="SQLite path or database URL (default: FEDLAB_DATABASE_URL or .fedlab/lab.db).",
    ),
    port: int = typer.Option(8501, help="Port to serve the sandbox on."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (0.0.0.0 for a LAN)."),
    min_cell: int | None = typer.Option(
        None,
        "--min-cell",
        min=1,
        help=f"k: the fewest enterprises any shown number may cover; may only raise "
        f"FEDLAB_MIN_CELL (default {DEFAULT_MIN_CELL}).",
    ),
) -> None:
    """Start the sandbox (指标库, 样本库, 算法库, 实验, 模型库, approvals, consent, audit)."""
    from lab.db import normalize_url, safe_url
    from lab.services.connection import open_catalog
    from lab.settings import get_settings

    url = normalize_url(db) if db else get_settings().database_url_value
    try:
        k = raise_min_cell(get_settings().min_cell, min_cell, source="--min-cell")
    except ConfigError as exc:
        raise typer.BadParameter(exc.public_message(), param_hint="--min-cell") from None
    engine = open_catalog(url)  # an existing catalog, migrated (`fedlab lab init` makes one)
    shown = safe_url(engine)
    engine.dispose()
    # The sandbox runs as its own Streamlit process: the CLI only locates its app file and
    # never imports the layer above it.
    spec = importlib.util.find_spec("sandbox_ui")
    if spec is None or spec.origin is None:
        raise typer.BadParameter("the sandbox package (sandbox_ui) is not installed")
    app = Path(spec.origin).resolve().parent / "app.py"
    env = {
        **os.environ,
        "FEDLAB_DATABASE_URL": url,
        "FEDLAB_UI_MIN_CELL": str(k),
        "FEDLAB_MIN_CELL": str(k),  # the services' k in the sandbox's process: the same
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    typer.echo(f"sandbox on http://{host}:{port}  (catalog {shown}, k={k}); Ctrl+C stops")
    raise typer.Exit(run_child(streamlit_command(app, port=port, host=host), env))


__all__ = ["run_child", "streamlit_command", "ui"]
