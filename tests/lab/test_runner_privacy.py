"""A real run that fails on a party's bad data leaves none of its values in the catalog.

Sentinel IDs are planted in one bank's file and a sentinel cell in the tax agency's; the
worker runs each experiment through the federation (local runtime) and both fail at the
party. The failure reason names the party, file, column, count and lines; no sentinel is in
the experiment's reason, progress or transitions, in the audit trail (which cannot be
cleaned afterwards), or anywhere else in the catalog.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from conftest import World
from sqlalchemy import Engine, MetaData, select

from lab.db import make_engine, session_scope, upgrade
from lab.models import ExperimentCreate, ExperimentStatus
from lab.runner import Worker
from lab.services import experiments

BAD_IDS = {1: "9003SNTL000BANKZZZ", 4: "9004SNTL001BANKZZZ"}  # rows of bank_a.csv
BAD_CELL = {2: "SNTL5521TAX"}  # a row of tax.csv, column taxes_paid_12m


def _plant(path: Path, column: str, rows: dict[int, str]) -> None:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for row, value in rows.items():
        df.loc[row, column] = value
    df.to_csv(path, index=False)


def _catalog_text(engine: Engine) -> str:
    """Every row of every table of the catalog, as text."""
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return "\n".join(
            str(tuple(row)) for table in meta.sorted_tables for row in conn.execute(select(table))
        )


def _experiment(world: World, bank: str, indicators: list[str]) -> int:
    ds, staff = world.who(f"{bank}_modeler"), world.who("staff")
    with session_scope(world.engine) as s:
        exp = experiments.create_experiment(
            session=s,
            actor=ds,
            experiment_in=ExperimentCreate(
                name=f"{bank} tax lr",
                sample_id=world.seed.samples[bank],
                algorithm="hetero_lr",
                indicator_codes=indicators,
                params={"epochs": 1},
                backend="plaintext",
            ),
        )
        experiments.submit_experiment(session=s, actor=ds, experiment_id=exp.id)
        experiments.approve_experiment(session=s, actor=staff, experiment_id=exp.id)
    return exp.id


def test_failed_real_runs_leave_no_raw_value_in_the_catalog(tmp_path: Path) -> None:
    from features.synth import generate, write
    from lab.seed import seed_demo

    # Prepare: two banks, tax; bank_a's IDs and a tax cell are broken with sentinels
    data = tmp_path / "data"
    write(data, generate(300, 7, banks=("bank_a", "bank_b")))
    _plant(data / "bank_a.csv", "uscc", BAD_IDS)
    _plant(data / "tax.csv", "taxes_paid_12m", BAD_CELL)
    sentinels = [*BAD_IDS.values(), *BAD_CELL.values()]
    engine = make_engine(tmp_path / "lab.db", create=True)
    upgrade(engine)
    seed = seed_demo(
        engine,
        banks=("bank_a", "bank_b"),
        data_dir=data,
        agencies=("tax",),
        standing_consents=("tax",),
    )
    world = World(engine, seed)
    tax = seed.indicators["tax"][:2]
    ids = {
        "bank_a": _experiment(world, "bank_a", seed.indicators["bank_a"][:2] + tax),
        "bank_b": _experiment(world, "bank_b", seed.indicators["bank_b"][:2] + tax),
    }
    # Execute: the real federation, local runtime
    worker = Worker(engine, "privacy", tmp_path / "runs", runtime="local")
    while worker.run_once():
        pass
    # Assert: failed, with reasons that name party, file, column, count and lines
    staff = world.who("staff")
    expected = {
        "bank_a": (
            "party 'bank_a' failed in 'align.setup': DataValidationError [FEDLAB-200]: "
            "bank_a.csv: column 'uscc': 2 malformed USCCs",
            "(lines 3, 6)",
        ),
        "bank_b": (
            "party 'tax' failed in 'align.setup': DataValidationError [FEDLAB-200]: "
            "tax.csv: column 'taxes_paid_12m': 1 non-numeric values in a numeric column",
            "(line 4)",
        ),
    }
    for bank, exp_id in ids.items():
        with session_scope(engine) as s:
            got = experiments.get_experiment(session=s, actor=staff, experiment_id=exp_id)
            trail = experiments.transitions(session=s, actor=staff, experiment_id=exp_id)
        reason = got.failure_reason or ""
        assert got.status is ExperimentStatus.FAILED, (bank, got.status)
        assert all(part in reason for part in expected[bank]), reason
        assert trail[-1].reason == reason
    # no sentinel anywhere: reasons, progress, transitions, audit events, every other table
    everything = _catalog_text(engine)
    assert "failed in 'align.setup'" in everything  # the reasons are in what was searched
    assert [s for s in sentinels if s in everything] == []
    engine.dispose()
