"""Samples define populations: two samples over one bank table, run through the worker.

Each sample's ID list (a CSV at the bank, with an observation date per enterprise) ∩ the
bank's authorizations valid on the sample's observation end ∩ its window ∩ the hosts'
tables is the population that trains; the expected counts are computed here with pandas
from the files at the bank and the hosts, independently of the lab and the federation.
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

from lab.db import make_engine, session_scope, upgrade
from lab.errors import ConfigError
from lab.models import ExperimentStatus
from lab.runner import Worker
from lab.sdk import Lab
from lab.services import experiments, models_library

HOSTS = ("tax", "market_regulation")
INDICATORS = ["taxes_paid_12m", "company_age_years"]


@pytest.fixture(scope="module")
def bank_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Path]]:
    from features.synth import generate, write
    from lab.seed import seed_demo

    tmp = tmp_path_factory.mktemp("populations")
    data = tmp / "data"
    write(data, generate(2000, 5, banks=("bank_a",)))
    bank = pd.read_csv(data / "bank_a.csv", dtype={"uscc": str})
    rng = np.random.default_rng(3)
    for name, share, seed in (("ids_a.csv", 0.6, 1), ("ids_b.csv", 0.45, 2)):
        pick = np.random.default_rng(seed).random(len(bank)) < share
        ids = bank.loc[pick, ["uscc"]].copy()
        days = rng.integers(0, 730, size=len(ids))
        ids["observation_date"] = (
            pd.Timestamp("2023-01-01") + pd.to_timedelta(days, "D")
        ).strftime("%Y-%m-%d")
        strangers = pd.DataFrame(
            {"uscc": [f"91110000MA{i:07d}X" for i in range(15)], "observation_date": "2024-01-15"}
        )
        pd.concat([ids, strangers]).to_csv(data / name, index=False)
    engine = make_engine(tmp / "lab.db", create=True)
    upgrade(engine)
    seed = seed_demo(engine, banks=("bank_a",), data_dir=data, agencies=HOSTS)
    yield World(engine, seed), data
    engine.dispose()


def expected_population(
    data: Path, id_list: str, start: date, end: date, validation_from: date | None = None
) -> dict[str, int]:
    """pandas at the bank: ID list ∩ authorizations valid on ``end`` ∩ window ∩ hosts."""
    ids = pd.read_csv(data / id_list, dtype=str)
    if "observation_date" in ids.columns:  # else: the whole list (no date to window by)
        seen = pd.to_datetime(ids["observation_date"])
        ids = ids[(seen >= pd.Timestamp(start)) & (seen <= pd.Timestamp(end))]
    bank = pd.read_csv(data / "bank_a.csv", dtype={"uscc": str})
    auth = pd.read_csv(data / "authorizations.csv", dtype=str)
    as_of = pd.Timestamp(end)
    valid = auth[
        (auth["bank"] == "bank_a")
        & (pd.to_datetime(auth["granted_on"]) <= as_of)
        & (pd.to_datetime(auth["expires_on"]) >= as_of)
    ]
    keep = set(ids["uscc"]) & set(bank["uscc"]) & set(valid["uscc"])
    n_sample = len(keep)
    for host in HOSTS:
        keep &= set(pd.read_csv(data / f"{host}.csv", dtype={"uscc": str})["uscc"])
    out = {"n_sample": n_sample, "n_aligned": len(keep)}
    if validation_from is not None:
        dates = ids.set_index("uscc")["observation_date"]
        out["n_valid"] = sum(pd.Timestamp(dates[i]) >= pd.Timestamp(validation_from) for i in keep)
        out["n_train"] = out["n_aligned"] - out["n_valid"]
    return out


def run_sample(world: World, tmp: Path, sample_id: int, name: str) -> Any:
    """An approved hetero LR experiment on ``sample_id``, run by a worker (local runtime)."""
    ds_lab = Lab(world.engine, world.who("bank_a_ds"))
    exp = ds_lab.experiments.create(
        name=name,
        sample=sample_id,
        algorithm="hetero_lr",
        indicators=INDICATORS,
        params={"epochs": 2},
        backend="plaintext",
    )
    exp.submit("population test")
    with session_scope(world.engine) as s:
        experiments.approve_experiment(session=s, actor=world.who("staff"), experiment_id=exp.id)
    worker = Worker(world.engine, f"w-{name}", tmp / "runs", runtime="local")
    assert worker.run_once()
    staff = world.who("staff")
    with session_scope(world.engine) as s:
        got = experiments.get_experiment(session=s, actor=staff, experiment_id=exp.id)
        model = models_library.model_for_experiment(session=s, actor=staff, experiment_id=exp.id)
    return got, model


@pytest.mark.slow
def test_two_samples_over_one_table_train_on_their_own_populations(
    bank_world: tuple[World, Path], tmp_path: Path
) -> None:
    world, data = bank_world
    lab = Lab(world.engine, world.who("bank_a_ds"))
    windows = {
        "a": (date(2023, 7, 1), date(2024, 6, 30), None),
        "b": (date(2023, 4, 1), date(2024, 9, 30), date(2024, 4, 1)),  # out of time
    }
    results = {}
    for key, (start, end, cut) in windows.items():
        sample = lab.samples.create(
            name=f"sample {key}",
            dataset="bank_a",
            label_column="default_12m",
            id_list_location=f"ids_{key}.csv",  # at the bank, beside its table
            observation_start=start,
            observation_end=end,
            validation_start=cut,
        )
        assert sample.counts.source == "none"  # 未计数 until counted at the bank
        got, model = run_sample(world, tmp_path, sample.id, f"pop-{key}")
        assert got.status is ExperimentStatus.SUCCEEDED, got.failure_reason
        want = expected_population(data, f"ids_{key}.csv", start, end, cut)
        assert model.metrics["n_aligned"] == want["n_aligned"]
        assert model.metrics["n_train"] + model.metrics["n_valid"] == want["n_aligned"]
        lineage = model.lineage
        assert lineage["sample"] == sample.id and lineage["sample_version"] == 1
        assert lineage["population"]["n_aligned"] == want["n_aligned"]
        if cut is not None:  # out-of-time: the rows observed from the cut validate
            assert model.metrics["n_valid"] == want["n_valid"]
            assert model.metrics["n_train"] == want["n_train"]
            assert lineage["validation"] == f"out_of_time from {cut.isoformat()}"
        else:
            assert lineage["validation"] == "random"
        results[key] = want
    # the two lists decide two different populations, each far from the whole table's
    whole = expected_population(data, "bank_a.csv", date(2000, 1, 1), date(2024, 6, 30))
    assert results["a"]["n_aligned"] != results["b"]["n_aligned"]
    assert max(r["n_aligned"] for r in results.values()) < 0.7 * whole["n_aligned"]


@pytest.mark.slow
def test_an_edited_sample_trains_as_its_new_version(
    bank_world: tuple[World, Path], tmp_path: Path
) -> None:
    world, data = bank_world
    lab = Lab(world.engine, world.who("bank_a_ds"))
    v1 = lab.samples.create(
        name="edited",
        dataset="bank_a",
        label_column="default_12m",
        id_list_location="ids_a.csv",
        observation_start=date(2023, 7, 1),
        observation_end=date(2024, 6, 30),
        n_total=500,
        n_positive=50,
    )
    v2 = v1.edit(id_list_location="ids_b.csv", observation_start=date(2023, 10, 1))
    assert (v2.version, v2.previous_id, v2.name) == (2, v1.id, "edited")
    assert v2.counts.source == "none" and v2.counts.n_total is None  # not counted yet
    old = v1.refresh()
    assert not old.current and old.counts.n_total == 500  # the old version stays as it was
    assert old.name == "edited (v1)"  # the name goes to the current version
    with pytest.raises(ConfigError, match="newer version"):
        old.edit(label_definition="90+ dpd")
    with pytest.raises(ConfigError, match="newer version"):
        lab.experiments.create(
            name="on v1", sample=v1.id, algorithm="hetero_lr", indicators=INDICATORS
        )
    got, model = run_sample(world, tmp_path, v2.id, "edited-v2")
    assert got.status is ExperimentStatus.SUCCEEDED, got.failure_reason
    want = expected_population(data, "ids_b.csv", date(2023, 10, 1), date(2024, 6, 30))
    assert model.metrics["n_aligned"] == want["n_aligned"]
    assert model.lineage["sample"] == v2.id and model.lineage["sample_version"] == 2


@pytest.mark.slow
def test_a_missing_id_list_fails_the_run_at_the_bank_naming_the_file(
    bank_world: tuple[World, Path], tmp_path: Path
) -> None:
    world, _ = bank_world
    lab = Lab(world.engine, world.who("bank_a_ds"))
    sample = lab.samples.create(
        name="no list",
        dataset="bank_a",
        label_column="default_12m",
        id_list_location="gone/ids_2024.csv",
        observation_end=date(2024, 6, 30),
    )
    got, model = run_sample(world, tmp_path, sample.id, "no-list")
    assert got.status is ExperimentStatus.FAILED and model is None
    reason = got.failure_reason or ""
    assert "FEDLAB-202" in reason and "ids_2024.csv" in reason, reason
    assert "bank_a" in reason  # the party that refused
    assert str(tmp_path) not in reason and "gone/" not in reason  # the file's name only
