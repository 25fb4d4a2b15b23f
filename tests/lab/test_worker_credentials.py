"""Workers as principals (issue: trust boundary, item 2), replayed as attacks.

In production a worker that names any id but holds no credential is refused before it
claims anything, as are a wrong token, a token of another worker and a revoked one, all
with the same message; the credential an admin issues (and only an admin) lets it work,
and only its argon2 hash is stored. Locally a worker without a token still runs (one
person's trial), but a wrong token is refused there too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from lab.cli import main
from lab.db import make_engine, session_scope, upgrade
from lab.errors import AccessDeniedError, SignInError
from lab.runner import Worker
from lab.seed import seed_demo
from lab.services import workers
from lab.services.catalog import authenticate
from lab.settings import get_settings

PASSWORD = "a-real-password-for-tests"


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    db = tmp_path / "lab.db"
    engine = make_engine(db, create=True)
    upgrade(engine)
    seed_demo(engine, banks=("bank_a",), agencies=("tax",), password=PASSWORD)
    yield engine, db
    engine.dispose()


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FEDLAB_ENVIRONMENT", "production")
    monkeypatch.setenv("FEDLAB_FIRST_ADMIN_PASSWORD", PASSWORD)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def admin(engine: Engine, name: str = "admin") -> object:
    with session_scope(engine) as s:
        return authenticate(session=s, username=name, password=PASSWORD, password_required=True)


def issue(engine: Engine, worker_id: str) -> str:
    with session_scope(engine) as s:
        _, token = workers.register_worker(
            session=s,
            actor=admin(engine),
            worker_id=worker_id,  # type: ignore[arg-type]
        )
    return token


def test_in_production_only_a_registered_worker_with_its_token_works(
    catalog: tuple[Engine, Path], production: None, tmp_path: Path
) -> None:
    engine, _ = catalog
    token = issue(engine, "w1")
    other = issue(engine, "w2")
    refused = []
    for worker_id, tok in [
        ("anything", None),  # no credential at all
        ("w1", None),
        ("w1", "guessed"),
        ("w1", other),  # another worker's token
        ("nobody", token),  # a real token under an unknown id
    ]:
        with pytest.raises(SignInError) as err:
            Worker(engine, worker_id, tmp_path / "runs", runtime="local", token=tok)
        refused.append(str(err.value).split(" (hint")[0])
    assert set(refused) == {workers.WORKER_SIGN_IN_REFUSED}  # one message: nothing to learn
    w = Worker(engine, "w1", tmp_path / "runs", runtime="local", token=token)
    assert w.principal.username.endswith(":w1") and not w.run_once()
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM worker_credential")).scalars().all()
    assert all(h.startswith("$argon2") and token not in h for h in stored)
    with session_scope(engine) as s:
        workers.revoke_worker(
            session=s,
            actor=admin(engine),
            worker_id="w1",
            reason="machine retired",  # type: ignore[arg-type]
        )
    with pytest.raises(SignInError):
        Worker(engine, "w1", tmp_path / "runs", runtime="local", token=token)


def test_only_an_admin_issues_credentials(catalog: tuple[Engine, Path]) -> None:
    engine, _ = catalog
    with pytest.raises(AccessDeniedError):
        with session_scope(engine) as s:
            workers.register_worker(
                session=s,
                actor=admin(engine, "staff"),
                worker_id="w9",  # type: ignore[arg-type]
            )


def test_locally_no_token_runs_but_a_wrong_one_is_refused(
    catalog: tuple[Engine, Path], tmp_path: Path
) -> None:
    engine, _ = catalog
    issue(engine, "w1")
    assert not Worker(engine, "trial", tmp_path / "runs", runtime="local").run_once()
    with pytest.raises(SignInError):
        Worker(engine, "w1", tmp_path / "runs", runtime="local", token="wrong")


def test_the_cli_worker_signs_in_with_its_token(
    catalog: tuple[Engine, Path],
    production: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, db = catalog
    runs = str(tmp_path / "runs")
    start = ["lab", "worker", "--db", str(db), "--id", "cli-w", "--once", "--runtime", "local"]
    start += ["--runs", runs]

    def fedlab(*argv: str) -> int:
        with pytest.raises(SystemExit) as done:
            main(list(argv))
        return int(done.value.code or 0)

    assert fedlab(*start) == 2
    assert "worker sign-in refused" in capsys.readouterr().err
    monkeypatch.setenv("FEDLAB_PASSWORD", PASSWORD)
    reg = ["lab", "workers", "register", "--id", "cli-w", "--db", str(db), "--user", "admin"]
    assert fedlab(*reg) == 0
    token = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    monkeypatch.setenv("FEDLAB_WORKER_TOKEN", token)
    assert fedlab(*start) == 0
    assert "0 experiment(s) processed" in capsys.readouterr().out
    listed = ["lab", "workers", "list", "--db", str(db), "--user", "admin"]
    assert fedlab(*listed) == 0
    out = capsys.readouterr().out
    assert "cli-w" in out and token not in out
