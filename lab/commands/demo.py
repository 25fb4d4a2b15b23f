"""``fedlab demo``: the most complete end-to-end flow the lab has, on synthetic data."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Folder for data, models and reports."),
    enterprises: int = typer.Option(4000, min=200, help="Synthetic enterprises to generate."),
    seed: int = typer.Option(7, help="Random seed."),
    runtime: str = typer.Option("simulation", help="simulation (Flower, embedded) | local"),
    backend: str = typer.Option("paillier", help="paillier | ckks"),
    lab_flow: bool = typer.Option(
        True,
        "--lab/--no-lab",
        help="Also run the catalog workflow (approve, worker, model library, audit).",
    ),
) -> None:
    """Generate multi-party data and train a joint credit model end to end."""
    from lab.demo import run_demo

    run_demo(
        out,
        enterprises=enterprises,
        seed=seed,
        runtime=runtime,
        backend=backend,
        echo=typer.echo,
        lab_flow=lab_flow,
    )
