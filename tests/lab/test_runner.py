"""The worker: atomic claims under concurrency, progress, results, failures, a real run."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import World
from sqlalchemy import func, update
from sqlmodel import select

from lab.db import session_scope
from lab.models import (
    AuditEvent,
    ConsentGrant,
    Experiment,
    ExperimentCreate,
    ExperimentStatus,
    ExperimentTransition,
    ModelVersion,
    utcnow,
)
from lab.runner import Worker
from lab.services import audit as audit_svc
from lab.services import experiments, models_library

S = ExperimentStatus
BANKS = ("bank_a", "bank_b", "bank_c", "bank_d")


class FakeExecutor:
    """Stands in for federation.run.run_experiment: records calls, writes metrics.json."""

    def __init__(self, fail_for: set[str] | None = None, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.fail_for = fail_for or set()

    def __call__(self, cfg: Any, out_dir: Path, runtime: str, progress: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append(cfg.experiment.name)
        if cfg.experiment.name in self.fail_for:
            raise RuntimeError("party tax did not answer")
        time.sleep(self.seconds)  # a run takes time: lets the other worker claim meanwhile
        for epoch in range(3):
            progress("epoch", {"epoch": epoch, "loss": 0.7 - 0.1 * epoch})
        metrics = {
            "auc": 0.8,
            "ks": 0.4,
            "loss": [0.7, 0.6, 0.5],
            "roc": {"fpr": [0.0, 0.2, 1.0], "tpr": [0.0, 0.7, 1.0]},
            "guest": cfg.guest.name,
            "hosts": ",".join(h.name for h in cfg.hosts),
        }
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "metrics.json").write_text(json.dumps(metrics))
        return metrics


def approved(
    world: World,
    bank: str,
    name: str,
    indicators: tuple[str, ...] = ("taxes_paid_12m", "tax_arrears_amount"),
) -> int:
    ds, staff = world.who(f"{bank}_ds"), world.who("staff")
    with session_scope(world.engine) as s:
        exp = experiments.create_experiment(
            session=s,
            actor=ds,
            experiment_in=ExperimentCreate(
                name=name,
                sample_id=world.seed.samples[bank],
                algorithm="hetero_lr",
                indicator_codes=list(indicators),
                params={"epochs": 3},
                backend="plaintext",
            ),
        )
        experiments.submit_experiment(session=s, actor=ds, experiment_id=exp.id)
        experiments.approve_experiment(session=s, actor=staff, experiment_id=exp.id)
    return exp.id


def test_worker_runs_an_experiment_and_files_a_model(world: World, tmp_path: Path) -> None:
    exp_id = approved(world, "bank_b", "tax lr")
    fake = FakeExecutor()
    worker = Worker(world.engine, "w1", tmp_path / "runs", executor=fake, runtime="local")
    assert worker.run_once() is True
    assert worker.run_once() is False
    ds = world.who("bank_b_ds")
    with session_scope(world.engine) as s:
        got = experiments.get_experiment(session=s, actor=ds, experiment_id=exp_id)
        model = models_library.model_for_experiment(session=s, actor=ds, experiment_id=exp_id)
    assert got.status is S.SUCCEEDED and got.claimed_by == "worker:w1"
    assert [(p["epoch"], p["loss"]) for p in got.progress] == [
        (0, 0.7),
        (1, 0.6),
        (2, pytest.approx(0.5)),
    ]
    assert model is not None and model.metrics["auc"] == 0.8
    assert model.metrics["guest"] == "bank_b" and model.metrics["hosts"] == "tax"
    assert model.roc == {"fpr": [0.0, 0.2, 1.0], "tpr": [0.0, 0.7, 1.0]}
    assert model.lineage["indicators"] == ["taxes_paid_12m", "tax_arrears_amount"]
    assert model.lineage["params"]["learning_rate"] == 0.15
    assert model.parties == ["bank_b", "tax"] and model.name == "bank_b/tax lr"
    cfg_auth = tmp_path / "runs" / f"experiment-{exp_id}" / "guest_authorizations.csv"
    assert cfg_auth.read_text().splitlines()[0] == "uscc,bank,granted_on,expires_on"


def test_failure_is_recorded_with_its_reason(world: World, tmp_path: Path) -> None:
    exp_id = approved(world, "bank_a", "doomed")
    worker = Worker(world.engine, "w1", tmp_path, executor=FakeExecutor({f"experiment-{exp_id}"}))
    assert worker.run_once()
    staff = world.who("staff")
    with session_scope(world.engine) as s:
        got = experiments.get_experiment(session=s, actor=staff, experiment_id=exp_id)
        trail = experiments.transitions(session=s, actor=staff, experiment_id=exp_id)
    assert got.status is S.FAILED
    assert got.failure_reason is not None and "party tax did not answer" in got.failure_reason
    assert trail[-1].to_status is S.FAILED and trail[-1].reason == got.failure_reason


def test_consent_lapsed_after_approval_fails_the_run_before_it_starts(
    world: World, tmp_path: Path
) -> None:
    exp_id = approved(world, "bank_a", "late")
    with world.engine.begin() as conn:  # time passes: tax's consent expires in the queue
        conn.execute(update(ConsentGrant).values(expires_at=utcnow() - timedelta(hours=1)))
    fake = FakeExecutor()
    assert Worker(world.engine, "w1", tmp_path, executor=fake).run_once()
    staff = world.who("staff")
    with session_scope(world.engine) as s:
        got = experiments.get_experiment(session=s, actor=staff, experiment_id=exp_id)
        trail = experiments.transitions(session=s, actor=staff, experiment_id=exp_id)
    assert fake.calls == []  # no party was contacted
    assert got.status is S.FAILED and got.started_at is None
    assert "ConsentError" in (got.failure_reason or "")
    assert "tax: ['taxes_paid_12m', 'tax_arrears_amount'] expired" in (got.failure_reason or "")
    assert [(t.from_status, t.to_status) for t in trail][-2:] == [
        (S.APPROVED, S.QUEUED),
        (S.QUEUED, S.FAILED),
    ]


def test_non_finite_numbers_reach_the_catalog_as_null(world: World, tmp_path: Path) -> None:
    """A scorecard's open grade band (low = -inf) and a diverged loss (nan), as Python's
    json writes them into metrics.json, are stored as null: PostgreSQL's json type refuses
    Infinity and NaN, so the run used to fail there when it filed its model."""
    exp_id = approved(world, "bank_d", "open band")

    def run(cfg: Any, out_dir: Path, runtime: str, progress: Any) -> dict[str, Any]:
        progress("epoch", {"epoch": 0, "loss": float("nan")})
        metrics = {
            "auc": 0.7,
            "ks": float("nan"),
            "loss": [float("nan"), 0.5],
            "grades": [{"grade": "A", "low": 650.0}, {"grade": "F", "low": -math.inf}],
        }
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "metrics.json").write_text(json.dumps(metrics))
        return metrics

    assert Worker(world.engine, "w1", tmp_path, executor=run).run_once()
    staff = world.who("staff")
    with session_scope(world.engine) as s:
        got = experiments.get_experiment(session=s, actor=staff, experiment_id=exp_id)
        model = models_library.model_for_experiment(session=s, actor=staff, experiment_id=exp_id)
        report = audit_svc.verify(session=s, actor=staff)
    assert got.status is S.SUCCEEDED, got.failure_reason
    assert got.progress == [{"event": "epoch", "epoch": 0}]  # the epoch, without a loss
    assert model is not None and model.metrics["auc"] == 0.7 and model.metrics["ks"] is None
    assert model.metrics["loss"] == [None, 0.5]
    assert model.metrics["grades"] == [{"grade": "A", "low": 650.0}, {"grade": "F", "low": None}]
    assert report.ok, str(report)


@pytest.mark.parametrize("when", ["during training", "after the last epoch"])
def test_cancel_while_running_stops_the_run_and_files_no_model(
    world: World, tmp_path: Path, when: str
) -> None:
    # Prepare: the bank cancels its experiment while the worker runs it
    exp_id = approved(world, "bank_c", "stopped")
    ds, staff = world.who("bank_c_ds"), world.who("staff")
    reached: list[str] = []

    def cancelled_run(cfg: Any, out_dir: Path, runtime: str, progress: Any) -> dict[str, Any]:
        progress("epoch", {"epoch": 0, "loss": 0.7})
        with session_scope(world.engine) as s:
            experiments.cancel_experiment(
                session=s, actor=ds, experiment_id=exp_id, reason="wrong sample"
            )
        if when == "during training":
            progress("epoch", {"epoch": 1, "loss": 0.6})  # the worker stops the run here
            reached.append("epoch 1")
        return FakeExecutor()(cfg, out_dir, runtime, lambda *_: None)

    # Execute
    assert Worker(world.engine, "w1", tmp_path, executor=cancelled_run).run_once()
    # Assert: still cancelled (not failed, not succeeded), no model, the canceller's reason
    with session_scope(world.engine) as s:
        got = experiments.get_experiment(session=s, actor=staff, experiment_id=exp_id)
        trail = experiments.transitions(session=s, actor=staff, experiment_id=exp_id)
        model = models_library.model_for_experiment(session=s, actor=staff, experiment_id=exp_id)
        report = audit_svc.verify(session=s, actor=staff)
    assert reached == []
    assert got.status is S.CANCELLED and got.failure_reason is None
    assert [p["loss"] for p in got.progress] == [0.7]
    assert [(t.from_status, t.to_status) for t in trail][-2:] == [
        (S.QUEUED, S.RUNNING),
        (S.RUNNING, S.CANCELLED),
    ]
    assert (trail[-1].actor, trail[-1].reason) == ("bank_c_ds", "wrong sample")
    assert model is None
    assert report.ok, str(report)


@pytest.mark.slow
def test_two_workers_run_twenty_experiments_exactly_once(world: World, tmp_path: Path) -> None:
    # Prepare: 20 approved experiments, 5 from each of 4 banks
    ids = [approved(world, bank, f"{bank} run {i}") for i in range(5) for bank in BANKS]
    fake = FakeExecutor(seconds=0.05)
    workers = [
        Worker(world.engine, f"w{i}", tmp_path / "runs", executor=fake, runtime="local")
        for i in range(2)
    ]
    start = threading.Barrier(2)

    def loop(w: Worker) -> None:
        start.wait()
        w.run_forever(poll_seconds=0.01, max_idle_polls=3)

    # Execute
    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    # Assert: every experiment ran exactly once, both workers took part, nothing lost
    assert sorted(Counter(fake.calls).values()) == [1] * 20
    assert sorted(fake.calls) == sorted(f"experiment-{i}" for i in ids)
    assert sorted(workers[0].processed + workers[1].processed) == sorted(ids)
    staff = world.who("staff")
    with session_scope(world.engine) as s:
        rows = s.exec(select(Experiment).where(Experiment.id.in_(ids))).all()  # type: ignore[attr-defined]
        assert {r.status for r in rows} == {S.SUCCEEDED}
        assert s.exec(select(func.count()).select_from(ModelVersion)).one() == 20
        n_trans = s.exec(
            select(func.count())
            .select_from(ExperimentTransition)
            .where(ExperimentTransition.experiment_id.in_(ids))
        ).one()  # type: ignore[attr-defined]
        assert n_trans == 20 * 5  # submitted, approved, queued, running, succeeded
        queued = s.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "experiment.queued")
        ).one()
        assert queued == 20
        report = audit_svc.verify(session=s, actor=staff)
    assert report.ok, str(report)
    assert all(len(r.progress) == 3 for r in rows)
    assert workers[0].processed and workers[1].processed


@pytest.mark.slow
@pytest.mark.flower
def test_real_federated_run_through_the_catalog(tmp_path: Path) -> None:
    """Seeded from synthetic files, run by federation.run (local runtime), model filed."""
    from features.synth import generate, write
    from lab.db import make_engine, upgrade
    from lab.seed import seed_demo

    write(tmp_path / "data", generate(800, 7, banks=("bank_a",)))
    engine = make_engine(tmp_path / "lab.db", create=True)
    upgrade(engine)
    seed = seed_demo(
        engine, banks=("bank_a",), data_dir=tmp_path / "data", agencies=("tax", "market_regulation")
    )
    world = World(engine, seed)
    exp_id = approved(world, "bank_a", "real", ("taxes_paid_12m", "company_age_years"))
    worker = Worker(engine, "real", tmp_path / "runs", runtime="local")
    assert worker.run_once()
    staff = world.who("staff")
    with session_scope(engine) as s:
        got = experiments.get_experiment(session=s, actor=staff, experiment_id=exp_id)
    assert got.status is S.SUCCEEDED, got.failure_reason
    with session_scope(engine) as s:
        model = models_library.model_for_experiment(session=s, actor=staff, experiment_id=exp_id)
    assert model is not None and 0.5 < model.metrics["auc"] <= 1.0
    assert len(model.metrics["loss"]) == 3 and model.parties == [
        "bank_a",
        "market_regulation",
        "tax",
    ]
    assert sum(1 for p in got.progress if p.get("event") == "epoch") >= 1
    engine.dispose()
