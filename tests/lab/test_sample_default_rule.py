"""A sample's default rule (逾期定义) decides its label, at the bank, through the catalog:
two versions of one sample (days past due >= 30, then >= 90) and a status-set sample (五级分类
次级/可疑/损失) are counted at the bank and trained by a worker; the positives counted and
the labels trained on equal pandas on the bank's own table; the lineage records the rule; a
rule reading a column the bank's table lacks fails at the bank naming the file and column.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import World
from sqlmodel import Session, select

from lab.db import make_engine, session_scope, upgrade
from lab.errors import ConfigError
from lab.models import DatasetRegistration, ExperimentStatus
from lab.runner import Worker
from lab.sdk import Lab
from lab.services import experiments, models_library

HOSTS = ("tax",)
INDICATORS = ["taxes_paid_12m"]
START, END = date(2023, 7, 1), date(2024, 6, 30)
STATUSES = ["正常", "关注", "次级", "可疑", "损失"]


def bank_dataset(s: Session) -> DatasetRegistration:
    return s.exec(select(DatasetRegistration).where(DatasetRegistration.name == "bank_a")).one()


@pytest.fixture(scope="module")
def bank_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Path]]:
    from features.synth import generate, write
    from lab.seed import seed_demo

    tmp = tmp_path_factory.mktemp("default_rule")
    data = tmp / "data"
    tables = generate(1600, 9, banks=("bank_a",))
    rng = np.random.default_rng(11)
    n = len(tables["bank_a"])
    tables["bank_a"] = tables["bank_a"].assign(
        dpd_max_12m=rng.choice([0, 0, 0, 0, 7, 20, 31, 45, 60, 89, 90, 150], n),
        risk_class=rng.choice(STATUSES, n, p=[0.55, 0.2, 0.1, 0.1, 0.05]),
    )
    write(data, tables)
    bank = tables["bank_a"]
    ids = bank.loc[rng.random(n) < 0.7, ["uscc"]].copy()
    days = rng.integers(0, 730, size=len(ids))
    ids["observation_date"] = (pd.Timestamp("2023-01-01") + pd.to_timedelta(days, "D")).strftime(
        "%Y-%m-%d"
    )
    ids.to_csv(data / "ids.csv", index=False)
    engine = make_engine(tmp / "lab.db", create=True)
    upgrade(engine)
    seed = seed_demo(engine, banks=("bank_a",), data_dir=data, agencies=HOSTS)
    with session_scope(engine) as s:  # the bank registers its table's new columns
        ds = bank_dataset(s)
        ds.columns = [
            *ds.columns,
            {"name": "dpd_max_12m", "dtype": "int"},
            {"name": "risk_class", "dtype": "str"},
        ]
        s.add(ds)
    yield World(engine, seed), data
    engine.dispose()


def bank_rows(data: Path, *, hosts: bool) -> pd.DataFrame:
    """pandas at the bank: its rows in the ID list ∩ window (∩ authorizations valid on the
    window's end ∩ the hosts' tables, when ``hosts``)."""
    ids = pd.read_csv(data / "ids.csv", dtype=str)
    seen = pd.to_datetime(ids["observation_date"])
    ids = ids[(seen >= pd.Timestamp(START)) & (seen <= pd.Timestamp(END))]
    rows = pd.read_csv(data / "bank_a.csv", dtype={"uscc": str}).merge(ids, on="uscc")
    if not hosts:
        return rows
    auth = pd.read_csv(data / "authorizations.csv", dtype=str)
    as_of = pd.Timestamp(END)
    valid = auth[
        (auth["bank"] == "bank_a")
        & (pd.to_datetime(auth["granted_on"]) <= as_of)
        & (pd.to_datetime(auth["expires_on"]) >= as_of)
    ]
    rows = rows[rows["uscc"].isin(set(valid["uscc"]))]
    for host in HOSTS:
        rows = rows[rows["uscc"].isin(set(pd.read_csv(data / f"{host}.csv", dtype=str)["uscc"]))]
    return rows


def train(
    world: World, tmp: Path, sample_id: int, name: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any, list[np.ndarray]]:
    """An approved hetero LR experiment on the sample, run by a worker (local runtime), and
    the labels the bank's process trained on (seen there, by a spy on its split)."""
    import federation.hetero_lr.guest as guest

    seen: list[np.ndarray] = []
    real = guest.validation_rows

    def spy(ctx: Any, y: np.ndarray, *args: Any) -> np.ndarray:
        seen.append(np.asarray(y).copy())
        return real(ctx, y, *args)

    monkeypatch.setattr(guest, "validation_rows", spy)
    exp = Lab(world.engine, world.who("bank_a_ds")).experiments.create(
        name=name,
        sample=sample_id,
        algorithm="hetero_lr",
        indicators=INDICATORS,
        params={"epochs": 1},
        backend="plaintext",
    )
    exp.submit("default rule test")
    with session_scope(world.engine) as s:
        experiments.approve_experiment(session=s, actor=world.who("staff"), experiment_id=exp.id)
    assert Worker(world.engine, f"w-{name}", tmp / "runs", runtime="local").run_once()
    staff = world.who("staff")
    with session_scope(world.engine) as s:
        got = experiments.get_experiment(session=s, actor=staff, experiment_id=exp.id)
        model = models_library.model_for_experiment(session=s, actor=staff, experiment_id=exp.id)
    return got, model, seen


