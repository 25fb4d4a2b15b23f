"""The catalog part of `fedlab demo`: seed, submit, consent, approve, run, publish, audit."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from lab.db import make_engine
from lab.demo_lab import EXPERIMENTS, DemoExperiment, run_lab_flow
from lab.errors import ConfigError
from lab.models import (
    AuditEvent,
    ConsentGrant,
    Experiment,
    ExperimentStatus,
    ExperimentTransition,
    ModelStatus,
    ModelVersion,
    Organization,
)

FAST = (  # the flow's two algorithms, small and in plaintext so the test stays quick
    DemoExperiment("lr", "hetero_lr", {"epochs": 4, "learning_rate": 0.5}, "plaintext"),
    DemoExperiment("boost", "secureboost", {"n_trees": 3, "max_depth": 2}, "plaintext"),
)


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from features import synth

    data = tmp_path_factory.mktemp("demo") / "data"
    synth.write(data, synth.generate(1200, 7))  # what `fedlab demo` generates: bank + agencies
    return data


@pytest.mark.slow
def test_lab_flow_from_seed_to_published_model(demo_data: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    out = tmp_path / "demo"
    summary = run_lab_flow(
        out=out, data_dir=demo_data, runtime="local", echo=lines.append, experiments=FAST
    )

    # Every experiment went draft → ... → succeeded, one transition row per step
    assert [r["status"] for r in summary["experiments"]] == ["succeeded", "succeeded"], summary
    # the users' steps went through the lab server, each user with its own token
    assert summary["server"].startswith("http://127.0.0.1:")
    assert any("lab server on http://127.0.0.1:" in ln for ln in lines)
    engine = make_engine(out / "catalog.db")
    with Session(engine) as s:
        exps = s.exec(select(Experiment).order_by(Experiment.id)).all()
        for exp in exps:
            steps = s.exec(
                select(ExperimentTransition.to_status)
                .where(ExperimentTransition.experiment_id == exp.id)
                .order_by(ExperimentTransition.id)
            ).all()
            assert [ExperimentStatus(x).value for x in steps] == [
                "submitted",
                "approved",
                "queued",
                "running",
                "succeeded",
            ]
        # social insurance and courts had no standing consent: their officers granted it
        orgs = {o.id: o.code for o in s.exec(select(Organization)).all()}
        granted = {orgs[g.agency_org_id] for g in s.exec(select(ConsentGrant)).all()}
        assert granted == {"tax", "market_regulation", "social_insurance", "courts"}
        models = s.exec(select(ModelVersion).order_by(ModelVersion.id)).all()
        n_events = s.exec(select(func.count()).select_from(AuditEvent)).one()
        minted = s.exec(select(AuditEvent.actor).where(AuditEvent.action == "token.mint")).all()
    engine.dispose()

    # Both runs filed a model; the better one (by AUC) is published, the other a candidate
    assert [m.algorithm for m in models] == ["hetero_lr", "secureboost"]
    aucs = [m.metrics["auc"] for m in models]
    assert all(0.6 < a <= 1.0 for a in aucs), aucs
    best = max(range(2), key=lambda i: aucs[i])
    assert [ModelStatus(m.status) for m in models] == [
        ModelStatus.PUBLISHED if i == best else ModelStatus.CANDIDATE for i in range(2)
    ]
    assert summary["published"]["id"] == models[best].id
    assert [r["auc"] for r in summary["experiments"]] == aucs
    assert models[0].lineage["parties"] == ["bank", "tax", "social_insurance", "courts"]

    assert len(minted) >= 3  # the modeler, staff and at least one officer held tokens
    # The audit chain holds every event written, and the summary says so
    assert summary["audit"]["ok"] and summary["audit"]["events"] == n_events
    assert any(f"audit chain OK with {n_events} events" in line for line in lines)
    assert any("[published]" in line and "AUC" in line for line in lines)
    assert (
        out / "lab_runs" / f"experiment-{models[0].experiment_id}" / "result" / "metrics.json"
    ).is_file()


def test_lab_flow_names_missing_demo_files(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bank.csv").write_text("uscc,default_12m\n")
    with pytest.raises(
        ConfigError,
        match=r"lacks \['authorizations.csv', 'tax.csv', "
        r"'social_insurance.csv', 'courts.csv'\]",
    ):
        run_lab_flow(out=tmp_path / "out", data_dir=tmp_path / "data", runtime="local")
    assert not (tmp_path / "out" / "catalog.db").exists()


def test_seeded_algorithm_schemas_fit_the_algorithms_parameter_models() -> None:
    """Every seeded schema's defaults, and the flow's parameters, pass the algorithm's own
    parameter model once the runner nests dotted names (a drift would fail runs)."""
    from federation.hetero_lr import LrParams
    from federation.homo.params import HomoLrParams, HomoNnParams
    from federation.scorecard import ScorecardParams
    from federation.secureboost import SecureBoostParams
    from lab.runner import nested_params
    from lab.seed import ALGORITHMS
    from lab.services.catalog import validate_params

    models = {
        "hetero_lr": LrParams,
        "secureboost": SecureBoostParams,
        "scorecard": ScorecardParams,
        "homo_lr": HomoLrParams,
        "homo_nn": HomoNnParams,
    }
    schemas = {a["name"]: a["param_schema"] for a in ALGORITHMS}
    assert set(schemas) == set(models)
    for name, schema in schemas.items():
        parsed = models[name].model_validate(nested_params(validate_params(name, schema, {})))
        for key, spec in schema.items():  # each default reaches the algorithm unchanged
            node: object = parsed
            for part in key.split("."):
                node = node[part] if isinstance(node, dict) else getattr(node, part)
            assert node == spec["default"], (name, key)
    for spec in EXPERIMENTS:
        full = validate_params(spec.algorithm, schemas[spec.algorithm], spec.params)
        models[spec.algorithm].model_validate(nested_params(full))
