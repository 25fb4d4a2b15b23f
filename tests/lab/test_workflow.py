"""The experiment state machine and the draft → published lifecycle."""

from __future__ import annotations

import pytest
from conftest import World
from sqlalchemy import text

from lab.db import session_scope
from lab.errors import ConsentError, StateTransitionError
from lab.models import ConsentGrantCreate, ExperimentCreate, ExperimentStatus, ModelStatus
from lab.services import audit as audit_svc
from lab.services import consent, experiment_runs, experiments, models_library
from lab.services.catalog import worker_principal
from lab.workflow import TRANSITIONS, check_transition

S = ExperimentStatus


def test_every_illegal_transition_is_refused() -> None:
    for cur in S:
        for tgt in S:
            if tgt in TRANSITIONS[cur]:
                check_transition(cur, tgt, reason="because")
            else:
                with pytest.raises(StateTransitionError, match=f"is {cur.value}"):
                    check_transition(cur, tgt, reason="because")


def test_reject_fail_cancel_need_a_reason() -> None:
    for cur, tgt in [(S.SUBMITTED, S.REJECTED), (S.RUNNING, S.FAILED), (S.DRAFT, S.CANCELLED)]:
        with pytest.raises(StateTransitionError, match="needs a reason"):
            check_transition(cur, tgt, reason=" ")


def _draft(
    world: World,
    bank: str = "bank_a",
    indicators: tuple[str, ...] = ("taxes_paid_12m", "insured_employees"),
) -> int:
    ds = world.who(f"{bank}_ds")
    with session_scope(world.engine) as s:
        exp = experiments.create_experiment(
            session=s,
            actor=ds,
            experiment_in=ExperimentCreate(
                name="lr on tax + social",
                sample_id=world.seed.samples[bank],
                algorithm="hetero_lr",
                indicator_codes=list(indicators),
                params={"epochs": 5},
            ),
        )
    return exp.id


