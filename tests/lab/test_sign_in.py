"""A refused sign-in never tells which user names exist (issue 15): one error class, code
and message, on one code path with one password-hash check, for an unknown user, an
inactive one, one without a password and a wrong or missing password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from lab.cli import app
from lab.db import make_engine, session_scope, upgrade
from lab.errors import AccessDeniedError, NotFoundError, SignInError
from lab.models import Role, UserCreate
from lab.sdk import Lab
from lab.services import organizations
from lab.services.catalog import authenticate, bootstrap_admin, create_user

PW = "correct horse battery"
#: (user name, password): each must be refused the same way where a password is checked
REFUSED = [
    ("ghost", PW),  # no such user
    ("root", "Tr0ub4dor&3"),  # wrong password
    ("root", ""),  # empty password
    ("idle", PW),  # the right password of an inactive user
    ("nopass", PW),  # a user without a password
    ("ghost", None),  # no password given where one is required
    ("root", None),
]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(tmp_path / "lab.db", create=True)
    upgrade(eng)
    with session_scope(eng) as s:
        bootstrap_admin(session=s, username="root", password=PW)
        root = authenticate(session=s, username="root", password=PW, password_required=True)
        for name, active, password in (("idle", False, PW), ("nopass", True, None)):
            user = UserCreate(
                username=name,
                role=Role.PLATFORM_STAFF,
                org_code="platform",
                password=password,
                is_active=active,
            )
            create_user(session=s, actor=root, user_in=user)
    yield eng
    eng.dispose()


def _refusal(engine: Engine, username: str, password: str | None) -> SignInError:
    with pytest.raises(SignInError) as err, session_scope(engine) as s:
        authenticate(session=s, username=username, password=password, password_required=True)
    return err.value


def _shape(exc: Exception) -> tuple[Any, ...]:
    assert isinstance(exc, SignInError)
    return type(exc), exc.code, str(exc), exc.hint, exc.args


def test_every_refusal_is_the_same_error(engine: Engine) -> None:
    shapes = {_shape(_refusal(engine, u, p)) for u, p in REFUSED}
    assert len(shapes) == 1, shapes
    (shape,) = shapes
    assert shape[1] == "FEDLAB-553" and issubclass(shape[0], AccessDeniedError)
    for name in ("ghost", "root", "idle", "nopass", PW):
        assert name not in shape[2]


class _CountingHasher:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.verified = 0

    def verify(self, stored: str, password: str) -> bool:
        self.verified += 1
        return bool(self.inner.verify(stored, password))

    def hash(self, password: str) -> str:
        return str(self.inner.hash(password))


@pytest.mark.parametrize(("username", "password"), REFUSED)
def test_every_refusal_checks_one_password_hash(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, username: str, password: str | None
) -> None:
    counting = _CountingHasher(organizations._hasher)
    monkeypatch.setattr(organizations, "_hasher", counting)
    _refusal(engine, username, password)
    assert counting.verified == 1  # an unknown user costs the same argon2 check
    with session_scope(engine) as s:
        me = authenticate(session=s, username="root", password=PW, password_required=True)
    assert me.username == "root" and counting.verified == 2


def test_an_unchecked_local_sign_in_still_names_an_unknown_user(engine: Engine) -> None:
    # local, no password: the name alone signs in, so saying it is unknown reveals nothing more
    with pytest.raises(NotFoundError, match="no active user 'ghost'"), session_scope(engine) as s:
        authenticate(session=s, username="ghost", password=None, password_required=False)


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from lab.settings import get_settings

    monkeypatch.setenv("FEDLAB_ENVIRONMENT", "production")
    monkeypatch.setenv("FEDLAB_FIRST_ADMIN_PASSWORD", "a real one, long enough")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_sdk_and_cli_refuse_alike_in_production(
    engine: Engine, production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = engine.url.database
    assert db is not None
    sdk = set()
    for user, password in REFUSED:
        with pytest.raises(SignInError) as err:
            Lab.connect(db, user=user, password=password)
        sdk.add(str(err.value))
    assert len(sdk) == 1
    cli = set()
    for user, password in REFUSED:
        if password is None:
            monkeypatch.delenv("FEDLAB_PASSWORD", raising=False)
        else:
            monkeypatch.setenv("FEDLAB_PASSWORD", password)
        out = CliRunner().invoke(app, ["lab", "experiments", "list", "--db", db, "--user", user])
        assert isinstance(out.exception, SignInError), out.output
        cli.add(str(out.exception))
    assert cli == sdk
    assert Lab.connect(db, user="root", password=PW).me.role is Role.ADMIN
