"""The SDK end to end (fake executor) and its errors for bad input."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import World
from sqlalchemy import update
from test_runner import FakeExecutor

from lab.db import session_scope
from lab.errors import AccessDeniedError, ConfigError, ConsentError, NotFoundError
from lab.models import ConsentGrant, EnterpriseAuthorization, ExperimentStatus, utcnow
from lab.sdk import Lab
from lab.services.consent import AuthorizationError


def connect(world: World, user: str) -> Lab:
    return Lab(world.engine, world.who(user))


def test_sdk_flow_from_search_to_roc(world: World, tmp_path: Path) -> None:
    ds = connect(world, "bank_c_ds")
    found = ds.indicators.search("纳税")  # Chinese name search
    assert {i.code for i in found} >= {"taxes_paid_12m"}
    assert all(i.owner_code == "tax" for i in found)
    assert ds.indicators.search(owner="courts")[0].category == "courts"
    sample = ds.samples.create(
        name="2024H1 applicants",
        dataset="bank_c",
        label_column="default_12m",
        id_list_location="ids/2024h1.csv",
        n_total=500,
        n_positive=40,
        observation_end=date(2024, 6, 30),
    )
    assert [s.id for s in ds.samples.list()] == [world.seed.samples["bank_c"], sample.id]
    exp = ds.experiments.create(
        name="tax lr",
        sample=sample.id,
        algorithm="hetero_lr",
        indicators=["taxes_paid_12m"],
        params={"epochs": 3},
        backend="plaintext",
    )
    exp.submit()
    assert exp.status is ExperimentStatus.SUBMITTED
    staff = connect(world, "staff")
    staff.experiments.get(exp.id).approve("ok")
    ran = staff.run_pending(executor=FakeExecutor(), runtime="local", runs_dir=tmp_path)
    assert ran == [exp.id]
    exp.wait(timeout=5, poll=0.01, show_progress=False)
    assert exp.metrics["auc"] == 0.8
    fig = exp.plot_roc()
    assert list(fig.data[0].x) == [0.0, 0.2, 1.0] and "AUC 0.800" in fig.layout.title.text
    mfig = exp.plot_roc(backend="matplotlib")
    assert list(mfig.axes[0].lines[0].get_ydata()) == [0.0, 0.7, 1.0]
    assert ds.models.compare([exp.model.id]).loc[0, "auc"] == 0.8
    with pytest.raises(AccessDeniedError):
        ds.run_pending()


def test_sdk_errors_for_bad_input(world: World) -> None:
    ds = connect(world, "bank_a_ds")
    sid = world.seed.samples["bank_a"]
    with pytest.raises(NotFoundError, match=r"unknown indicator\(s\) \['no_such_thing'\]"):
        ds.experiments.create(
            name="x",
            sample=sid,
            algorithm="hetero_lr",
            indicators=["taxes_paid_12m", "no_such_thing"],
        )
    with pytest.raises(ConfigError, match=r"'epochs'=0 is out of bounds \[1, 10000\]"):
        ds.experiments.create(
            name="x",
            sample=sid,
            algorithm="hetero_lr",
            indicators=["taxes_paid_12m"],
            params={"epochs": 0},
        )
    with pytest.raises(ConfigError, match="has no parameter"):
        ds.experiments.create(name="x", sample=sid, algorithm="hetero_lr", params={"epoch": 3})
    with pytest.raises(ConfigError, match="must be float"):
        ds.experiments.create(
            name="x", sample=sid, algorithm="hetero_lr", params={"learning_rate": "fast"}
        )
    with pytest.raises(NotFoundError, match="unknown algorithm 'xgb'"):
        ds.experiments.create(name="x", sample=sid, algorithm="xgb")
    with pytest.raises(AccessDeniedError, match="belongs to another bank"):
        ds.experiments.create(name="x", sample=world.seed.samples["bank_b"], algorithm="hetero_lr")


def test_sdk_expired_consent_is_refused_at_submission(world: World) -> None:
    ds = connect(world, "bank_a_ds")
    exp = ds.experiments.create(
        name="x",
        sample=world.seed.samples["bank_a"],
        algorithm="hetero_lr",
        indicators=["taxes_paid_12m"],
    )
    with world.engine.begin() as conn:  # time passes: tax's standing consent lapses
        conn.execute(update(ConsentGrant).values(expires_at=utcnow() - timedelta(days=1)))
    with pytest.raises(ConsentError, match=r"tax: \['taxes_paid_12m'\] expired"):
        exp.submit()
    assert exp.status is ExperimentStatus.DRAFT


def test_sdk_missing_authorization_is_refused(world: World) -> None:
    with world.engine.begin() as conn:
        conn.execute(EnterpriseAuthorization.__table__.delete())  # type: ignore[attr-defined]
    ds = connect(world, "bank_d_ds")
    exp = ds.experiments.create(
        name="x",
        sample=world.seed.samples["bank_d"],
        algorithm="hetero_lr",
        indicators=["taxes_paid_12m"],
    )
    with pytest.raises(AuthorizationError, match="bank 'bank_d' has no enterprise authorization"):
        exp.submit()
    assert isinstance(AuthorizationError("x"), ConsentError)


def test_connect_checks_passwords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.db import make_engine, upgrade
    from lab.services.catalog import bootstrap_admin
    from lab.settings import get_settings

    db = tmp_path / "lab.db"
    engine = make_engine(db, create=True)
    upgrade(engine)
    with session_scope(engine) as s:
        bootstrap_admin(session=s, username="root", password="correct horse")
    lab = Lab.connect(db, user="root", password="correct horse")
    assert lab.me.role.value == "admin" and "correct" not in repr(lab)
    with pytest.raises(AccessDeniedError, match="sign-in refused") as err:
        Lab.connect(db, user="root", password="tr0ub4dor")
    assert "tr0ub4dor" not in str(err.value) and "root" not in str(err.value)
    with pytest.raises(NotFoundError, match="no active user 'ghost'"):
        Lab.connect(db, user="ghost")
    # Production settings only inside this block: the cache must not keep them for later tests.
    with monkeypatch.context() as env:
        env.setenv("FEDLAB_ENVIRONMENT", "production")
        env.setenv("FEDLAB_FIRST_ADMIN_PASSWORD", "a real one, long")
        get_settings.cache_clear()
        try:
            with pytest.raises(AccessDeniedError):
                Lab.connect(db, user="root")  # outside local, a password is required
        finally:
            get_settings.cache_clear()
