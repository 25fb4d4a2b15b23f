"""The lab server (issue: trust boundary, item 1), replayed as attacks over HTTP.

Only health and sign-in answer without a token; every service route refuses a missing,
forged, revoked or expired token with one message. The SDK connected to the server holds a
bearer token and no database handle, and gets exactly what the service layer gives that
user: the same answers and the same refusals as in process, for every seeded user, on
SQLite and PostgreSQL (the access matrix through HTTP). bank_a cannot reach bank_b's
enterprise authorizations or any location at a party through any route, nor approve its own
experiment. A property-based fuzzer (schemathesis) drives every route of the OpenAPI schema
with a valid token: no 500.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from conftest import World
from fastapi.testclient import TestClient
from sqlalchemy import text

from lab.db import session_scope
from lab.errors import AccessDeniedError, LabError
from lab.sdk import Lab, RemoteLab
from lab.server.app import API, create_app
from lab.server.registry import ROUTES
from lab.services import tokens


@pytest.fixture
def served(world: World) -> Iterator[tuple[World, TestClient]]:
    with TestClient(create_app(world.engine), base_url="http://lab.test") as client:
        yield world, client


def token_of(world: World, user: str, days: int = 30) -> str:
    with session_scope(world.engine) as s:
        _, tok = tokens.mint_token(session=s, actor=world.who(user), name="notebook", days=days)
    return tok


def remote(world: World, client: TestClient, user: str) -> RemoteLab:
    lab = Lab.connect("http://lab.test", token=token_of(world, user), http=client)
    assert isinstance(lab, RemoteLab) and not hasattr(lab, "engine")
    return lab


def test_only_health_and_sign_in_answer_without_a_token(served: tuple[World, TestClient]) -> None:
    world, client = served
    assert client.get(f"{API}/health").json() == {"status": "ok"}
    good = token_of(world, "bank_a_ds")
    revoked = token_of(world, "bank_a_ds")
    expired = token_of(world, "bank_a_ds")
    with session_scope(world.engine) as s:
        me = world.who("bank_a_ds")
        ids = [t.id for t in tokens.list_tokens(session=s, actor=me)]
        tokens.revoke_token(session=s, actor=me, token_id=ids[1])
    with world.engine.begin() as conn:
        conn.execute(
            text("UPDATE api_token SET expires_at = created_at WHERE id = :i"), {"i": ids[2]}
        )
    paths = [r.path for r in client.app.routes if getattr(r, "methods", None)]  # type: ignore[attr-defined]
    open_paths = {f"{API}/health", f"{API}/auth/login", f"{API}/openapi.json", f"{API}/docs"}
    open_paths.add("/docs/oauth2-redirect")  # the docs page's own helper, no data
    calls = [p for p in paths if p.startswith(f"{API}/call/")]
    assert len(calls) == len(ROUTES) and set(paths) - set(calls) <= open_paths
    for path in calls:
        for header in (
            {},
            {"Authorization": "Bearer flt_forged"},
            *({"Authorization": f"Bearer {t}"} for t in (revoked, expired)),
        ):
            reply = client.post(path, json={}, headers=header)
            assert reply.status_code == 401, (path, header, reply.text)
            assert reply.json()["message"] == tokens.TOKEN_REFUSED
    ok = client.post(
        f"{API}/call/samples.list_samples", json={}, headers={"Authorization": f"Bearer {good}"}
    )
    assert ok.status_code == 200 and ok.json()
    with world.engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM api_token")).scalars().all()
    assert good not in stored and all(len(h) == 64 for h in stored)


def test_sign_in_checks_the_password_and_says_nothing_about_names(
    served: tuple[World, TestClient],
) -> None:
    _, client = served
    replies = [
        client.post(f"{API}/auth/login", json={"username": u, "password": "guess"})
        for u in ("bank_a_ds", "no_such_user")
    ]
    assert [r.status_code for r in replies] == [401, 401]
    assert replies[0].json() == replies[1].json()  # seeded users have no password: refused


CALLS: dict[str, Callable[[Lab], Any]] = {
    "samples": lambda lab: sorted(s.id for s in lab.samples.list()),
    "experiments": lambda lab: sorted(e.id for e in lab.experiments.list()),
    "indicators": lambda lab: len(lab.indicators.search("tax")),
    "consents": lambda lab: sorted(c.id for c in lab.consents.list()),
    "models": lambda lab: sorted(m.id for m in lab.models.list()),
    "datasets": lambda lab: sorted(d.id for d in lab.datasets.list()),
    "audit": lambda lab: lab.audit.verify().ok,
    "authorizations of bank_b": lambda lab: lab.consents.authorizations("bank_b").total,
}
USERS = ("bank_a_modeler", "bank_a_ds", "tax_officer", "staff", "admin")


def outcome(fn: Callable[[Lab], Any], lab: Lab) -> Any:
    try:
        return ("ok", fn(lab))
    except LabError as exc:
        return ("refused", exc.code)


def test_the_access_matrix_holds_through_http(served: tuple[World, TestClient]) -> None:
    world, client = served
    table = {}
    for user in USERS:
        here, there = Lab(world.engine, world.who(user)), remote(world, client, user)
        for name, fn in CALLS.items():
            table[user, name] = got = outcome(fn, there)
            assert got == outcome(fn, here), (user, name)
    assert table["bank_a_ds", "authorizations of bank_b"] == ("refused", "FEDLAB-502")
    assert table["staff", "audit"] == ("ok", True)
    assert table["bank_a_ds", "audit"][0] == "refused"


def test_no_route_reveals_a_location_or_lets_a_bank_approve_itself(
    served: tuple[World, TestClient],
) -> None:
    world, client = served
    lab = remote(world, client, "bank_a_ds")
    exp = lab.experiments.create(
        name="over http",
        sample=world.seed.samples["bank_a"],
        algorithm="hetero_lr",
        indicators=["taxes_paid_12m"],
        params={"epochs": 1},
    )
    exp.submit("via the server")
    with pytest.raises(AccessDeniedError):
        lab.experiments.get(exp.id).approve("my own")
    raw = client.post(
        f"{API}/call/samples.list_samples",
        json={},
        headers={"Authorization": f"Bearer {token_of(world, 'bank_a_ds')}"},
    ).text
    assert "location" not in raw and "data/bank_" not in raw
    assert not any("export" in name or "location" in name for name in ROUTES)


def test_a_token_lives_its_days_and_a_minted_one_works(served: tuple[World, TestClient]) -> None:
    world, client = served
    with session_scope(world.engine) as s:
        tok, token = tokens.mint_token(
            session=s, actor=world.who("tax_officer"), name="jupyter", days=7
        )
    assert tok.expires_at - tok.created_at == timedelta(days=7)
    lab = Lab.connect("http://lab.test", token=token, http=client)
    assert lab.consents.list() is not None
    with pytest.raises(LabError, match="1 to 90 days"):
        lab.call(tokens.mint_token, name="forever", days=3650)


def test_the_fuzzer_finds_no_server_error(world: World) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, settings

    app = create_app(world.engine)
    token = token_of(world, "staff")
    schema = schemathesis.openapi.from_asgi(f"{API}/openapi.json", app)
    failures = []

    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        reply = case.call(headers={"Authorization": f"Bearer {token}"})
        if reply.status_code >= 500:
            failures.append((case.path, reply.status_code, reply.text[:200]))

    for op in schema.get_all_operations():
        operation = op.ok()
        operation.as_strategy()  # every route has a schema the fuzzer can draw from
        from hypothesis import given

        given(operation.as_strategy())(check)()
    assert failures == []


def test_the_cli_is_a_client_of_the_server(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lab.cli import main
    from lab.server.embedded import serve

    with serve(world.engine) as url:
        monkeypatch.setenv("FEDLAB_TOKEN", token_of(world, "bank_a_ds"))
        with pytest.raises(SystemExit) as done:
            main(["lab", "samples", "list", "--db", url])
        assert done.value.code in (0, None)
        listed = capsys.readouterr().out
        monkeypatch.setenv("FEDLAB_TOKEN", "flt_stolen")
        with pytest.raises(SystemExit) as refused:
            main(["lab", "samples", "list", "--db", url])
        assert refused.value.code == 2
    mine = Lab(world.engine, world.who("bank_a_ds")).samples.list()
    assert mine and all(f"{s.id:>5}" in listed for s in mine)
    assert tokens.TOKEN_REFUSED in capsys.readouterr().err
