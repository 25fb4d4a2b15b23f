"""Counting a sample set at the bank through the catalog: request (SDK, CLI), the worker's
run at the bank's node, the counts recorded on the sample set (equal to pandas on the bank's
files), who asked and when, the audit trail, failures, and other banks kept out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import World
from typer.testing import CliRunner

from lab.db import make_engine, session_scope, upgrade
from lab.errors import AccessDeniedError, CatalogError
from lab.runner import Worker
from lab.sdk import Lab
from lab.seed import seed_demo
from lab.services import audit as audit_svc
from lab.services import sample_counts

COLUMNS = ["acct_avg_balance"]


@pytest.fixture
def lab_world(tmp_path: Path) -> Any:
    from features.synth import generate, write

    tables = generate(1200, 5, banks=("bank_a", "bank_b"))
    write(tmp_path / "data", {k: tables[k] for k in ("bank_a", "bank_b", "tax")})
    bank = tables["bank_a"]
    ids = bank[["uscc"]].sample(frac=0.75, random_state=4)
    ids["observation_date"] = pd.date_range("2023-05-01", periods=len(ids), freq="13h").strftime(
        "%Y-%m-%d"
    )
    ids.to_csv(tmp_path / "data" / "ids_2024h1.csv", index=False)
    engine = make_engine(tmp_path / "lab.db", create=True)
    upgrade(engine)
    world = World(
        engine,
        seed_demo(
            engine, banks=("bank_a", "bank_b"), data_dir=tmp_path / "data", agencies=("tax",)
        ),
    )
    yield world, bank, ids, tmp_path
    engine.dispose()


def make_sample(world: World, id_list: str = "ids_2024h1.csv") -> Any:
    lab = Lab(world.engine, world.who("bank_a_ds"))
    return lab.samples.create(
        name="2024H1",
        dataset="bank_a",
        label_column="default_12m",
        id_list_location=id_list,
        observation_start=date(2023, 7, 1),
        observation_end=date(2024, 3, 31),
    )


def test_a_count_at_the_bank_is_recorded_on_the_sample(lab_world: Any) -> None:
    world, bank, ids, tmp = lab_world
    sample = make_sample(world)
    assert sample.counts.source == "none" and sample.counts.n_total is None  # 未计数
    # Execute: the data scientist asks, a worker (local runtime) counts at bank_a's node
    sample.profile(COLUMNS, wait=False)
    worker = Worker(world.engine, "w", tmp / "runs", runtime="local")
    assert worker.run_once() and worker.processed == []  # a count, not an experiment
    assert not worker.run_once()
    got = sample.counts
    # Assert: pandas on the bank's own files
    rows = ids.merge(bank, on="uscc")
    rows = rows[
        (rows["observation_date"] >= "2023-07-01") & (rows["observation_date"] <= "2024-03-31")
    ]
    assert got.source == "bank" and got.requested_by == "bank_a_ds" and got.counted_at
    assert (got.n_total, got.n_positive) == (len(rows), int(rows["default_12m"].sum()))
    assert got.positive_rate == pytest.approx(rows["default_12m"].mean())
    assert got.min_cell == 10 and got.window_applied
    hist = got.histogram("acct_avg_balance")
    assert hist["total"].sum() == len(rows) and (hist["total"] >= 10).all()
    assert int(got.histogram("month")["total"].sum()) == len(rows)
    assert sample.refresh().n_total == len(rows)  # the sample set's own columns too
    staff = world.who("staff")
    with session_scope(world.engine) as s:
        jobs = sample_counts.list_counts(session=s, actor=staff, sample_id=sample.id)
        events = audit_svc.list_events(
            session=s, actor=staff, object_type="sample", object_id=sample.id
        )
    assert [j.status.value for j in jobs] == ["succeeded"]
    assert [e.action for e in events][-3:] == [
        "sample.count_requested",
        "sample.count_started",
        "sample.counted",
    ]
    assert events[-1].details["n_total"] == len(rows)
    assert not any(u in str([e.details for e in events]) for u in ids["uscc"].head(50))


@contextmanager
def running_worker(world: World, tmp: Path) -> Iterator[None]:
    stop = threading.Event()
    worker = Worker(world.engine, "bg", tmp / "runs", runtime="local")
    thread = threading.Thread(
        target=worker.run_forever, kwargs={"poll_seconds": 0.05, "stop": stop}
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def test_profile_waits_for_a_running_worker(lab_world: Any) -> None:
    world, _, _, tmp = lab_world
    sample = make_sample(world)
    with running_worker(world, tmp):
        prof = sample.profile(COLUMNS, timeout=60, poll=0.05)
    assert prof.source == "bank" and prof.n_total and prof.n_total > 100
    assert prof.histograms == ["month", "acct_avg_balance"]


def test_a_failed_count_names_the_file_only_and_keeps_the_declared_counts(lab_world: Any) -> None:
    world, _, _, tmp = lab_world
    sample = make_sample(world, id_list="missing_ids.csv")
    with running_worker(world, tmp), pytest.raises(CatalogError, match="failed"):
        sample.profile(timeout=60, poll=0.05)
    with session_scope(world.engine) as s:
        job = sample_counts.list_counts(
            session=s, actor=world.who("bank_a_ds"), sample_id=sample.id
        )[0]
    assert job.status.value == "failed"
    assert "missing_ids.csv: the sample's ID list is not at the bank" in job.failure_reason
    assert str(tmp) not in job.failure_reason
    assert sample.counts.source == "none"  # still not counted


def test_other_banks_and_agencies_cannot_count_or_read(lab_world: Any) -> None:
    world, _, _, _ = lab_world
    sample = make_sample(world)
    for user in ("bank_b_ds", "bank_b_modeler", "tax_officer"):
        other = Lab(world.engine, world.who(user))
        with pytest.raises(AccessDeniedError):
            other.samples.get(sample.id)
        with pytest.raises(AccessDeniedError), session_scope(world.engine) as s:
            sample_counts.request_count(session=s, actor=other.me, sample_id=sample.id)
    with pytest.raises(AccessDeniedError), session_scope(world.engine) as s:
        sample_counts.request_count(session=s, actor=world.who("staff"), sample_id=sample.id)


def test_the_cli_counts_and_shows(lab_world: Any) -> None:
    from lab.cli import app

    world, _, _, tmp = lab_world
    sample = make_sample(world)
    db = str(tmp / "lab.db")
    runner = CliRunner()
    asked = runner.invoke(
        app,
        [
            "lab",
            "samples",
            "count",
            str(sample.id),
            "--column",
            "acct_avg_balance",
            "--db",
            db,
            "--user",
            "bank_a_modeler",
        ],
    )
    assert asked.exit_code == 0, asked.output
    assert "count requested" in asked.output
    Worker(world.engine, "w", tmp / "runs", runtime="local").run_once()
    shown = runner.invoke(
        app, ["lab", "samples", "show", str(sample.id), "--db", db, "--user", "bank_a_modeler"]
    )
    assert shown.exit_code == 0, shown.output
    prof = sample.counts
    assert f"sample {sample.id}: {prof.n_total} enterprises" in shown.output
    assert "counted at the bank" in shown.output and "acct_avg_balance:" in shown.output
