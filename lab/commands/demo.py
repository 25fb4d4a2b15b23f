"""``fedlab demo``: the most complete end-to-end flow the lab has, on synthetic data."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Folder for data, models and reports."),
    enterprises: int = typer.Option(3000, help="Synthetic enterprises to generate."),
    seed: int = typer.Option(7, help="Random seed."),
) -> None:
    """Generate multi-party data and train a joint credit model end to end."""
    typer.echo("demo: not yet wired")
