"""Registry indicators train through the lab: the tax bureau's raw-record folder is
registered (kind ``records``) and its registry indicators name it; an experiment on them
is submitted, approved and run by a worker, and the tax bureau's own process computes
them from its records as of the sample's observation end (seen there: the same table the
generator computed from the same records); the model is filed. An agency whose record
folder is not registered has its registry indicators refused at creation, naming the
indicator and the agency.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import World
from sqlmodel import select

from lab.db import make_engine, session_scope, upgrade
from lab.errors import ConfigError
from lab.models import DatasetRegistration, ExperimentStatus
from lab.runner import Worker
from lab.sdk import Lab
from lab.services import audit as audit_svc
from lab.services import experiments, models_library

TAX = ["TX_PAID_12M", "TX_LATE_FILINGS_12M", "FS_DEBT_TO_ASSET"]
OBSERVATION_END = "2024-06-30"  # the seeded sample's


@pytest.fixture(scope="module")
def records_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Path]]:
    from features.synth import generate, write
    from features.synth_records import write_records
    from lab.seed import seed_demo

    tmp = tmp_path_factory.mktemp("registry_training")
    data = tmp / "data"
    write(data, generate(1500, 17, banks=("bank_a",)))
    write_records(data, 1500, 17, as_of=OBSERVATION_END)
    (data / "records_social_insurance.csv").unlink()  # social insurance has no folder
    engine = make_engine(tmp / "lab.db", create=True)
    upgrade(engine)
    seed = seed_demo(engine, banks=("bank_a",), data_dir=data, agencies=("tax", "social_insurance"))
    yield World(engine, seed), data
    engine.dispose()


def test_the_record_folder_is_registered_and_its_indicators_are_computable(
    records_world: tuple[World, Path],
) -> None:
    world, data = records_world
    with session_scope(world.engine) as s:
        ds = s.exec(
            select(DatasetRegistration).where(DatasetRegistration.name == "tax_records")
        ).one()
        assert (ds.kind, Path(ds.location)) == ("records", data)
        assert {c["name"] for c in ds.columns} == {"records_tax.csv", "records_tax_statements.csv"}
    lab = Lab(world.engine, world.who("bank_a_ds"))
    tax = {i.code: i for i in lab.indicators.list(owner="tax", family="registry")}
    assert set(TAX) <= set(tax) and all(tax[c].computable for c in TAX)
    si = lab.indicators.list(owner="social_insurance", family="registry")
    assert si and not any(i.computable for i in si)


@pytest.mark.slow
def test_a_worker_trains_on_registry_indicators_the_agency_computes(
    records_world: tuple[World, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import federation.partyrecords as pr

    world, data = records_world
    computed: list[tuple[str, str, pd.DataFrame]] = []
    real = pr.read_records

    def spy(folder: Path, **kw: Any) -> pd.DataFrame:
        df = real(folder, **kw)
        computed.append((kw["party"], kw["as_of"], df.copy()))
        return df

    monkeypatch.setattr(pr, "read_records", spy)
    import federation.partydata as pd_mod

    monkeypatch.setattr(pd_mod, "read_records", spy)
    pd_mod.clear_cache()
    exp = Lab(world.engine, world.who("bank_a_ds")).experiments.create(
        name="registry",
        sample=world.seed.samples["bank_a"],
        algorithm="hetero_lr",
        indicators=["bank_a_acct_avg_balance", *TAX],
        params={"epochs": 2},
        backend="plaintext",
    )
    exp.submit("registry indicators")
    staff = world.who("staff")
    with session_scope(world.engine) as s:
        experiments.approve_experiment(session=s, actor=staff, experiment_id=exp.id)
    assert Worker(world.engine, "w-registry", tmp_path / "runs", runtime="local").run_once()
    with session_scope(world.engine) as s:
        got = experiments.get_experiment(session=s, actor=staff, experiment_id=exp.id)
        model = models_library.model_for_experiment(session=s, actor=staff, experiment_id=exp.id)
    assert got.status is ExperimentStatus.SUCCEEDED, got.failure_reason
    assert {(party, as_of) for party, as_of, _ in computed} == {("tax", OBSERVATION_END)}
    table = computed[-1][2].sort_values("uscc").reset_index(drop=True)
    want = pd.read_csv(data / "indicators_tax.csv", dtype={"uscc": str})[["uscc", *TAX]]
    want = want.sort_values("uscc").reset_index(drop=True)
    pd.testing.assert_frame_equal(table, want, check_dtype=False, rtol=1e-12)
    assert model.metrics["n_aligned"] >= 100 and model.metrics["auc"] > 0.55
    # each party kept its receipt of the audit chain head; the chain agrees with them
    kept = sorted(p.name for p in (tmp_path / "runs").rglob("*.receipt.json"))
    assert kept == [
        f"experiment-{exp.id}.bank_a.receipt.json",
        f"experiment-{exp.id}.tax.receipt.json",
    ]
    with session_scope(world.engine) as s:
        report = audit_svc.verify(session=s, actor=staff, receipts=tmp_path / "runs")
    assert report.ok and report.n_receipts == 2, str(report)


def test_an_agency_without_a_record_folder_has_its_registry_indicators_refused(
    records_world: tuple[World, Path],
) -> None:
    world, _ = records_world
    lab = Lab(world.engine, world.who("bank_a_ds"))
    with pytest.raises(ConfigError) as err:
        lab.experiments.create(
            name="no folder",
            sample=world.seed.samples["bank_a"],
            algorithm="hetero_lr",
            indicators=["bank_a_acct_avg_balance", "SI_EMPLOYEES_LATEST"],
            params={"epochs": 1},
            backend="plaintext",
        )
    assert "SI_EMPLOYEES_LATEST" in str(err.value) and "'social_insurance'" in str(err.value)
    assert "raw-record folder" in str(err.value)


def test_an_agency_officer_registers_its_record_folder_from_the_cli(
    records_world: tuple[World, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Runs last in this file: social insurance's indicators become computable."""
    from lab.cli import main

    world, data = records_world
    db = str(data.parent / "lab.db")
    base = ["lab", "datasets", "register-records", "--db", db, "--org", "social_insurance"]
    base += ["--name", "si_records", "--location", str(data / "si")]

    def fedlab(*argv: str, code: int = 0) -> str:
        with pytest.raises(SystemExit) as done:
            main(list(argv))
        assert done.value.code == code
        got = capsys.readouterr()
        return got.err if code else got.out

    def fails(*argv: str) -> str:
        return fedlab(*base, *argv, code=2)

    assert "'tax'" in fails("--table", "tax", "--user", "social_insurance_officer")
    assert "social_insurance" in fails("--table", "social_insurance", "--user", "tax_officer")
    out = fedlab(*base, "--table", "social_insurance", "--user", "social_insurance_officer")
    lab = Lab(world.engine, world.who("bank_a_ds"))
    si = lab.indicators.list(owner="social_insurance", family="registry")
    assert si and all(i.computable for i in si)
    assert f"{len(si)} registry indicator(s) linked" in out
    listed = fedlab("lab", "datasets", "list", "--db", db, "--user", "staff")
    assert "si_records" in listed and "records" in listed
    assert str(data / "si") not in listed  # never where the data lies
