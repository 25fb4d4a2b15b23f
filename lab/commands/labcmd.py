"""``fedlab lab ...``: the catalog, the worker and the audit trail.

Every command acts as a catalog user (``--user`` or FEDLAB_USER; the password comes from
FEDLAB_PASSWORD, never from the command line) through lab.services, so it sees and may do
exactly what that user may in the SDK or the sandbox.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(no_args_is_help=True)
experiments_app = typer.Typer(no_args_is_help=True, help="List, show, submit, approve, reject.")
audit_app = typer.Typer(no_args_is_help=True, help="Verify and read the audit trail.")
app.add_typer(experiments_app, name="experiments")
app.add_typer(audit_app, name="audit")

DbOpt = typer.Option(None, "--db", help="SQLite path or database URL (default: "
                     "FEDLAB_DATABASE_URL or .fedlab/lab.db).")
UserOpt = typer.Option(None, "--user", help="Catalog user (default: FEDLAB_USER).")


def _engine(db: str | None) -> Any:
    from lab.db import make_engine, upgrade
    from lab.settings import get_settings

    engine = make_engine(db or get_settings().database_url_value)
    upgrade(engine)
    return engine


def _lab(db: str | None, user: str | None) -> Any:
    from lab.errors import ConfigError
    from lab.sdk import Lab
    from lab.settings import get_settings

    name = user or os.environ.get("FEDLAB_USER")
    if not name:
        raise ConfigError("no catalog user given", hint="Pass --user NAME or set FEDLAB_USER.")
    return Lab.connect(db or get_settings().database_url_value, user=name,
                       password=os.environ.get("FEDLAB_PASSWORD"))


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


@app.command()
def init(db: str | None = DbOpt) -> None:
    """Create or upgrade the catalog schema and the first admin (FEDLAB_FIRST_ADMIN[_PASSWORD])."""
    from lab.db import session_scope
    from lab.services.catalog import bootstrap_admin
    from lab.settings import get_settings

    settings = get_settings()
    engine = _engine(db)
    pw = settings.first_admin_password.get_secret_value()
    with session_scope(engine) as s:
        made = bootstrap_admin(session=s, username=settings.first_admin,
                               password=None if settings.environment == "local" else pw)
    typer.echo(f"catalog ready at {engine.url.render_as_string(hide_password=True)}"
               + (f"; admin user {settings.first_admin!r} created" if made else ""))


@app.command()
def seed(db: str | None = DbOpt,
         data: Path | None = typer.Option(None, help="Folder of `fedlab data synth` files."),
         banks: str = typer.Option("bank_a,bank_b,bank_c,bank_d", help="Comma-separated.")
         ) -> None:
    """Fill an empty catalog with the demo platform, banks, agencies, users and grants."""
    from lab.seed import seed_demo

    result = seed_demo(_engine(db), banks=tuple(b for b in banks.split(",") if b),
                       data_dir=data)
    typer.echo(f"seeded {len(result.banks)} banks, {len(result.agencies)} agencies, "
               f"{len(result.users)} users: {', '.join(sorted(result.users))}")


@app.command()
def worker(db: str | None = DbOpt,
           worker_id: str = typer.Option(f"{os.uname().nodename}-{os.getpid()}", "--id"),
           runtime: str = typer.Option("simulation", help="local | simulation | deployment"),
           runs: Path | None = typer.Option(None, help="Folder for run outputs."),
           once: bool = typer.Option(False, help="Run what is approved now, then exit."),
           poll: float = typer.Option(2.0, help="Seconds between polls when idle.")) -> None:
    """Claim approved experiments and run them through the federation, one at a time."""
    import logging

    from lab.runner import Worker
    from lab.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    w = Worker(_engine(db), worker_id, runs or get_settings().runs_path, runtime=runtime)
    n = w.run_forever(poll_seconds=poll, max_idle_polls=1 if once else None)
    typer.echo(f"worker {worker_id}: {n} experiment(s) processed")


@experiments_app.command("list")
def experiments_list(db: str | None = DbOpt, user: str | None = UserOpt,
                     status: str | None = typer.Option(None)) -> None:
    """Experiments this user may see."""
    for e in _lab(db, user).experiments.list(status=status):
        typer.echo(f"{e.id:>5}  {e.status.value:<10} org={e.owner_org_id:<3} {e.name}")


@experiments_app.command("show")
def experiments_show(experiment_id: int, db: str | None = DbOpt,
                     user: str | None = UserOpt) -> None:
    """One experiment, its transitions (who, when, why) and consent status."""
    exp = _lab(db, user).experiments.get(experiment_id)
    _echo_json({"experiment": exp.info.model_dump(mode="json"),
                "transitions": [t.model_dump(mode="json") for t in exp.transitions()],
                "consents": [str(n) for n in exp.consents()]})


@experiments_app.command("submit")
def experiments_submit(experiment_id: int, db: str | None = DbOpt, user: str | None = UserOpt,
                       reason: str = typer.Option("")) -> None:
    exp = _lab(db, user).experiments.get(experiment_id).submit(reason)
    typer.echo(f"experiment {exp.id}: {exp.info.status.value}")


@experiments_app.command("approve")
def experiments_approve(experiment_id: int, db: str | None = DbOpt, user: str | None = UserOpt,
                        reason: str = typer.Option("")) -> None:
    exp = _lab(db, user).experiments.get(experiment_id).approve(reason)
    typer.echo(f"experiment {exp.id}: {exp.info.status.value}")


@experiments_app.command("reject")
def experiments_reject(experiment_id: int, reason: str = typer.Option(..., help="Why."),
                       db: str | None = DbOpt, user: str | None = UserOpt) -> None:
    exp = _lab(db, user).experiments.get(experiment_id).reject(reason)
    typer.echo(f"experiment {exp.id}: {exp.info.status.value}")


@audit_app.command("verify")
def audit_verify(db: str | None = DbOpt, user: str | None = UserOpt) -> None:
    """Recompute the hash chain; exit 1 when any event was edited, deleted, inserted or moved."""
    report = _lab(db, user).audit.verify()
    typer.echo(str(report))
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("log")
def audit_log(db: str | None = DbOpt, user: str | None = UserOpt,
              limit: int = typer.Option(30)) -> None:
    for ev in _lab(db, user).audit.log(limit=limit):
        typer.echo(f"{ev.seq:>6} {ev.at:%Y-%m-%d %H:%M:%S} {ev.actor:<20} {ev.action:<22} "
                   f"{ev.object_type}:{ev.object_id} {json.dumps(ev.details, ensure_ascii=False)}")
