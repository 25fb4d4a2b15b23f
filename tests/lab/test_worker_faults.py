"""`fedlab lab worker` killed mid-run, as a real process: SIGKILL is recovered by
`fedlab lab recover` after the lease expires, SIGTERM and SIGINT drain (finish within the
drain period, or give the job back), and every experiment ends exactly once in a final
state with the reason, with no staging folder left.

The worker runs the stand-in executor of ``slow_executor`` (it waits on a release file), a
lease of 2 s; every wait polls with a generous timeout and nothing is asserted on speed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, World
from sqlmodel import col, select
from test_runner import approved

from lab.db import make_engine, session_scope, upgrade
from lab.models import AuditEvent, Experiment, ExperimentStatus, ExperimentTransition
from lab.seed import seed_demo
from lab.services import audit as audit_svc

S = ExperimentStatus
TIMEOUT = 180.0
pytestmark = pytest.mark.slow


def wait_for(what: str, check: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


@dataclass
class Lab:
    world: World
    db: Path
    runs: Path
    release: Path
    logs: Path

    def env(self) -> dict[str, str]:
        path = os.pathsep.join([str(REPO), str(REPO / "tests" / "lab")])
        return {
            **os.environ,
            "PYTHONPATH": path,
            "FEDLAB_LEASE_SECONDS": "2",
            "FEDLAB_TEST_RELEASE": str(self.release),
            "FEDLAB_HOME": str(self.db.parent / "home"),
        }

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "lab.cli", "lab", *args, "--db", str(self.db)]

    def worker(self, worker_id: str, *extra: str) -> subprocess.Popen[str]:
        log = (self.logs / f"{worker_id}-{time.monotonic_ns()}.log").open("w")
        args = self.cli("worker", "--id", worker_id, "--runtime", "local")
        args += ["--runs", str(self.runs), "--poll", "0.2"]
        args += ["--executor", "slow_executor:executor", *extra]
        return subprocess.Popen(  # noqa: S603 - the test's own interpreter and module
            args, env=self.env(), stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO
        )

    def recover(self) -> str:
        out = subprocess.run(  # noqa: S603
            [*self.cli("recover", "--id", "rescuer"), "--runs", str(self.runs)],
            env=self.env(),
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=TIMEOUT,
            check=True,
        )
        return out.stdout

    def row(self, exp_id: int) -> Experiment:
        with session_scope(self.world.engine) as s:
            exp = s.get(Experiment, exp_id)
            assert exp is not None
        exp.status = S(exp.status)
        return exp

    def started(self, exp_id: int) -> bool:
        return (self.runs / f"experiment-{exp_id}" / "started").is_file()

    def staging(self, exp_id: int) -> list[Path]:
        return list((self.runs / f"experiment-{exp_id}").glob(".result.tmp-*"))

    def finals(self, exp_id: int) -> list[tuple[S, S, str]]:
        """The experiment's moves into a final state or back to the queue."""
        with session_scope(self.world.engine) as s:
            rows = s.exec(
                select(ExperimentTransition)
                .where(ExperimentTransition.experiment_id == exp_id)
                .order_by(col(ExperimentTransition.id))
            ).all()
        ends = (S.SUCCEEDED, S.FAILED, S.CANCELLED)
        return [
            (S(t.from_status), S(t.to_status), t.reason)
            for t in rows
            if S(t.to_status) in ends or S(t.from_status) is S.RUNNING
        ]

    def audit_ok(self, exp_id: int) -> None:
        """The chain verifies and holds one final event for the experiment."""
        staff = self.world.who("staff")
        with session_scope(self.world.engine) as s:
            report = audit_svc.verify(session=s, actor=staff)
            actions = s.exec(
                select(AuditEvent.action).where(
                    AuditEvent.object_type == "experiment", AuditEvent.object_id == str(exp_id)
                )
            ).all()
        assert report.ok, str(report)
        ends = [a for a in actions if a in ("experiment.succeeded", "experiment.failed")]
        assert ends == ["experiment.succeeded"]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    engine = make_engine(tmp_path / "lab.db", create=True)
    upgrade(engine)
    world = World(
        engine, seed_demo(engine, banks=("bank_a",), agencies=("tax",), bank_indicators=False)
    )
    (tmp_path / "logs").mkdir()
    yield Lab(
        world, tmp_path / "lab.db", tmp_path / "runs", tmp_path / "release", tmp_path / "logs"
    )
    engine.dispose()


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out


