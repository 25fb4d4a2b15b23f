"""``fedlab ui``: start the Streamlit sandbox (sandbox_ui/app.py) headless on a port.

The catalog URL goes to the sandbox through the environment (``FEDLAB_DATABASE_URL``),
never on the command line of the child process (it may carry a password); the URL printed
here has its password masked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer


def streamlit_command(app: Path, *, port: int, host: str) -> list[str]:
    """The ``streamlit run`` command line for the sandbox (headless, no usage stats)."""
    return [sys.executable, "-m", "streamlit", "run", str(app),
            "--server.headless", "true", "--server.port", str(port),
            "--server.address", host, "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
            "--client.toolbarMode", "viewer"]


def ui(
    db: str | None = typer.Option(None, "--db", help="SQLite path or database URL (default: "
                                  "FEDLAB_DATABASE_URL or .fedlab/lab.db)."),
    port: int = typer.Option(8501, help="Port to serve the sandbox on."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (0.0.0.0 for a LAN)."),
    min_cell: int = typer.Option(10, "--min-cell", min=1,
                                 help="k: the fewest enterprises any shown number may cover."),
) -> None:
    """Start the sandbox (指标库, 样本库, 算法库, 实验, 模型库, approvals, consent, audit)."""
    import sandbox_ui
    from lab.db import make_engine, normalize_url, upgrade
    from lab.settings import get_settings

    url = normalize_url(db) if db else get_settings().database_url_value
    engine = make_engine(url)
    upgrade(engine)
    shown = engine.url.render_as_string(hide_password=True)
    engine.dispose()
    app = Path(sandbox_ui.__file__).resolve().parent / "app.py"
    env = {**os.environ, "FEDLAB_DATABASE_URL": url, "FEDLAB_UI_MIN_CELL": str(min_cell),
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    typer.echo(f"sandbox on http://{host}:{port}  (catalog {shown}, k={min_cell}); Ctrl+C stops")
    try:
        code = subprocess.call(streamlit_command(app, port=port, host=host), env=env)
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


__all__ = ["streamlit_command", "ui"]
