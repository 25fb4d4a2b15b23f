"""The ``fedlab`` command.

Each command group lives in its own module under ``lab/commands/`` and is imported
lazily enough that ``fedlab --help`` stays fast.
"""

from __future__ import annotations

import os

import typer

from lab import __version__
from lab.commands import data as data_cmd
from lab.commands import demo as demo_cmd
from lab.commands import federation as federation_cmd
from lab.commands import keys as keys_cmd
from lab.commands import labcmd as lab_cmd
from lab.commands import ui as ui_cmd
from lab.errors import LabError

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")

app = typer.Typer(
    name="fedlab",
    help="Federated Credit Lab (数据模型实验室): joint credit models where raw records "
    "never leave their owner (可用不可见).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the lab's version and the versions of its key libraries."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as v

    typer.echo(f"fedlab {__version__}")
    for pkg in (
        "flwr",
        "tenseal",
        "phe",
        "gmpy2",
        "torch",
        "numpy",
        "pandas",
        "sqlmodel",
        "streamlit",
    ):
        try:
            typer.echo(f"  {pkg} {v(pkg)}")
        except PackageNotFoundError:
            typer.echo(f"  {pkg} (not installed)")


app.command(name="demo")(demo_cmd.demo)
app.command(name="ui")(ui_cmd.ui)
app.add_typer(
    data_cmd.app, name="data", help="Synthetic and public data: generate, validate, describe."
)
app.add_typer(keys_cmd.app, name="keys", help="Key pairs: generate, fingerprint.")
federation_cmd.register(app)
app.add_typer(lab_cmd.app, name="lab", help="The lab catalog: experiments, worker, audit.")
app.add_typer(
    lab_cmd.audit_app, name="audit", help="Verify and read the tamper-evident audit trail."
)


def main() -> None:
    """Console entry point: turn lab errors into one clear line and a non-zero exit."""
    try:
        app()
    except LabError as exc:
        typer.secho(f"error [{exc.code}]: {exc}", fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
