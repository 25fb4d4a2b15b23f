"""Consent enforced at the data owner's node (issue: trust boundary, item 5), as attacks.

The tax bureau's node is given the platform's public key. A worker's run of an approved
experiment carries, for every party, a run authorization the platform signed (the columns
of that party the experiment uses, the consent grants it rests on): it trains. The same
experiment run as a plain `fedlab train` (no authorization), with a forged authorization,
with one that names fewer columns than the run asks, or one whose consent grant expired,
is refused at the tax bureau's node before it reads any data, naming what is missing. A
revoked consent stops the next run before any authorization is issued. A node without
the key serves any run (one-machine trials).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import World
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import federation.runtime.local as local_rt
from crypto.receipts import private_pem, public_pem
from crypto.run_authorization import Grant, RunAuthorization, utc_text
from federation.config import parse_config
from federation.party import PartyContext
from federation.partydata import setup_party
from federation.roles import PartyRole
from federation.run import run_experiment
from lab.db import make_engine, session_scope, upgrade
from lab.errors import PartyError, RunNotAuthorizedError
from lab.models import ConsentGrantCreate, ExperimentStatus
from lab.runner import Worker
from lab.sdk import Lab
from lab.services import consent, experiments
from lab.settings import get_settings

INDICATORS = ["taxes_paid_12m", "vat_invoice_count_12m"]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ed25519PrivateKey, Path, Path]:
    d = tmp_path_factory.mktemp("platform_key")
    key = Ed25519PrivateKey.generate()
    (d / "sign.pem").write_bytes(private_pem(key))
    (d / "pub.pem").write_bytes(public_pem(key.public_key()))
    return key, d / "sign.pem", d / "pub.pem"


@pytest.fixture
def signing(keys: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FEDLAB_AUDIT_SIGNING_KEY", str(keys[1]))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def tax_checks(keys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tax bureau's node config names the platform's public key (its own choice)."""

    def context(**kw: Any) -> PartyContext:
        node = {"platform-public-key": str(keys[2])} if kw["name"] == "tax" else {}
        return PartyContext(**kw, node_config=node)

    monkeypatch.setattr(local_rt, "PartyContext", context)


@pytest.fixture(scope="module")
def lab_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Path]]:
    from features.synth import generate, write
    from lab.seed import seed_demo

    tmp = tmp_path_factory.mktemp("run_auth")
    data = tmp / "data"
    write(data, generate(1200, 5, banks=("bank_a",)))
    engine = make_engine(tmp / "lab.db", create=True)
    upgrade(engine)
    seed = seed_demo(engine, banks=("bank_a",), data_dir=data, agencies=("tax",))
    yield World(engine, seed), data
    engine.dispose()


def approved(world: World, name: str) -> int:
    exp = Lab(world.engine, world.who("bank_a_ds")).experiments.create(
        name=name,
        sample=world.seed.samples["bank_a"],
        algorithm="hetero_lr",
        indicators=["bank_a_acct_avg_balance", *INDICATORS],
        params={"epochs": 1},
        backend="plaintext",
    )
    exp.submit("run authorization test")
    with session_scope(world.engine) as s:
        experiments.approve_experiment(session=s, actor=world.who("staff"), experiment_id=exp.id)
    return int(exp.id)


def status(world: World, exp_id: int) -> Any:
    with session_scope(world.engine) as s:
        return experiments.get_experiment(session=s, actor=world.who("staff"), experiment_id=exp_id)


@pytest.mark.slow
def test_a_lab_run_is_authorized_at_the_node_and_a_plain_train_is_refused(
    lab_world: tuple[World, Path], tmp_path: Path, signing: None, tax_checks: None
) -> None:
    world, data = lab_world
    exp_id = approved(world, "authorized")
    assert Worker(world.engine, "w-auth", tmp_path / "runs", runtime="local").run_once()
    got = status(world, exp_id)
    assert got.status is ExperimentStatus.SUCCEEDED, got.failure_reason
    # the same parties and columns, as a plain `fedlab train` without the platform
    cfg = parse_config(
        {
            "experiment": {
                "name": "plain",
                "algorithm": "hetero_lr",
                "backend": "plaintext",
                "id_column": "uscc",
                "runtime": "local",
                "features": {"bank_a": ["acct_avg_balance"], "tax": INDICATORS},
            },
            "params": {"epochs": 1},
            "parties": [
                {"name": "bank_a", "role": "guest", "data": "bank_a.csv", "label": "default_12m"},
                {"name": "tax", "role": "host", "data": "tax.csv"},
            ],
        },
        base_dir=data,
    )
    with pytest.raises(PartyError) as err:
        run_experiment(cfg, tmp_path / "plain")
    assert "FEDLAB-405" in str(err.value) and "'tax'" in str(err.value)
    assert "no signed run authorization" in str(err.value)