def test_sigkill_mid_run_is_recovered_and_rerun_exactly_once(lab: Lab) -> None:
    # Prepare: a worker is mid-run (its staging folder holds a party's key file)
    exp_id = approved(lab.world, "bank_a", "killed", ("taxes_paid_12m",))
    proc = lab.worker("w1")
    try:
        wait_for("the run to start", lambda: lab.started(exp_id))
        assert lab.staging(exp_id)
    finally:
        proc.kill()  # Execute: SIGKILL
        proc.communicate(timeout=TIMEOUT)
    assert lab.row(exp_id).status is S.RUNNING  # stranded until its lease expires
    lab.release.touch()
    # recover once the lease has expired (2 s); it may run before that and find nothing
    outputs: list[str] = []

    def reaped() -> bool:
        outputs.append(lab.recover())
        return "queued" in outputs[-1]

    wait_for("recover to reap the job", reaped)
    # Assert: requeued with the reason, the staging folder removed, then run again once
    got = lab.row(exp_id)
    assert got.status is S.QUEUED and got.lease_token is None and not lab.staging(exp_id)
    assert f"experiment {exp_id}: queued (worker w1 lost its lease at " in outputs[-1]
    restarted = lab.worker("w1", "--once")  # the same --id
    code, out = finish(restarted)
    assert code == 0 and out.splitlines()[-1] == "worker w1: 1 experiment(s) processed"
    got = lab.row(exp_id)
    assert got.status is S.SUCCEEDED and got.attempts == 2
    ((_, to1, why1), (_, to2, _)) = lab.finals(exp_id)
    assert to1 is S.QUEUED and why1.startswith("worker w1 lost its lease at ")
    assert why1.endswith("; attempt 1 of 3; requeued") and to2 is S.SUCCEEDED
    lab.audit_ok(exp_id)


def test_sigterm_lets_the_run_finish_and_claims_nothing_more(lab: Lab) -> None:
    first = approved(lab.world, "bank_a", "draining", ("taxes_paid_12m",))
    second = approved(lab.world, "bank_a", "waits", ("taxes_paid_12m",))
    log_files = set(lab.logs.iterdir())
    proc = lab.worker("w1", "--drain", str(TIMEOUT))
    try:
        wait_for("the run to start", lambda: lab.started(first))
        (log,) = set(lab.logs.iterdir()) - log_files
        proc.send_signal(signal.SIGTERM)
        wait_for("the drain", lambda: "SIGTERM: no new jobs" in log.read_text())
        lab.release.touch()
        code, out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
    assert out.splitlines()[-1] == "worker w1: stopped by SIGTERM; 1 experiment(s) processed"
    assert lab.row(first).status is S.SUCCEEDED and lab.row(first).lease_token is None
    assert lab.row(second).status is S.APPROVED
    assert [f[1] for f in lab.finals(first)] == [S.SUCCEEDED]
    assert not lab.staging(first)
    lab.audit_ok(first)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_drain_that_runs_out_gives_the_job_back(lab: Lab, sig: signal.Signals) -> None:
    # Prepare: a run that will not finish within the drain period (0.5 s)
    exp_id = approved(lab.world, "bank_a", "given back", ("taxes_paid_12m",))
    proc = lab.worker("w1", "--drain", "0.5")
    try:
        wait_for("the run to start", lambda: lab.started(exp_id))
        proc.send_signal(sig)  # Execute
        code, out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Assert: the worker exits, the job is queued again with the reason, no staging left
    assert code == 0
    assert out.splitlines()[-1] == f"worker w1: stopped by {sig.name}; 1 experiment(s) processed"
    got = lab.row(exp_id)
    assert got.status is S.QUEUED and got.lease_token is None and got.claimed_by is None
    assert not lab.staging(exp_id)
    ((_, to, why),) = lab.finals(exp_id)
    assert to is S.QUEUED and why.startswith(f"worker w1 was stopped ({sig.name}) at ")
    assert why.endswith("before the run finished; attempt 1 of 3; requeued")
    # another worker then runs it, once
    lab.release.touch()
    code, out = finish(lab.worker("w2", "--once"))
    assert code == 0 and lab.row(exp_id).status is S.SUCCEEDED
    assert [f[1] for f in lab.finals(exp_id)] == [S.QUEUED, S.SUCCEEDED]
    lab.audit_ok(exp_id)