def count(world: World, tmp: Path, sample: Any) -> Any:
    sample.profile(wait=False)
    assert Worker(world.engine, "w-count", tmp / "runs", runtime="local").run_once()
    return sample.refresh().counts


@pytest.mark.slow
def test_two_versions_with_30_and_90_days_past_due_train_on_their_own_labels(
    bank_world: tuple[World, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, data = bank_world
    lab = Lab(world.engine, world.who("bank_a_ds"))
    v1 = lab.samples.create(
        name="dpd sample",
        dataset="bank_a",
        label_column="dpd_max_12m",
        id_list_location="ids.csv",
        observation_start=START,
        observation_end=END,
        default_rule="dpd>=30",
    )
    assert v1.default_rule == {"kind": "days_past_due", "min_days": 30}
    counted = count(world, tmp_path, v1)
    at_bank = bank_rows(data, hosts=False)
    assert (counted.n_total, counted.n_positive) == (
        len(at_bank),
        int((at_bank["dpd_max_12m"] >= 30).sum()),
    )
    aligned = bank_rows(data, hosts=True)
    models = {}
    for days in (30, 90):
        if days == 90:  # a new version: not counted, the old one keeps its rule
            v2 = v1.edit(default_rule={"kind": "days_past_due", "min_days": 90})
            assert (v2.version, v2.previous_id, v2.counts.source) == (2, v1.id, "none")
            assert v1.refresh().default_rule == {"kind": "days_past_due", "min_days": 30}
        current = v1 if days == 30 else v2
        got, model, seen = train(world, tmp_path, current.id, f"dpd-{days}", monkeypatch)
        assert got.status is ExperimentStatus.SUCCEEDED, got.failure_reason
        (y,) = seen
        assert y.size == len(aligned) == model.metrics["n_aligned"]
        assert int(y.sum()) == int((aligned["dpd_max_12m"] >= days).sum())
        models[days] = model
    assert models[30].lineage["sample_version"] == 1
    assert models[90].lineage["sample_version"] == 2
    for days, model in models.items():
        lineage = model.lineage
        assert lineage["label_column"] == "dpd_max_12m"
        assert lineage["default_rule"] == {"kind": "days_past_due", "min_days": days}
        assert f"≥ {days}" in lineage["default_rule_text"]["zh"]
        assert f">= {days}" in lineage["default_rule_text"]["en"]
        assert "n_positive" not in model.metrics  # no new count leaves the bank
    assert (aligned["dpd_max_12m"] >= 30).sum() > (aligned["dpd_max_12m"] >= 90).sum()


@pytest.mark.slow
def test_a_status_set_rule_decides_the_label(
    bank_world: tuple[World, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, data = bank_world
    codes = ["次级", "可疑", "损失"]  # 关注 is not a default
    sample = Lab(world.engine, world.who("bank_a_ds")).samples.create(
        name="five-class",
        dataset="bank_a",
        label_column="risk_class",
        id_list_location="ids.csv",
        observation_start=START,
        observation_end=END,
        default_rule="status:次级,可疑,损失",
    )
    counted = count(world, tmp_path, sample)
    at_bank = bank_rows(data, hosts=False)
    assert counted.n_positive == int(at_bank["risk_class"].isin(codes).sum())
    got, model, seen = train(world, tmp_path, sample.id, "status", monkeypatch)
    assert got.status is ExperimentStatus.SUCCEEDED, got.failure_reason
    aligned = bank_rows(data, hosts=True)
    assert int(seen[0].sum()) == int(aligned["risk_class"].isin(codes).sum())
    assert model.lineage["default_rule"] == {"kind": "status_in", "codes": sorted(codes)}


def test_bad_rules_are_refused_when_the_sample_is_made(bank_world: tuple[World, Path]) -> None:
    world, _ = bank_world
    lab = Lab(world.engine, world.who("bank_a_ds"))
    made = {"dataset": "bank_a", "id_list_location": "ids.csv"}
    for rule, words in (
        ("dpd>=0", "greater than 0"),
        ({"kind": "days_past_due", "min_days": "ninety"}, "integer"),
        ({"kind": "status_in", "codes": []}, "may not be empty"),
    ):
        with pytest.raises(ConfigError, match=words):
            lab.samples.create(name="bad", label_column="dpd_max_12m", default_rule=rule, **made)
    with pytest.raises(ConfigError, match="days past due from 'risk_class', a str column"):
        lab.samples.create(name="bad", label_column="risk_class", default_rule="dpd>=90", **made)


@pytest.mark.slow
def test_a_rule_on_a_column_missing_at_the_bank_fails_naming_file_and_column(
    bank_world: tuple[World, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, _ = bank_world
    with session_scope(world.engine) as s:  # registered, but not in the bank's file
        ds = bank_dataset(s)
        ds.columns = [*ds.columns, {"name": "dpd_max_24m", "dtype": "int"}]
        s.add(ds)
    sample = Lab(world.engine, world.who("bank_a_ds")).samples.create(
        name="missing column",
        dataset="bank_a",
        label_column="dpd_max_24m",
        id_list_location="ids.csv",
        observation_start=START,
        observation_end=END,
        default_rule="dpd>=90",
    )
    got, model, _ = train(world, tmp_path, sample.id, "missing", monkeypatch)
    assert got.status is ExperimentStatus.FAILED and model is None
    reason = got.failure_reason or ""
    assert "bank_a.csv" in reason and "dpd_max_24m" in reason, reason
    assert str(tmp_path) not in reason


def test_the_cli_creates_a_sample_with_a_rule(bank_world: tuple[World, Path]) -> None:
    from typer.testing import CliRunner

    from lab.cli import app

    world, data = bank_world
    db = str(data.parent / "lab.db")
    args = ["lab", "samples", "create", "--dataset", "bank_a", "--id-list", "ids.csv"]
    who = ["--label-column", "dpd_max_12m", "--db", db, "--user", "bank_a_ds"]
    runner = CliRunner()
    made = runner.invoke(app, [*args, "--name", "cli 60", "--default-rule", "dpd>=60", *who])
    assert made.exit_code == 0, made.output
    assert "default when dpd_max_12m (days past due) >= 60" in made.output
    bad = runner.invoke(app, [*args, "--name", "cli bad", "--default-rule", "dpd>=-1", *who])
    assert isinstance(bad.exception, ConfigError)  # the CLI's entry point prints its code and hint
    assert "positive whole number" in str(bad.exception)
