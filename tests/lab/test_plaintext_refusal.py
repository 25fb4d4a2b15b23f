"""The ``plaintext`` backend is for local trials only: a staging or production lab refuses
it when an experiment is created, submitted or approved (FEDLAB-110, with a hint); a lab
of local trials (FEDLAB_ENVIRONMENT=local) accepts it, and its worker still runs it on the
local runtime only (``federation.run``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import World

from lab.db import session_scope
from lab.errors import PlaintextBackendError
from lab.models import ExperimentCreate, ExperimentStatus
from lab.services import experiments
from lab.services.algorithms import backends_for
from lab.settings import get_settings


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings read afresh; ``_set(monkeypatch, env)`` switches the lab's environment."""
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def _set(monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    monkeypatch.setenv("FEDLAB_ENVIRONMENT", env)
    monkeypatch.setenv("FEDLAB_FIRST_ADMIN_PASSWORD", "a real one, long enough")
    get_settings.cache_clear()


def _create(world: World, backend: str) -> int:
    with session_scope(world.engine) as s:
        exp = experiments.create_experiment(
            session=s,
            actor=world.who("bank_a_ds"),
            experiment_in=ExperimentCreate(
                name=f"lr-{backend}",
                sample_id=world.seed.samples["bank_a"],
                algorithm="hetero_lr",
                indicator_codes=["taxes_paid_12m"],
                params={"epochs": 2},
                backend=backend,
            ),
        )
    assert exp.id is not None
    return exp.id


def _submit(world: World, exp_id: int) -> None:
    with session_scope(world.engine) as s:
        experiments.submit_experiment(session=s, actor=world.who("bank_a_ds"), experiment_id=exp_id)


def _approve(world: World, exp_id: int) -> None:
    with session_scope(world.engine) as s:
        experiments.approve_experiment(session=s, actor=world.who("staff"), experiment_id=exp_id)


def _status(world: World, exp_id: int) -> ExperimentStatus:
    with session_scope(world.engine) as s:
        got = experiments.get_experiment(
            session=s, actor=world.who("bank_a_ds"), experiment_id=exp_id
        )
    return ExperimentStatus(got.status)


@pytest.mark.parametrize("env", ["staging", "production"])
def test_a_real_lab_neither_offers_nor_accepts_plaintext(
    world: World, environment: pytest.MonkeyPatch, env: str
) -> None:
    # Prepare
    _set(environment, env)

    # Execute / Assert: the form's choices, and creation
    assert backends_for("hetero_lr") == ("paillier", "ckks")
    assert backends_for("secureboost") == ("paillier",)
    assert "plaintext" not in backends_for("homo_lr")
    assert backends_for("sample_profile") == ("plaintext",)  # a count at the bank: no crypto
    with pytest.raises(PlaintextBackendError, match=f"FEDLAB_ENVIRONMENT={env}") as err:
        _create(world, "plaintext")
    assert err.value.code == "FEDLAB-110" and "local runtime" in err.value.hint
    exp_id = _create(world, "paillier")  # a protected backend goes through
    assert _status(world, exp_id) is ExperimentStatus.DRAFT


def test_plaintext_drafted_in_a_trial_lab_is_refused_at_submission_and_approval(
    world: World, environment: pytest.MonkeyPatch
) -> None:
    # Prepare: a trial lab drafts one plaintext experiment and submits another
    _set(environment, "local")
    assert "plaintext" in backends_for("hetero_lr")
    draft = _create(world, "plaintext")
    submitted = _create(world, "plaintext")
    _submit(world, submitted)

    # Execute: the lab becomes a production one
    _set(environment, "production")

    # Assert
    with pytest.raises(PlaintextBackendError, match=f"experiment {draft}: backend 'plaintext'"):
        _submit(world, draft)
    with pytest.raises(PlaintextBackendError, match=f"experiment {submitted}: "):
        _approve(world, submitted)
    assert _status(world, draft) is ExperimentStatus.DRAFT
    assert _status(world, submitted) is ExperimentStatus.SUBMITTED
    # and back in the trial lab the same experiment is approved
    _set(environment, "local")
    _approve(world, submitted)
    assert _status(world, submitted) is ExperimentStatus.APPROVED
