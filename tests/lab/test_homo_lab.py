"""Horizontal experiments through the lab: banks' samples, refusal of one-bank runs, partner
banks' consent, default backends, and a run over 4 banks that matches the pooled model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import World
from sqlalchemy import Engine
from sqlmodel import select

from federation.algorithms import backends_for, catalog_algorithms
from federation.config import ExperimentSection
from federation.homo.params import parse_params, resolve_backend
from federation.homo.reference import pooled_reference
from lab.db import make_engine, session_scope, upgrade
from lab.errors import ConsentError, HorizontalBanksError
from lab.jobs.experiment import nested_params
from lab.models import ExperimentCreate, ExperimentStatus, ModelVersion
from lab.runner import Worker
from lab.seed import seed_demo
from lab.seed_banks import horizontal_experiment, seed_banks
from lab.services import consent, experiments

S = ExperimentStatus
BANKS = ("bank_a", "bank_b", "bank_c", "bank_d")


def _draft(world: World, algorithm: str, partners: tuple[str, ...] = ()) -> int:
    ds = world.who("bank_a_ds")
    with session_scope(world.engine) as s:
        exp = experiments.create_experiment(
            session=s,
            actor=ds,
            experiment_in=ExperimentCreate(
                name=f"{algorithm} draft",
                sample_id=world.seed.samples["bank_a"],
                partner_sample_ids=[world.seed.samples[b] for b in partners],
                algorithm=algorithm,
                indicator_codes=list(world.seed.indicators.get("bank_a", []))[:3],
            ),
        )
    return exp.id


@pytest.mark.parametrize("algorithm", ["homo_lr", "homo_nn"])
def test_one_bank_homo_experiment_is_refused_at_submission(world: World, algorithm: str) -> None:
    exp_id = _draft(world, algorithm)
    ds = world.who("bank_a_ds")
    with (
        pytest.raises(HorizontalBanksError, match="at least 2 banks") as err,
        session_scope(world.engine) as s,
    ):
        experiments.submit_experiment(session=s, actor=ds, experiment_id=exp_id)
    assert err.value.code == "FEDLAB-120" and "bank_a" in str(err.value)
    with session_scope(world.engine) as s:
        got = experiments.get_experiment(session=s, actor=ds, experiment_id=exp_id)
    assert got.status is S.DRAFT and got.submitted_at is None


def test_partner_samples_are_other_banks_one_each_and_horizontal_only(world: World) -> None:
    ds = world.who("bank_a_ds")
    own = world.seed.samples["bank_a"]
    for algorithm, partners, error in (
        ("homo_lr", [own], HorizontalBanksError),  # the owner's own bank again
        ("homo_lr", [world.seed.samples["bank_b"]] * 2, HorizontalBanksError),
        ("hetero_lr", [world.seed.samples["bank_b"]], ValueError),  # vertical: no partners
    ):
        with pytest.raises(error), session_scope(world.engine) as s:
            experiments.create_experiment(
                session=s,
                actor=ds,
                experiment_in=ExperimentCreate(
                    name="x", sample_id=own, partner_sample_ids=partners, algorithm=algorithm
                ),
            )


@pytest.fixture
def banks(engine: Engine) -> World:
    """The demo catalog with each bank's own indicators (the columns every bank holds)."""
    return World(engine, seed_demo(engine, agencies=("tax",), bank_indicators=True))


def test_partner_banks_consent_before_approval(banks: World) -> None:
    """Each partner bank's consent is needed, like an agency's for a vertical experiment;
    a bank grants consent for its own indicators only."""
    exp_id = _draft(banks, "homo_lr", ("bank_b", "bank_c"))
    ds, staff = banks.who("bank_a_ds"), banks.who("staff")
    with session_scope(banks.engine) as s:
        experiments.submit_experiment(session=s, actor=ds, experiment_id=exp_id)
        needs = experiments.consents_for(session=s, actor=ds, experiment_id=exp_id)
    cols = [c.removeprefix("bank_a_") for c in banks.seed.indicators["bank_a"][:3]]
    assert [(n.agency, n.status) for n in needs] == [("bank_b", "missing"), ("bank_c", "missing")]
    assert [list(n.indicators) for n in needs] == [
        [f"{b}_{c}" for c in cols] for b in ("bank_b", "bank_c")
    ]
    with pytest.raises(ConsentError, match="bank_b.*missing"), session_scope(banks.engine) as s:
        experiments.approve_experiment(session=s, actor=staff, experiment_id=exp_id)
    for n in needs:
        with session_scope(banks.engine) as s:
            consent.grant_consent(
                session=s,
                actor=banks.who(f"{n.agency}_modeler"),
                consent_in=consent_grant(list(n.indicators)),
            )
    with session_scope(banks.engine) as s:
        got = experiments.approve_experiment(session=s, actor=staff, experiment_id=exp_id)
    assert got.status is S.APPROVED and got.partner_sample_ids == [
        banks.seed.samples["bank_b"],
        banks.seed.samples["bank_c"],
    ]


def consent_grant(codes: list[str]):  # noqa: ANN201 - a ConsentGrantCreate
    from datetime import timedelta

    from lab.models import ConsentGrantCreate, utcnow

    return ConsentGrantCreate(
        bank_code="bank_a", indicator_codes=codes, expires_at=utcnow() + timedelta(days=9)
    )


