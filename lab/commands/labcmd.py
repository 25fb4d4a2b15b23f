"""``fedlab lab ...`` and ``fedlab audit ...``: the catalog, worker and audit trail."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
