"""Soak: 4 banks x 5 experiments on 2 `fedlab lab worker` processes, a worker SIGKILLed at
random twice and restarted with the same --id; every experiment must end exactly once.

Each worker runs as its own process on one SQLite catalog with a short lease
(``--lease``, default 3 s). Twice, at a random moment while it runs a job, one worker is
killed with SIGKILL and started again; its job's lease expires and a reaper (the other
worker, or the restarted one) requeues it. The script then checks, from the catalog, that
every experiment ended once (one move into a final state, one audit event for it, one model
per success), that the audit chain verifies and that no staging folder is left; it prints
the wall time, how long each killed job took from the kill to its final state, and the
attempts per experiment.

By default the workers run a stand-in executor (:func:`fake_executor`: a run of
``--seconds`` reporting three epochs, written through a staging folder like a real one) so
the soak measures the lab's leases and not training on 2 cores; ``--real`` runs real
hetero LR experiments (local runtime, synthetic data) instead.

    python benchmarks/soak_workers.py [--real] [--seed 7] [--lease 3] [--seconds 1.5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BANKS = ("bank_a", "bank_b", "bank_c", "bank_d")
PER_BANK = 5
WORKERS = ("w0", "w1")
KILLS = 2
TIMEOUT = 900.0
FINAL = ("succeeded", "failed", "cancelled")


def fake_executor(cfg: Any, out_dir: Path, runtime: str, progress: Any) -> dict[str, Any]:
    """A run that takes ``FEDLAB_SOAK_SECONDS`` and reports three epochs (the worker's
    ``--executor``); its output goes through a staging folder, as a real run's does."""
    from federation.outputs import staging

    seconds = float(os.environ.get("FEDLAB_SOAK_SECONDS", "1.5"))
    with staging(out_dir) as stage:
        for epoch in range(3):
            time.sleep(seconds / 3)
            progress("epoch", {"epoch": epoch, "loss": 0.7 - 0.05 * epoch})
        metrics = {"auc": 0.8, "ks": 0.4, "loss": [0.7, 0.65, 0.6], "runtime": runtime}
        (stage / "metrics.json").write_text(json.dumps(metrics))
    return metrics


@dataclass
class Soak:
    """The catalog, the worker processes and what happened to them."""

    root: Path
    args: argparse.Namespace
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: list[tuple[str, int, float]] = field(default_factory=list)  # worker, job, when
    dead_tokens: set[str | None] = field(default_factory=set)  # leases of killed workers

    @property
    def db(self) -> Path:
        return self.root / "lab.db"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "benchmarks")]),
            "FEDLAB_LEASE_SECONDS": str(self.args.lease),
            "FEDLAB_SOAK_SECONDS": str(self.args.seconds),
            "FEDLAB_HOME": str(self.root / "home"),
        }

    def start(self, worker_id: str) -> None:
        cmd = [sys.executable, "-m", "lab.cli", "lab", "worker", "--db", str(self.db)]
        cmd += ["--id", worker_id, "--runtime", "local", "--runs", str(self.root / "runs")]
        cmd += ["--poll", "0.2"]
        if not self.args.real:
            cmd += ["--executor", "soak_workers:fake_executor"]
        log = (self.root / f"{worker_id}.log").open("ab")
        self.procs[worker_id] = subprocess.Popen(  # noqa: S603 - this interpreter, our module
            cmd, env=self.env(), stdout=log, stderr=log, cwd=REPO
        )

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def seed(soak: Soak) -> list[int]:
    """The catalog: 4 banks, the tax agency, 5 approved experiments per bank."""
    from lab.db import make_engine, session_scope, upgrade
    from lab.models import ExperimentCreate
    from lab.seed import seed_demo
    from lab.services import experiments
    from lab.services.catalog import authenticate

    data = None
    if soak.args.real:
        from features.synth import generate, write

        data = soak.root / "data"
        write(data, generate(soak.args.enterprises, soak.args.seed, banks=BANKS))
    engine = make_engine(soak.db, create=True)
    upgrade(engine)
    result = seed_demo(engine, banks=BANKS, data_dir=data, agencies=("tax",))

    def who(name: str) -> Any:
        with session_scope(engine) as s:
            return authenticate(session=s, username=name, password=None, password_required=False)

    ids: list[int] = []
    staff = who("staff")
    for i in range(PER_BANK):
        for bank in BANKS:
            ds = who(f"{bank}_ds")
            with session_scope(engine) as s:
                exp = experiments.create_experiment(
                    session=s,
                    actor=ds,
                    experiment_in=ExperimentCreate(
                        name=f"soak {i}",
                        sample_id=result.samples[bank],
                        algorithm="hetero_lr",
                        indicator_codes=["taxes_paid_12m", "tax_arrears_amount"],
                        params={"epochs": 2},
                        backend="plaintext",
                    ),
                )
                experiments.submit_experiment(session=s, actor=ds, experiment_id=exp.id)
                experiments.approve_experiment(session=s, actor=staff, experiment_id=exp.id)
            ids.append(exp.id)
    engine.dispose()
    return ids


def statuses(soak: Soak) -> dict[int, tuple[str, str | None, str | None]]:
    """Each experiment's status, lease owner and lease token (read beside the workers)."""
    import sqlite3

    conn = sqlite3.connect(soak.db, timeout=60)
    try:
        rows = conn.execute(
            "SELECT id, status, lease_owner, lease_token FROM experiment"
        ).fetchall()
    finally:
        conn.close()
    return {int(i): (str(st), owner, token) for i, st, owner, token in rows}


