"""The ``fedlab`` command.

Each command group lives in its own module under ``lab/commands/`` and is imported
lazily enough that ``fedlab --help`` stays fast. A lab error, a database failure
(:mod:`lab.db_errors`) or a bad setting ends the command with one line,
``error [FEDLAB-nnn]: message (hint: ...)``, on stderr and exit code 2; ``fedlab --debug``
or ``FEDLAB_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys

import typer

from lab import __version__
from lab.commands import data as data_cmd
from lab.commands import demo as demo_cmd
from lab.commands import federation as federation_cmd
from lab.commands import keys as keys_cmd
from lab.commands import labcmd as lab_cmd
from lab.commands import platformcmd as platform_cmd
from lab.commands import server as server_cmd
from lab.commands import ui as ui_cmd
from lab.commands import workercmd as worker_cmd
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


DEBUG_ENV = "FEDLAB_DEBUG"
_debug = {"on": False}


@app.callback()
def _options(
    debug: bool = typer.Option(
        False, "--debug", envvar=DEBUG_ENV, help="Show the traceback of an error."
    ),
) -> None:
    """Federated Credit Lab (数据模型实验室)."""
    _debug["on"] = debug


def debugging() -> bool:
    """``--debug`` given, or ``FEDLAB_DEBUG`` set to 1/true/yes/on."""
    flag = os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    return _debug["on"] or flag


def as_lab_error(exc: BaseException) -> LabError | None:
    """The coded error to show for ``exc``: a lab error itself, a database failure's coded
    error, else None (a bug: its traceback is shown)."""
    if isinstance(exc, LabError):
        return exc
    from lab.db_errors import catalog_error

    return catalog_error(exc)


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
app.command(name="server")(server_cmd.server)
app.add_typer(
    data_cmd.app, name="data", help="Synthetic and public data: generate, validate, describe."
)
app.add_typer(keys_cmd.app, name="keys", help="Key pairs: generate, fingerprint.")
federation_cmd.register(app)
worker_cmd.register(lab_cmd.app)
platform_cmd.register(lab_cmd.app, lab_cmd.audit_app)
app.add_typer(lab_cmd.app, name="lab", help="The lab catalog: experiments, worker, audit.")
app.add_typer(
    lab_cmd.audit_app, name="audit", help="Verify and read the tamper-evident audit trail."
)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: turn lab errors, database and settings failures into one clear
    line and exit code 2 (the traceback with ``--debug`` or ``FEDLAB_DEBUG=1``)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        app(args=args, prog_name="fedlab")
    except Exception as exc:
        coded = as_lab_error(exc)
        if coded is None or debugging():
            raise
        line = " ".join(f"error [{coded.code}]: {coded}".split())
        typer.secho(line, fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None


__all__ = ["DEBUG_ENV", "app", "as_lab_error", "debugging", "main"]


if __name__ == "__main__":
    main()