def test_lifecycle_draft_to_published_with_verified_audit_chain(world: World) -> None:
    # Prepare
    exp_id = _draft(world)
    ds, staff = world.who("bank_a_ds"), world.who("staff")
    officer, modeler = world.who("social_insurance_officer"), world.who("bank_a_modeler")
    worker = worker_principal("w1")
    # Execute: submit; social insurance has no standing consent, so approval waits
    with session_scope(world.engine) as s:
        sub = experiments.submit_experiment(session=s, actor=ds, experiment_id=exp_id)
        assert sub.params["learning_rate"] == 0.15  # defaults filled at submission
    with session_scope(world.engine) as s:
        needs = experiments.consents_for(session=s, actor=ds, experiment_id=exp_id)
        assert {n.agency: n.status for n in needs} == {
            "tax": "granted",
            "social_insurance": "missing",
        }
    with pytest.raises(ConsentError, match="social_insurance"), session_scope(world.engine) as s:
        experiments.approve_experiment(session=s, actor=staff, experiment_id=exp_id)
    with session_scope(world.engine) as s:
        requests = experiments.list_requests(session=s, actor=officer)
        assert [r.id for r in requests] == [exp_id]
        consent.grant_consent(
            session=s,
            actor=officer,
            consent_in=ConsentGrantCreate(
                bank_code="bank_a",
                indicator_codes=["insured_employees"],
                expires_at=__import__("lab.models").models.utcnow().replace(year=2100),
            ),
        )
    with session_scope(world.engine) as s:
        experiments.approve_experiment(
            session=s, actor=staff, experiment_id=exp_id, reason="consents in place"
        )
    with session_scope(world.engine) as s:
        claimed = experiment_runs.claim_next(session=s, actor=worker)
        assert claimed is not None and claimed.id == exp_id
    with session_scope(world.engine) as s:
        exp = experiment_runs.start_run(
            session=s, actor=worker, experiment_id=exp_id, lease_token=claimed.lease_token
        )
        for epoch, loss in enumerate([0.6, 0.5, 0.45]):
            experiment_runs.record_progress(
                session=s,
                actor=worker,
                experiment_id=exp_id,
                entry={"epoch": epoch, "loss": loss},
                lease_token=claimed.lease_token,
            )
    with session_scope(world.engine) as s:
        exp = experiment_runs.succeed_run(
            session=s, actor=worker, experiment_id=exp_id, lease_token=claimed.lease_token
        )
        mv = models_library.register_model_version(
            session=s,
            actor=worker,
            experiment=exp,
            name="bank_a/lr",
            algorithm="hetero_lr",
            metrics={"auc": 0.81, "ks": 0.45},
            roc={"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1]},
            lineage={"experiment": exp_id},
            artifacts={"bank_a": "a", "tax": "t"},
        )
    with session_scope(world.engine) as s:
        pub = models_library.publish_model(session=s, actor=modeler, model_id=mv.id or 0)
    # Assert
    assert pub.status is ModelStatus.PUBLISHED and pub.parties == ["bank_a", "tax"]
    with session_scope(world.engine) as s:
        trail = experiments.transitions(session=s, actor=ds, experiment_id=exp_id)
        got = experiments.get_experiment(session=s, actor=ds, experiment_id=exp_id)
        report = audit_svc.verify(session=s, actor=staff)
        events = audit_svc.list_events(
            session=s, actor=staff, object_type="experiment", object_id=exp_id
        )
    assert [(t.from_status.value, t.to_status.value) for t in trail] == [
        ("draft", "submitted"),
        ("submitted", "approved"),
        ("approved", "queued"),
        ("queued", "running"),
        ("running", "succeeded"),
    ]
    assert [t.actor for t in trail] == ["bank_a_ds", "staff", "worker:w1", "worker:w1", "worker:w1"]
    assert trail[1].reason == "consents in place"
    assert [p["loss"] for p in got.progress] == [0.6, 0.5, 0.45]
    assert report.ok, str(report)
    assert [e.action for e in events][-5:] == [
        "experiment.submitted",
        "experiment.approved",
        "experiment.queued",
        "experiment.running",
        "experiment.succeeded",
    ]
    # Tamper: the database refuses edits; an attacker who drops the guard is still caught
    with pytest.raises(Exception, match="append-only"), world.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor='mallory' WHERE seq=3"))
    _drop_guard(world)
    with world.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor='mallory' WHERE seq=3"))
    with session_scope(world.engine) as s:
        broken = audit_svc.verify(session=s, actor=staff)
    assert not broken.ok and broken.seq == 3 and "edited" in broken.problem


def _drop_guard(world: World) -> None:
    with world.engine.begin() as conn:
        if world.engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_event_no_update ON audit_event"))
        else:
            conn.execute(text("DROP TRIGGER audit_event_no_update"))
            conn.execute(text("DROP TRIGGER audit_event_no_delete"))


def test_reject_then_revise_and_resubmit(world: World) -> None:
    exp_id = _draft(world, indicators=("taxes_paid_12m",))
    ds, staff = world.who("bank_a_ds"), world.who("staff")
    with session_scope(world.engine) as s:
        experiments.submit_experiment(session=s, actor=ds, experiment_id=exp_id)
    with (
        pytest.raises(StateTransitionError, match="needs a reason"),
        session_scope(world.engine) as s,
    ):
        experiments.reject_experiment(session=s, actor=staff, experiment_id=exp_id, reason="")
    with session_scope(world.engine) as s:
        experiments.reject_experiment(
            session=s, actor=staff, experiment_id=exp_id, reason="purpose unclear"
        )
        experiments.revise_experiment(
            session=s, actor=ds, experiment_id=exp_id, reason="purpose clarified"
        )
        experiments.submit_experiment(session=s, actor=ds, experiment_id=exp_id)
        experiments.approve_experiment(session=s, actor=staff, experiment_id=exp_id)
        got = experiments.get_experiment(session=s, actor=ds, experiment_id=exp_id)
    assert got.status is S.APPROVED
    with pytest.raises(StateTransitionError, match="is approved"), session_scope(world.engine) as s:
        experiments.submit_experiment(session=s, actor=ds, experiment_id=exp_id)


def test_failed_transaction_leaves_no_trace(world: World) -> None:
    """Catalog writes are transactional: a refused approval writes no event."""
    exp_id = _draft(world, indicators=("insured_employees",))
    ds, staff = world.who("bank_a_ds"), world.who("staff")
    with session_scope(world.engine) as s:
        experiments.submit_experiment(session=s, actor=ds, experiment_id=exp_id)
        before = audit_svc.verify(session=s, actor=staff).events
    with pytest.raises(ConsentError), session_scope(world.engine) as s:
        experiments.approve_experiment(session=s, actor=staff, experiment_id=exp_id)
    with session_scope(world.engine) as s:
        after = audit_svc.verify(session=s, actor=staff)
        got = experiments.get_experiment(session=s, actor=ds, experiment_id=exp_id)
    assert after.ok and after.events == before and got.status is S.SUBMITTED


def test_a_backend_the_algorithm_cannot_run_is_refused_at_creation(world: World) -> None:
    """homo aggregation backends are not for hetero LR (and Paillier not for homo FedAvg)."""
    from lab.errors import ConfigError

    ds = world.who("bank_a_ds")
    for algorithm, backend in (
        ("hetero_lr", "secaggplus"),
        ("homo_lr", "paillier"),
        ("secureboost", "ckks"),
    ):
        with (
            pytest.raises(ConfigError, match=f"{algorithm}.*not '{backend}'"),
            session_scope(world.engine) as s,
        ):
            experiments.create_experiment(
                session=s,
                actor=ds,
                experiment_in=ExperimentCreate(
                    name="mismatch",
                    sample_id=world.seed.samples["bank_a"],
                    algorithm=algorithm,
                    indicator_codes=["taxes_paid_12m"],
                    backend=backend,
                ),
            )
    with session_scope(world.engine) as s:
        made = experiments.create_experiment(
            session=s,
            actor=ds,
            experiment_in=ExperimentCreate(
                name="homo ok",
                sample_id=world.seed.samples["bank_a"],
                algorithm="homo_lr",
                indicator_codes=["taxes_paid_12m"],
                backend="secaggplus",
            ),
        )
        assert made.backend == "secaggplus"
        assert all(e.name != "mismatch" for e in experiments.list_experiments(session=s, actor=ds))