def kill_one(soak: Soak, rng: random.Random) -> None:
    """SIGKILL a worker that is running a job now (not one a killed worker left), then
    start it again (same --id)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        busy = [
            (owner.removeprefix("worker:"), i, token)
            for i, (st, owner, token) in sorted(statuses(soak).items())
            if st == "running"
            and owner
            and owner.removeprefix("worker:") in soak.procs
            and token not in soak.dead_tokens
        ]
        if busy:
            worker_id, job, token = rng.choice(busy)
            soak.dead_tokens.add(token)
            soak.procs[worker_id].kill()
            soak.procs[worker_id].wait()
            soak.kills.append((worker_id, job, time.monotonic()))
            print(f"  SIGKILL {worker_id} while it ran experiment {job}; restarted")
            soak.start(worker_id)
            return
        time.sleep(0.1)
    raise SystemExit("no worker was ever busy: is the catalog seeded?")


def wait_final(soak: Soak, ids: list[int]) -> dict[int, float]:
    """Wait until every experiment is final; when each killed job became final."""
    done_at: dict[int, float] = {}
    deadline = time.monotonic() + TIMEOUT
    killed = {job for _, job, _ in soak.kills}
    while time.monotonic() < deadline:
        now = statuses(soak)
        for job in killed:
            if job not in done_at and now[job][0] in FINAL:
                done_at[job] = time.monotonic()
        if all(now[i][0] in FINAL for i in ids):
            return done_at
        time.sleep(0.2)
    left = {i: now[i][0] for i in ids if now[i][0] not in FINAL}
    raise SystemExit(f"timed out: not final after {TIMEOUT} s: {left}")


def check(soak: Soak, ids: list[int]) -> Counter[int]:
    """Every experiment ended exactly once; the audit chain holds; nothing is staged."""
    from sqlmodel import col, select

    from lab.db import make_engine, session_scope
    from lab.models import AuditEvent, Experiment, ExperimentTransition, ModelVersion
    from lab.services import audit as audit_svc
    from lab.services.catalog import authenticate

    engine = make_engine(soak.db)
    problems: list[str] = []
    with session_scope(engine) as s:
        staff = authenticate(session=s, username="staff", password=None, password_required=False)
        report = audit_svc.verify(session=s, actor=staff)
        ends = s.exec(
            select(ExperimentTransition.experiment_id).where(
                col(ExperimentTransition.to_status).in_(FINAL)
            )
        ).all()
        events = s.exec(
            select(AuditEvent.object_id).where(
                col(AuditEvent.action).in_([f"experiment.{f}" for f in FINAL])
            )
        ).all()
        models = Counter(s.exec(select(ModelVersion.experiment_id)).all())
        rows = {e.id: e for e in s.exec(select(Experiment)).all()}
    engine.dispose()
    for name, counts in (
        ("final transition", Counter(ends)),
        ("final audit event", Counter(int(e) for e in events)),
    ):
        wrong = {i: counts[i] for i in ids if counts[i] != 1}
        if wrong:
            problems.append(f"experiments without exactly one {name}: {wrong}")
    for i in ids:
        if (rows[i].status == "succeeded") != (models[i] == 1) or models[i] > 1:
            problems.append(f"experiment {i}: status {rows[i].status}, {models[i]} model(s)")
    if not report.ok:
        problems.append(str(report))
    staged = sorted(str(p) for p in (soak.root / "runs").glob("*/.*.tmp-*"))
    if staged:
        problems.append(f"staging folders left: {staged}")
    if problems:
        raise SystemExit("FAILED:\n  " + "\n  ".join(problems))
    return Counter(rows[i].attempts for i in ids)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", action="store_true", help="Real hetero LR runs (local runtime).")
    ap.add_argument("--seed", type=int, default=7, help="When and whom to kill.")
    ap.add_argument("--lease", type=float, default=3.0, help="FEDLAB_LEASE_SECONDS.")
    ap.add_argument("--seconds", type=float, default=1.5, help="A stand-in run's length.")
    ap.add_argument("--enterprises", type=int, default=300, help="--real: synthetic size.")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        soak = Soak(Path(tmp), args)
        ids = seed(soak)
        kind = (
            "real hetero LR (local runtime)" if args.real else f"stand-in runs of {args.seconds} s"
        )
        print(f"soak: {len(ids)} experiments, {len(WORKERS)} workers, {kind}, lease {args.lease} s")
        started = time.monotonic()
        for worker_id in WORKERS:
            soak.start(worker_id)
        try:
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.5, 3.0))
                kill_one(soak, rng)
            done_at = wait_final(soak, ids)
            wall = time.monotonic() - started
        finally:
            soak.stop_all()
        attempts = check(soak, ids)
        final = Counter(st for st, _, _ in statuses(soak).values())
    print(f"  every experiment ended exactly once: {dict(final)}; audit chain verified")
    print(f"  attempts per experiment: {dict(sorted(attempts.items()))}")
    for worker_id, job, at in soak.kills:
        print(f"  kill of {worker_id} -> experiment {job} final after {done_at[job] - at:.1f} s")
    print(f"  wall time: {wall:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
