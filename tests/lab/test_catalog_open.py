"""A mistyped ``--db`` never becomes a catalog (issue 15): every command that takes a
catalog refuses a missing SQLite file, only ``fedlab lab init`` (and the demo) create one,
and a database that holds no lab catalog, or one at another schema revision, is refused
with a coded error instead of being filled or used."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from lab.cli import app
from lab.commands import ui as ui_cmd
from lab.db import current_revision, head_revision, make_engine, upgrade
from lab.errors import CatalogNotFoundError, CatalogSchemaError
from lab.sdk import Lab
from lab.services.connection import open_catalog

#: extra arguments a command needs to get as far as opening the catalog (and to end
#: there on the code before the fix: the worker polls once, the sandbox is not started)
EXTRA = {"lab worker": ["--once", "--runtime", "local"]}


def _commands_with_db() -> Iterator[tuple[list[str], click.Command]]:
    def walk(cmd: click.Command, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])
        elif any(p.name == "db" for p in cmd.params):
            yield path, cmd

    yield from walk(typer.main.get_command(app), [])


def _args(path: list[str], cmd: click.Command, db: Path) -> list[str]:
    """The command line of ``cmd`` with placeholder values for its required parameters."""
    args = [*path]
    for p in cmd.params:
        if not p.required:
            continue
        if isinstance(p, click.Argument):
            args.append("1")
        else:
            args += [p.opts[0], "1"]
    if any(p.name == "user" for p in cmd.params):
        args += ["--user", "staff"]
    return [*args, *EXTRA.get(" ".join(path), []), "--db", str(db)]


COMMANDS = [(" ".join(p), c) for p, c in _commands_with_db() if p != ["lab", "init"]]


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    from lab.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_commands_checked_are_every_command_with_a_db_option() -> None:
    names = {name for name, _ in COMMANDS}
    assert {"lab worker", "lab seed", "ui", "lab experiments list", "audit verify"} <= names
    assert len(names) >= 20  # a new command taking --db is checked here without a change


@pytest.mark.parametrize(("name", "cmd"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_refuses_a_missing_catalog_file(
    name: str, cmd: click.Command, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(ui_cmd, "run_child", lambda *a, **k: started.append(a) or 0)
    typo = tmp_path / "lab-typo.db"
    path = name.split()
    result = CliRunner().invoke(app, _args(path, cmd, typo))
    assert isinstance(result.exception, CatalogNotFoundError), (result.output, result.exception)
    assert result.exit_code != 0 and not started
    assert "lab-typo.db" in str(result.exception) and "fedlab lab init" in str(result.exception)
    assert not typo.exists() and not list(tmp_path.iterdir())  # nothing was created


def test_a_missing_catalog_from_the_settings_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDLAB_DATABASE_URL", f"sqlite:///{tmp_path / 'nowhere' / 'lab.db'}")
    result = CliRunner().invoke(app, ["lab", "worker", "--once", "--runtime", "local"])
    assert isinstance(result.exception, CatalogNotFoundError)
    assert "processed" not in result.output  # the worker did not report a success
    assert not (tmp_path / "nowhere").exists()


def test_lab_init_creates_the_catalog_then_the_others_use_it(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "lab.db"
    made = CliRunner().invoke(app, ["lab", "init", "--db", str(db)])
    assert made.exit_code == 0, made.output
    assert db.is_file() and current_revision(make_engine(db)) == head_revision(make_engine(db))
    listed = CliRunner().invoke(
        app, ["lab", "experiments", "list", "--db", str(db), "--user", "admin"]
    )
    assert listed.exit_code == 0, listed.output
    again = CliRunner().invoke(app, ["lab", "init", "--db", str(db)])  # idempotent
    assert again.exit_code == 0 and "created" not in again.output


def test_the_sdk_refuses_a_missing_catalog(tmp_path: Path) -> None:
    with pytest.raises(CatalogNotFoundError, match="does not exist"):
        Lab.connect(tmp_path / "lab.db", user="admin")
    with pytest.raises(CatalogNotFoundError, match="is a folder"):
        Lab.connect(tmp_path, user="admin")
    assert not (tmp_path / "lab.db").exists()


def test_a_database_without_a_catalog_is_refused_not_filled(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()  # an existing file: not a lab catalog
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    for db in (empty, other):
        result = CliRunner().invoke(app, ["lab", "seed", "--db", str(db), "--banks", "bank_a"])
        assert isinstance(result.exception, CatalogSchemaError), result.output
        assert "holds no lab catalog" in str(result.exception)
        assert current_revision(make_engine(db)) is None  # left as it was
    made = CliRunner().invoke(app, ["lab", "init", "--db", str(empty)])
    assert made.exit_code == 0, made.output


def test_an_old_catalog_is_migrated_unless_migration_is_off(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    old = make_engine(db, create=True)
    upgrade(old, "0002")
    with pytest.raises(CatalogSchemaError, match="schema revision 0002, this version"):
        open_catalog(db, migrate=False)
    open_catalog(db).dispose()  # the lab brings its schema up to date
    assert current_revision(old) == head_revision(old)
    old.dispose()
