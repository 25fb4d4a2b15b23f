"""Schema migrations, settings and the CLI on a file catalog."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conftest import World
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel
from typer.testing import CliRunner

from lab.db import current_revision, downgrade, upgrade
from lab.settings import Settings


def test_migrations_match_the_models_and_round_trip(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    assert current_revision(engine) == "0012"
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set(SQLModel.metadata.tables)
    for name, table in SQLModel.metadata.tables.items():
        cols = {c["name"] for c in inspect(engine).get_columns(name)}
        assert cols == set(table.columns.keys()), name
    # Alembic's own diff: column types, nullability, indexes and unique constraints too
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, SQLModel.metadata) == []
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert current_revision(engine) == "0012"


def test_settings_hide_the_database_password(monkeypatch: object) -> None:
    s = Settings(database_url="postgresql+psycopg://u:hunter2secret@db:5432/lab")
    assert "hunter2secret" not in repr(s) and "hunter2secret" not in s.safe_database_url
    assert s.database_url_value.endswith("@db:5432/lab")
    assert Settings(home=Path("x")).database_url_value == "sqlite:///x/lab.db"


def test_cli_init_seed_and_audit(tmp_path: Path, monkeypatch: object) -> None:
    from lab.cli import app

    db = str(tmp_path / "cli.db")
    runner = CliRunner()
    assert runner.invoke(app, ["lab", "init", "--db", db]).exit_code == 0
    out = runner.invoke(app, ["lab", "seed", "--db", db, "--banks", "bank_a"])
    assert out.exit_code == 0, out.output
    assert "bank_a_ds" in out.output
    ok = runner.invoke(app, ["lab", "audit", "verify", "--db", db, "--user", "staff"])
    assert ok.exit_code == 0 and "audit chain OK" in ok.output
    denied = runner.invoke(app, ["lab", "audit", "verify", "--db", db, "--user", "bank_a_ds"])
    assert denied.exit_code != 0
    # `fedlab audit verify` (the top-level alias) exits 1 and names the edited event
    conn = sqlite3.connect(db)
    with conn:  # an attacker with file access drops the guard and edits an event
        conn.execute("DROP TRIGGER audit_event_no_update")
        conn.execute("UPDATE audit_event SET actor = 'mallory' WHERE seq = 2")
    conn.close()
    broken = runner.invoke(app, ["audit", "verify", "--db", db, "--user", "staff"])
    assert broken.exit_code == 1, broken.output
    assert "audit chain BROKEN at event #2" in broken.output and "edited" in broken.output
    listed = runner.invoke(app, ["lab", "experiments", "list", "--db", db, "--user", "staff"])
    assert listed.exit_code == 0


def test_sample_versions_survive_a_downgrade_and_upgrade(world: World) -> None:
    """0005 alters sample_set in place, both ways, on a catalog whose rows are referred to."""
    from sqlalchemy import text

    from lab.db import session_scope
    from lab.models import SampleSetEdit
    from lab.services import catalog

    sample_id = world.seed.samples["bank_a"]
    with session_scope(world.engine) as s:
        v2 = catalog.edit_sample(
            session=s,
            actor=world.who("bank_a_ds"),
            sample_id=sample_id,
            changes=SampleSetEdit(label_definition="90+ dpd in 12 months"),
        )
    assert (v2.version, v2.previous_id, v2.counts_source.value) == (2, sample_id, "none")
    downgrade(world.engine, "0004")
    with world.engine.connect() as conn:
        names = dict(conn.execute(text("SELECT id, name FROM sample_set")).all())
    assert names[sample_id] == f"{v2.name} (v1)"  # the old version, renamed at the edit
    upgrade(world.engine)
    with session_scope(world.engine) as s:
        back = catalog.get_sample(session=s, actor=world.who("bank_a_ds"), sample_id=v2.id)
    assert back.name == v2.name and back.current and back.version == 1  # versions restart
