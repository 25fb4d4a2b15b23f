"""The sandbox's sign-in refuses an unknown user and a wrong password alike (issue 15):
the same error and message, whatever the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.db import make_engine, session_scope, upgrade
from lab.errors import SignInError
from lab.services.catalog import bootstrap_admin
from sandbox_ui.auth import sign_in

PW = "correct horse battery"


@pytest.mark.parametrize("required", [True, False], ids=["production", "local"])
def test_unknown_user_and_wrong_password_are_refused_alike(tmp_path: Path, required: bool) -> None:
    engine = make_engine(tmp_path / "lab.db", create=True)
    upgrade(engine)
    with session_scope(engine) as s:
        bootstrap_admin(session=s, username="root", password=PW)
    tries = [("ghost", PW), ("root", "Tr0ub4dor&3"), ("ghost", "")]
    if required:
        tries.append(("root", ""))
    seen = set()
    for user, password in tries:
        with pytest.raises(SignInError) as err:
            sign_in(engine, user, password, require_password=required)
        seen.add((type(err.value), err.value.code, str(err.value)))
    assert len(seen) == 1, seen
    assert "ghost" not in str(seen) and "root" not in str(seen)
    assert sign_in(engine, "root", PW, require_password=required).username == "root"
    engine.dispose()
