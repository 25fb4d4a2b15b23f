"""``fedlab train``, ``fedlab score`` and ``fedlab federation up|down|status``."""

from __future__ import annotations

import typer

federation_app = typer.Typer(no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the federation commands to the main app."""
    app.add_typer(federation_app, name="federation",
                  help="Local deployment: start/stop a SuperLink and one SuperNode per party.")