@pytest.mark.parametrize("algorithm", catalog_algorithms())
def test_each_algorithms_default_backend_is_accepted(world: World, algorithm: str) -> None:
    """No backend given: the config and the lab take the algorithm's first (recommended)
    backend, and the algorithm runs with it."""
    first = backends_for(algorithm)[0]
    section = ExperimentSection(name="d", algorithm=algorithm)
    assert section.backend == first
    if algorithm.startswith("homo_"):  # the protocol itself accepts it (was: not 'paillier')
        from federation.config import parse_config

        cfg = parse_config(
            {
                "experiment": {"name": "d", "algorithm": algorithm},
                "parties": [
                    {"name": b, "role": "guest", "data": "x.csv", "label": "y"} for b in BANKS[:2]
                ],
            }
        )
        assert resolve_backend(cfg, parse_params(cfg.params, algorithm)) == first
    with session_scope(world.engine) as s:
        exp = experiments.create_experiment(
            session=s,
            actor=world.who("bank_a_ds"),
            experiment_in=ExperimentCreate(
                name="default backend", sample_id=world.seed.samples["bank_a"], algorithm=algorithm
            ),
        )
    assert exp.backend == first


# ---------------------------------------------------------------------------- real runs
def _run_and_model(engine: Engine, exp_id: int, runs: Path) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """Run the approved experiment with a worker (local runtime); the filed model's
    (metrics, artifacts)."""
    worker = Worker(engine, "homo", runs, runtime="local")
    assert worker.run_once()
    with session_scope(engine) as s:
        got = experiments.experiment_row(s, exp_id)
        assert S(got.status) is S.SUCCEEDED, got.failure_reason
        model = s.exec(select(ModelVersion).where(ModelVersion.experiment_id == exp_id)).one()
        return dict(model.metrics), dict(model.artifacts)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["homo_lr", "homo_nn"])
def test_homo_over_four_taiwan_banks_through_the_worker_matches_the_pooled_model(
    shared_data: Path, tmp_path: Path, algorithm: str
) -> None:
    from features.validation import load_party_table
    from federation.homo.split import (
        TAIWAN_ID,
        TAIWAN_LABEL,
        iid_split,
        load_taiwan,
        write_bank_files,
    )

    df = load_taiwan(shared_data)
    files = write_bank_files(df, iid_split(len(df), 4, seed=1), tmp_path / "data")
    engine = make_engine(tmp_path / "lab.db", create=True)
    upgrade(engine)
    cat = seed_banks(engine, files, id_column=TAIWAN_ID, label=TAIWAN_LABEL)
    exp_id = horizontal_experiment(
        engine,
        algorithm=algorithm,
        owner="bank_a",
        samples=cat.samples,
        indicators=cat.indicators["bank_a"],
    )
    m, artifacts = _run_and_model(engine, exp_id, tmp_path / "runs")
    frames = {
        b: load_party_table(p, id_column=TAIWAN_ID, label=TAIWAN_LABEL, id_kind="opaque")
        for b, p in files.items()
    }
    with session_scope(engine) as s:
        params = experiments.experiment_row(s, exp_id).params
    ref = pooled_reference(
        frames,
        algorithm=algorithm,
        params=parse_params(nested_params(params), algorithm),
        id_column=TAIWAN_ID,
        label=TAIWAN_LABEL,
    )
    print(f"\n{algorithm} Taiwan, 4 banks via the worker: AUC {m['auc']:.4f}, pooled {ref.auc:.4f}")
    assert m["n_banks"] == 4 and sorted(artifacts) == list(BANKS)
    assert (m["n_train"], m["n_valid"]) == (ref.n_train, ref.n_valid)
    assert m["n_train"] + m["n_valid"] == len(df)
    assert abs(m["auc"] - ref.auc) <= 0.01, (m["auc"], ref.auc)
    engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["homo_lr", "homo_nn"])
def test_homo_over_four_synthetic_banks_trains_on_authorized_rows_like_the_pooled_model(
    tmp_path: Path, algorithm: str
) -> None:
    from features.synth import generate, write
    from lab.seed import OBSERVATION_END

    write(tmp_path / "data", generate(8000, 7, banks=BANKS))
    engine = make_engine(tmp_path / "lab.db", create=True)
    upgrade(engine)
    seed = seed_demo(engine, banks=BANKS, data_dir=tmp_path / "data", agencies=("tax",))
    exp_id = horizontal_experiment(
        engine,
        algorithm=algorithm,
        owner="bank_a",
        samples=seed.samples,
        indicators=seed.indicators["bank_a"],
        authorization_required=True,
    )
    m, _ = _run_and_model(engine, exp_id, tmp_path / "runs")
    # an independent pandas computation of each bank's authorized rows
    auth = pd.read_csv(tmp_path / "data" / "authorizations.csv", dtype=str)
    on = OBSERVATION_END.isoformat()
    frames = {}
    for b in BANKS:
        ok = auth[(auth["bank"] == b) & (auth["granted_on"] <= on) & (auth["expires_on"] >= on)]
        rows = pd.read_csv(tmp_path / "data" / f"{b}.csv", dtype={"uscc": str})
        frames[b] = rows[rows["uscc"].isin(set(ok["uscc"]))].reset_index(drop=True)
    cols = [c.removeprefix("bank_a_") for c in seed.indicators["bank_a"]]
    with session_scope(engine) as s:
        params = experiments.experiment_row(s, exp_id).params
    ref = pooled_reference(
        frames,
        algorithm=algorithm,
        params=parse_params(nested_params(params), algorithm),
        id_column="uscc",
        label="default_12m",
        features=cols,
    )
    print(
        f"\n{algorithm} synthetic, 4 banks via the worker: AUC {m['auc']:.4f}, pooled {ref.auc:.4f}"
    )
    assert m["n_banks"] == 4
    assert m["n_train"] + m["n_valid"] == sum(len(f) for f in frames.values())
    assert abs(m["auc"] - ref.auc) <= 0.01, (m["auc"], ref.auc)
    engine.dispose()
