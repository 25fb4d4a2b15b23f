"""Leases on claimed jobs: expiry is reaped exactly once, a stale worker files nothing, the
heartbeat keeps a long job alive, a cancel is seen at the next heartbeat, a finished orphan
is adopted, and cancel/resubmit go through the workflow with an audit event each.

A worker's death is simulated by moving its lease's expiry into the past (no test waits
for a clock, except the heartbeat test, which waits for renewals it observes)."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import World
from sqlalchemy import update
from sqlmodel import col, select
from test_runner import FakeExecutor, approved

from lab.db import session_scope
from lab.errors import LeaseLostError, StateTransitionError
from lab.models import (
    AuditEvent,
    CountStatus,
    Experiment,
    ExperimentStatus,
    ExperimentTransition,
    ModelVersion,
    SampleCount,
    utcnow,
)
from lab.runner import Worker
from lab.services import audit as audit_svc
from lab.services import experiment_runs as runs
from lab.services import experiments, models_library, sample_counts
from lab.services.leases import LeaseTerms

S = ExperimentStatus
LONG = LeaseTerms(seconds=600.0, max_attempts=3)  # no heartbeat fires during a test


def expire(world: World, table: Any = Experiment) -> None:
    """The worker holding each lease stopped beating long ago."""
    with world.engine.begin() as conn:
        conn.execute(
            update(table)
            .where(col(table.lease_token).is_not(None))
            .values(lease_expires_at=utcnow() - timedelta(minutes=5))
        )


def row(world: World, exp_id: int) -> Experiment:
    with session_scope(world.engine) as s:
        exp = s.get(Experiment, exp_id)
        assert exp is not None
    exp.status = S(exp.status)  # detached: the table model keeps the stored text
    return exp


def trail(world: World, exp_id: int) -> list[tuple[S, S, str, str]]:
    with session_scope(world.engine) as s:
        rows = s.exec(
            select(ExperimentTransition)
            .where(ExperimentTransition.experiment_id == exp_id)
            .order_by(col(ExperimentTransition.id))
        ).all()
        return [(S(t.from_status), S(t.to_status), t.actor, t.reason) for t in rows]


def events(world: World, exp_id: int) -> list[str]:
    with session_scope(world.engine) as s:
        rows = s.exec(
            select(AuditEvent)
            .where(AuditEvent.object_type == "experiment", AuditEvent.object_id == str(exp_id))
            .order_by(col(AuditEvent.seq))
        ).all()
        return [e.action for e in rows]


def chain_ok(world: World) -> None:
    with session_scope(world.engine) as s:
        report = audit_svc.verify(session=s, actor=world.who("staff"))
    assert report.ok, str(report)


def start_and_die(world: World, exp_id: int, worker_id: str = "w1") -> Experiment:
    """``worker_id`` claims and starts the experiment, then dies (its lease expires)."""
    me = Worker(world.engine, worker_id, Path("unused"), executor=FakeExecutor()).principal
    with session_scope(world.engine) as s:
        claimed = runs.claim_next(session=s, actor=me, terms=LONG)
        assert claimed is not None and claimed.id == exp_id
        runs.start_run(
            session=s, actor=me, experiment_id=exp_id, lease_token=claimed.lease_token or ""
        )
    expire(world)
    return claimed


def test_an_expired_lease_is_requeued_exactly_once_by_two_concurrent_reapers(
    world: World, tmp_path: Path
) -> None:
    # Prepare: four experiments, each claimed and started by a worker that then died
    ids = [approved(world, "bank_a", f"orphan {i}") for i in range(4)]
    for exp_id in ids:
        start_and_die(world, exp_id)
    reapers = [
        Worker(world.engine, f"r{i}", tmp_path, executor=FakeExecutor(), lease_terms=LONG)
        for i in range(2)
    ]
    barrier = threading.Barrier(2)

    def reap(w: Worker) -> None:
        barrier.wait()
        for _ in range(3):
            w.reap()

    # Execute: both reapers at once, each several times
    threads = [threading.Thread(target=reap, args=(w,)) for w in reapers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    # Assert: every experiment was taken over once, by one reaper, and is queued again
    reaped = sorted((r.id, r.outcome) for w in reapers for r in w.reaped)
    assert reaped == [(i, "queued") for i in ids]
    for exp_id in ids:
        got = row(world, exp_id)
        assert got.status is S.QUEUED and got.attempts == 1
        assert got.lease_owner is None and got.lease_token is None and got.claimed_by is None
        moves = [t for t in trail(world, exp_id) if t[0] is S.RUNNING]
        assert len(moves) == 1
        (_, to, actor, reason) = moves[0]
        assert to is S.QUEUED and actor in ("worker:r0", "worker:r1")
        assert reason.startswith("worker w1 lost its lease at ")
        assert reason.endswith("; attempt 1 of 3; requeued")
    chain_ok(world)
    # a worker then runs each requeued experiment once more, as its second attempt
    fake = FakeExecutor()
    w2 = Worker(world.engine, "w2", tmp_path / "runs", executor=fake, lease_terms=LONG)
    w2.run_forever(poll_seconds=0.01, max_idle_polls=1)
    assert sorted(fake.calls) == sorted(f"experiment-{i}" for i in ids)
    for exp_id in ids:
        got = row(world, exp_id)
        assert got.status is S.SUCCEEDED and got.attempts == 2 and got.lease_token is None
        assert events(world, exp_id).count("experiment.reclaimed") == 1
        assert events(world, exp_id).count("experiment.succeeded") == 1


def test_the_last_attempt_fails_with_the_reason(world: World, tmp_path: Path) -> None:
    exp_id = approved(world, "bank_b", "unlucky")
    terms = LeaseTerms(seconds=600.0, max_attempts=2)
    reaper = Worker(world.engine, "r", tmp_path, executor=FakeExecutor(), lease_terms=terms)
    for attempt in (1, 2):
        dead = Worker(world.engine, "w1", tmp_path, executor=FakeExecutor(), lease_terms=terms)
        with session_scope(world.engine) as s:
            claimed = runs.claim_next(session=s, actor=dead.principal, terms=terms)
            assert claimed is not None and claimed.attempts == attempt
        expire(world)
        (done,) = reaper.reap()
        assert done.outcome == ("queued" if attempt == 1 else "failed")
    got = row(world, exp_id)
    assert got.status is S.FAILED
    assert got.failure_reason is not None
    assert got.failure_reason.startswith("worker w1 lost its lease at ")
    assert got.failure_reason.endswith("; attempt 2 of 2; no attempts left")
    # the claimed-but-never-started attempt was requeued without a status change
    assert events(world, exp_id).count("experiment.requeued") == 1
    assert [t[1] for t in trail(world, exp_id)][-1] is S.FAILED
    chain_ok(world)


def test_a_worker_that_lost_its_lease_files_nothing(world: World, tmp_path: Path) -> None:
    # Prepare: while w1 runs, its lease expires and a restarted w1 (same --id) reaps it
    exp_id = approved(world, "bank_c", "stale")
    restarted = Worker(world.engine, "w1", tmp_path, executor=FakeExecutor(), lease_terms=LONG)
    seen: list[str] = []

    def hung_run(cfg: Any, out_dir: Path, runtime: str, progress: Any) -> dict[str, Any]:
        progress("epoch", {"epoch": 0, "loss": 0.7})
        expire(world)  # w1 hangs past its lease ...
        assert [r.outcome for r in restarted.reap()] == ["queued"]  # ... and is reaped
        try:
            progress("epoch", {"epoch": 1, "loss": 0.6})
        except LeaseLostError as exc:
            seen.append(str(exc))
        return FakeExecutor()(cfg, out_dir, runtime, lambda *_: None)

    stale = Worker(world.engine, "w1", tmp_path / "runs", executor=hung_run, lease_terms=LONG)
    # Execute
    assert stale.run_once()
    # Assert: its progress and its result were refused; the experiment waits in the queue
    assert seen and "no longer holds its lease (attempt 1)" in seen[0]
    got = row(world, exp_id)
    assert got.status is S.QUEUED and got.lease_token is None
    assert [p["epoch"] for p in got.progress] == [0]
    with session_scope(world.engine) as s:
        assert s.exec(select(ModelVersion)).all() == []
    # the old token is refused by every filing call
    with session_scope(world.engine) as s:
        with pytest.raises(LeaseLostError):
            runs.succeed_run(
                session=s, actor=stale.principal, experiment_id=exp_id, lease_token="0" * 32
            )
    # the next attempt runs and files it, once
    assert Worker(world.engine, "w2", tmp_path / "runs", executor=FakeExecutor()).run_once()
    assert row(world, exp_id).status is S.SUCCEEDED
    assert events(world, exp_id).count("experiment.succeeded") == 1
    chain_ok(world)


def test_a_stale_sample_count_files_nothing(world: World, tmp_path: Path) -> None:
    ds = world.who("bank_a_ds")
    with session_scope(world.engine) as s:
        req = sample_counts.request_count(
            session=s, actor=ds, sample_id=world.seed.samples["bank_a"]
        )
    w1 = Worker(world.engine, "w1", tmp_path, executor=FakeExecutor(), lease_terms=LONG)
    with session_scope(world.engine) as s:
        job = sample_counts.claim_next_count(session=s, actor=w1.principal, terms=LONG)
        assert job is not None and job.id == req.id
        token = job.lease_token or ""
    expire(world, SampleCount)
    (done,) = Worker(world.engine, "w1", tmp_path, executor=FakeExecutor()).reap()
    assert (done.kind, done.outcome) == ("sample_count", "requested")
    with session_scope(world.engine) as s:
        with pytest.raises(LeaseLostError):
            sample_counts.record_count(
                session=s, actor=w1.principal, count_id=req.id, profile={}, lease_token=token
            )
    with session_scope(world.engine) as s:
        got = s.get(SampleCount, req.id)
        assert got is not None and got.attempts == 1
        assert CountStatus(got.status) is CountStatus.REQUESTED
    chain_ok(world)


@pytest.mark.slow
def test_the_heartbeat_keeps_a_long_job_alive(world: World, tmp_path: Path) -> None:
    # Prepare: a 4 s lease, a job that outlives it several times, a reaper polling meanwhile
    exp_id = approved(world, "bank_d", "long")
    terms = LeaseTerms(seconds=4.0, max_attempts=3)
    reaper = Worker(world.engine, "r", tmp_path, executor=FakeExecutor(), lease_terms=terms)
    expiries: list[Any] = []
    stop = threading.Event()

    def long_run(cfg: Any, out_dir: Path, runtime: str, progress: Any) -> dict[str, Any]:
        started = time.monotonic()
        deadline = started + 300
        while time.monotonic() < deadline:
            when = row(world, exp_id).lease_expires_at
            if not expiries or expiries[-1] != when:
                expiries.append(when)
            if len(expiries) >= 5 and time.monotonic() - started > 3 * terms.seconds:
                break
            time.sleep(0.2)
        return FakeExecutor()(cfg, out_dir, runtime, progress)

    def reap() -> None:
        while not stop.is_set():
            reaper.reap()
            stop.wait(0.2)

    poller = threading.Thread(target=reap)
    poller.start()
    try:
        worker = Worker(world.engine, "w1", tmp_path / "runs", executor=long_run, lease_terms=terms)
        assert worker.run_once()
    finally:
        stop.set()
        poller.join(timeout=60)
    # Assert: renewed again and again, never reaped, filed by its own worker
    assert len(expiries) >= 5 and expiries == sorted(expiries)
    assert reaper.reaped == []
    got = row(world, exp_id)
    assert got.status is S.SUCCEEDED and got.attempts == 1 and got.claimed_by == "worker:w1"


def test_a_cancel_is_seen_at_the_next_heartbeat(world: World, tmp_path: Path) -> None:
    # Prepare: a run that reports nothing the catalog records (only 'tick' events)
    exp_id = approved(world, "bank_a", "quiet")
    terms = LeaseTerms(seconds=0.6, max_attempts=3)  # a heartbeat every 0.2 s
    ds = world.who("bank_a_ds")
    stopped: list[str] = []

    def quiet_run(cfg: Any, out_dir: Path, runtime: str, progress: Any) -> dict[str, Any]:
        with session_scope(world.engine) as s:
            experiments.cancel_experiment(
                session=s, actor=ds, experiment_id=exp_id, reason="wrong sample"
            )
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                progress("tick", {})  # not recorded: only the heartbeat can stop this run
                time.sleep(0.05)
        except BaseException as exc:
            stopped.append(type(exc).__name__)
            raise
        return FakeExecutor()(cfg, out_dir, runtime, progress)

    # Execute
    worker = Worker(world.engine, "w1", tmp_path / "runs", executor=quiet_run, lease_terms=terms)
    assert worker.run_once()
    # Assert: stopped by the cancel, cancelled by the bank, lease ended, nothing filed
    assert stopped == ["RunCancelled"]
    got = row(world, exp_id)
    assert got.status is S.CANCELLED and got.lease_token is None and got.failure_reason is None
    assert trail(world, exp_id)[-1][1:] == (S.CANCELLED, "bank_a_ds", "wrong sample")
    with session_scope(world.engine) as s:
        assert s.exec(select(ModelVersion)).all() == []
    chain_ok(world)


def test_a_finished_orphan_is_adopted_not_rerun(world: World, tmp_path: Path) -> None:
    # Prepare: w1's run wrote its output, then the worker died before filing it
    exp_id = approved(world, "bank_b", "finished orphan")

    class Died(BaseException):
        pass

    def run_then_die(cfg: Any, out_dir: Path, runtime: str, progress: Any) -> dict[str, Any]:
        FakeExecutor()(cfg, out_dir, runtime, progress)
        raise Died

    dead = Worker(world.engine, "w1", tmp_path / "runs", executor=run_then_die, lease_terms=LONG)
    with pytest.raises(Died):
        dead.run_once()
    assert row(world, exp_id).status is S.RUNNING
    expire(world)
    # Execute: the reaper of another worker on the same runs folder
    fake = FakeExecutor()
    reaper = Worker(world.engine, "w2", tmp_path / "runs", executor=fake, lease_terms=LONG)
    (done,) = reaper.reap()
    # Assert: filed from the orphan's metrics.json, not run again
    assert done.outcome == "adopted" and fake.calls == []
    got = row(world, exp_id)
    assert got.status is S.SUCCEEDED and got.lease_token is None
    (last,) = [t for t in trail(world, exp_id) if t[1] is S.SUCCEEDED]
    assert last[3].startswith("worker w1 lost its lease at ")
    assert last[3].endswith("after its run had finished (attempt 1); its result was adopted")
    staff = world.who("staff")
    with session_scope(world.engine) as s:
        assert len(s.exec(select(ModelVersion)).all()) == 1
        mv = models_library.model_for_experiment(session=s, actor=staff, experiment_id=exp_id)
    assert mv is not None
    written = json.loads(
        (tmp_path / "runs" / f"experiment-{exp_id}" / "result" / "metrics.json").read_text()
    )
    assert mv.metrics["auc"] == written["auc"] and mv.parties == ["bank_b", "tax"]
    chain_ok(world)


def test_cancel_and_resubmit_go_through_the_workflow_with_audit_events(
    world: World, tmp_path: Path
) -> None:
    ds, staff = world.who("bank_a_ds"), world.who("staff")
    queued = approved(world, "bank_a", "queued then cancelled")
    with session_scope(world.engine) as s:  # a worker claimed it, then it was cancelled
        claimed = runs.claim_next(
            session=s,
            actor=Worker(world.engine, "w1", tmp_path, executor=FakeExecutor()).principal,
            terms=LONG,
        )
        assert claimed is not None
    other = approved(world, "bank_a", "still approved")
    with session_scope(world.engine) as s:
        experiments.cancel_experiment(session=s, actor=ds, experiment_id=queued, reason="oops")
    with session_scope(world.engine) as s:
        with pytest.raises(StateTransitionError, match="only a cancelled or failed"):
            experiments.resubmit_experiment(session=s, actor=ds, experiment_id=other, reason="")
    assert row(world, queued).status is S.CANCELLED
    with session_scope(world.engine) as s:
        back = experiments.resubmit_experiment(
            session=s, actor=ds, experiment_id=queued, reason="sample fixed"
        )
    assert back.status is S.SUBMITTED and back.attempts == 0 and back.lease_owner is None
    assert events(world, queued)[-3:] == [
        "experiment.cancelled",
        "experiment.draft",
        "experiment.submitted",
    ]
    assert [(t[0], t[1], t[3]) for t in trail(world, queued)][-3:] == [
        (S.QUEUED, S.CANCELLED, "oops"),
        (S.CANCELLED, S.DRAFT, "sample fixed"),
        (S.DRAFT, S.SUBMITTED, "sample fixed"),
    ]
    # the worker that claimed it before the cancel can no longer start it
    with session_scope(world.engine) as s:
        with pytest.raises(LeaseLostError):
            runs.start_run(
                session=s,
                actor=Worker(world.engine, "w1", tmp_path, executor=FakeExecutor()).principal,
                experiment_id=queued,
                lease_token=claimed.lease_token or "",
            )
    with session_scope(world.engine) as s:
        experiments.approve_experiment(session=s, actor=staff, experiment_id=queued)
    w = Worker(world.engine, "w3", tmp_path / "runs", executor=FakeExecutor())
    w.run_forever(poll_seconds=0.01, max_idle_polls=1)
    assert sorted(w.processed) == sorted([other, queued])
    got = row(world, queued)
    assert got.status is S.SUCCEEDED and got.attempts == 1
    chain_ok(world)


def test_jobs_stranded_before_leases_existed_are_reaped_after_the_upgrade(
    world: World, tmp_path: Path
) -> None:
    # Prepare: an experiment running under a worker of the schema before leases (0003)
    from lab.db import downgrade, upgrade

    exp_id = approved(world, "bank_c", "stranded")
    start_and_die(world, exp_id, "old")
    downgrade(world.engine, "0003")
    # Execute: the upgrade gives it an already expired lease; a worker's reaper finds it
    upgrade(world.engine)
    got = row(world, exp_id)
    assert (got.status, got.lease_owner, got.attempts) == (S.RUNNING, "worker:old", 1)
    (done,) = Worker(world.engine, "new", tmp_path, executor=FakeExecutor()).reap()
    # Assert
    assert done.outcome == "queued" and done.reason.startswith("worker old lost its lease at ")
    assert row(world, exp_id).status is S.QUEUED
    chain_ok(world)


def test_staging_is_removed_only_where_no_other_worker_holds_the_lease(
    world: World, tmp_path: Path
) -> None:
    # Prepare: w1 claims a job; its run folder holds a staging folder (as a run writes one)
    from lab.jobs.experiment import ExperimentJob

    exp_id = approved(world, "bank_a", "staged")
    w1 = Worker(world.engine, "w1", tmp_path / "runs", executor=FakeExecutor(), lease_terms=LONG)
    ticket = ExperimentJob().claim(w1)
    assert ticket is not None
    stage = tmp_path / "runs" / f"experiment-{exp_id}" / ".result.tmp-abcd1234"
    (stage / "parties" / "tax").mkdir(parents=True)
    other = Worker(world.engine, "w2", tmp_path / "runs", executor=FakeExecutor())
    # Execute / Assert: a starting worker, and a stale one, leave a live lease's folder alone
    assert other.sweep() == []
    assert ExperimentJob().clean(other, exp_id, token="not-the-lease") == []
    assert stage.is_dir()
    # once the lease expired (its worker died), the next worker to start removes it
    expire(world)
    assert other.sweep() == [stage] and not stage.exists()