@pytest.mark.slow
def test_a_revoked_consent_stops_the_next_run(
    lab_world: tuple[World, Path], tmp_path: Path, signing: None, tax_checks: None
) -> None:
    world, _ = lab_world
    exp_id = approved(world, "revoked later")
    officer = world.who("tax_officer")
    with session_scope(world.engine) as s:
        grants = consent.list_consents(session=s, actor=officer)
        for g in grants:
            if g.revoked_at is None:
                consent.revoke_consent(
                    session=s, actor=officer, consent_id=g.id, reason="no longer agreed"
                )
    try:
        assert Worker(world.engine, "w-revoked", tmp_path / "runs", runtime="local").run_once()
        got = status(world, exp_id)
        assert got.status is ExperimentStatus.FAILED
        assert "consent" in (got.failure_reason or "")
        assert not list((tmp_path / "runs").rglob("*.receipt.json"))  # no party was contacted
    finally:  # the other tests of this module need tax's consent
        with session_scope(world.engine) as s:
            for g in grants:
                consent.grant_consent(
                    session=s,
                    actor=officer,
                    consent_in=ConsentGrantCreate(
                        bank_code="bank_a",
                        indicator_codes=list(g.indicator_codes),
                        purpose=g.purpose,
                        expires_at=datetime.now(UTC) + timedelta(days=30),
                    ),
                )


# ------------------------------------------------------------------ at the node itself


def _setup(ctx: PartyContext, auth: str, features: list[str], run_id: str = "r1") -> Any:
    return setup_party(
        ctx,
        {
            "run_id": run_id,
            "role": "host",
            "id_column": "uscc",
            "features": features,
            "run_authorization": auth,
        },
    )


def _auth(key: Ed25519PrivateKey, **kw: Any) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    fields: dict[str, Any] = {
        "run": "experiment-9",
        "party": "tax",
        "role": "host",
        "columns": tuple(INDICATORS),
        "issued_at": utc_text(now - timedelta(minutes=1)),
        "expires_at": utc_text(now + timedelta(hours=1)),
        "grants": (Grant(3, utc_text(now + timedelta(days=1))),),
        "nonce": secrets.token_hex(8),
    }
    fields.update(kw)
    return RunAuthorization(**fields).signed(key).to_json()


@pytest.fixture
def tax_node(keys: Any, tmp_path: Path) -> PartyContext:
    (tmp_path / "tax.csv").write_text("uscc,x\n")
    return PartyContext(
        name="tax",
        role=PartyRole.HOST,
        data_path=tmp_path / "tax.csv",
        work_dir=tmp_path / "work",
        node_config={"platform-public-key": str(keys[2])},
        home=tmp_path / "node",
    )


def test_the_node_serves_what_the_authorization_covers(keys: Any, tax_node: PartyContext) -> None:
    key = keys[0]
    assert _setup(tax_node, _auth(key), INDICATORS).features == tuple(INDICATORS)
    assert _setup(tax_node, _auth(key), INDICATORS[:1]).features == (INDICATORS[0],)


@pytest.mark.parametrize(
    ("attack", "words"),
    [
        ("none", "no signed run authorization"),
        ("forged", "not signed by the platform"),
        ("edited", "not signed by the platform"),
        ("more columns", "['tax_arrears_amount'] are not in the run's authorization"),
        ("every column", "asks for every column"),
        ("other party", "is for party 'courts'"),
        ("expired grant", "consent grant(s) [3] the run rests on expired"),
        ("expired authorization", "not now"),
    ],
)
def test_the_node_refuses_a_run_its_authorization_does_not_cover(
    keys: Any, tax_node: PartyContext, attack: str, words: str
) -> None:
    key = keys[0]
    past = utc_text(datetime.now(UTC) - timedelta(hours=2))
    features = list(INDICATORS)
    auth = _auth(key)
    if attack == "none":
        auth = ""
    elif attack == "forged":
        auth = _auth(Ed25519PrivateKey.generate())
    elif attack == "edited":
        auth = auth.replace('"taxes_paid_12m"', '"tax_arrears_amount"')
        features = ["tax_arrears_amount"]
    elif attack == "more columns":
        features = [*INDICATORS, "tax_arrears_amount"]
    elif attack == "every column":
        features = []
    elif attack == "other party":
        auth = _auth(key, party="courts")
    elif attack == "expired grant":
        auth = _auth(key, grants=(Grant(3, past),))
    elif attack == "expired authorization":
        auth = _auth(key, expires_at=past)
    with pytest.raises(RunNotAuthorizedError) as err:
        _setup(tax_node, auth, features)
    assert words in str(err.value)


def test_an_authorization_serves_one_run_only(keys: Any, tax_node: PartyContext) -> None:
    auth = _auth(keys[0])
    _setup(tax_node, auth, INDICATORS, run_id="101")
    _setup(tax_node, auth, INDICATORS, run_id="101")  # the same run's setup again
    with pytest.raises(RunNotAuthorizedError, match="already used by run 101"):
        _setup(tax_node, auth, INDICATORS, run_id="102")  # replayed into another run
    assert _setup(tax_node, _auth(keys[0]), INDICATORS, run_id="102").run_id == "102"


def test_a_node_without_the_key_serves_any_run(tmp_path: Path) -> None:
    (tmp_path / "tax.csv").write_text("uscc,x\n")
    ctx = PartyContext(
        name="tax", role=PartyRole.HOST, data_path=tmp_path / "tax.csv", work_dir=tmp_path
    )
    assert _setup(ctx, "", []).features == ()


def test_the_worker_issues_none_without_the_platform_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.jobs.configs import PartyFacts
    from lab.run_authorizations import authorize_parties

    monkeypatch.delenv("FEDLAB_AUDIT_SIGNING_KEY", raising=False)
    get_settings.cache_clear()
    party = PartyFacts(name="tax", role=PartyRole.HOST, data="tax.csv")
    assert authorize_parties(run="r", parties=[party], columns={"tax": ["x"]}) == {}
    get_settings.cache_clear()
