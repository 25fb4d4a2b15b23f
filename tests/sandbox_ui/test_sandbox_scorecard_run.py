"""A real scorecard run through the lab's worker, shown in the model library.

A small synthetic federation (bank_a and the tax bureau), a scorecard experiment run by
``lab.runner.Worker`` on the local runtime (Paillier), then: what the worker filed (ROC
points, the bank's own points) against the run's own files, and what the sandbox's model
library shows of it (the bank's points for the bank, nothing for platform staff).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sandbox_world import APP, sandbox_catalog, who
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from lab.db import make_engine, session_scope, upgrade
from lab.models import ExperimentCreate, ExperimentStatus, ModelVersionPublic
from lab.runner import Worker
from lab.seed import seed_demo
from lab.services import catalog, experiments, models_library
from sandbox_ui.i18n import tr
from sandbox_ui.queries import disclosure_summary, model_bands, own_columns, scorecard_points

pytestmark = pytest.mark.slow


@dataclass
class Run:
    db: Path
    exp_id: int
    result: Path  # the run's output folder (local runtime: every party's folder is in it)
    indicators: dict[str, list[str]]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    from features.synth import generate, write

    root = tmp_path_factory.mktemp("scorecard_run")
    write(root / "data", generate(2000, 11, banks=("bank_a",)))
    engine = make_engine(root / "lab.db", create=True)
    upgrade(engine)
    seed = seed_demo(engine, banks=("bank_a",), data_dir=root / "data", agencies=("tax",))
    ds, staff = who(engine, "bank_a_ds"), who(engine, "staff")
    with session_scope(engine) as s:
        exp = experiments.create_experiment(
            session=s,
            actor=ds,
            experiment_in=ExperimentCreate(
                name="scorecard",
                sample_id=seed.samples["bank_a"],
                algorithm="scorecard",
                indicator_codes=seed.indicators["bank_a"][:5] + seed.indicators["tax"][:4],
                params={"lr.epochs": 8, "lr.learning_rate": 1.0},
                backend="paillier",
            ),
        )
        experiments.submit_experiment(session=s, actor=ds, experiment_id=exp.id)
        experiments.approve_experiment(session=s, actor=staff, experiment_id=exp.id)
    assert Worker(engine, "scorecard-test", root / "runs", runtime="local").run_once()
    with session_scope(engine) as s:
        got = experiments.get_experiment(session=s, actor=staff, experiment_id=exp.id)
    assert got.status is ExperimentStatus.SUCCEEDED, got.failure_reason
    engine.dispose()
    return Run(
        root / "lab.db",
        exp.id,
        root / "runs" / f"experiment-{exp.id}" / "result",
        dict(seed.indicators),
    )


@pytest.fixture
def db(run: Run, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    yield from sandbox_catalog(f"sqlite:///{run.db}", monkeypatch)


def _model(engine: Engine, run: Run, user: str = "bank_a_modeler") -> ModelVersionPublic:
    with session_scope(engine) as s:
        mv = models_library.model_for_experiment(
            session=s, actor=who(engine, user), experiment_id=run.exp_id
        )
    assert mv is not None
    return mv


def _guest_table(run: Run) -> dict[str, Any]:
    """The bank's own scorecard.json, as its party wrote it in the run folder."""
    return json.loads(
        (run.result / "parties" / "bank_a" / "scorecard.json").read_text(encoding="utf-8")
    )


def _expected_rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [{"column": "(base)", "bin": "", "points": table["base"]}]
    for f in table["features"]:
        rows += [
            {"column": f["name"], "bin": f"{i} {b}", "points": p}
            for i, (b, p) in enumerate(zip(f["bins"], f["points"], strict=True), start=1)
        ]
    return rows


def test_worker_files_roc_points_and_only_the_banks_points(db: Engine, run: Run) -> None:
    mv = _model(db, run)
    metrics = json.loads((run.result / "metrics.json").read_text(encoding="utf-8"))
    assert mv.roc == metrics["roc"] and len(mv.roc["fpr"]) >= 3
    n_valid, positives = mv.metrics["n_valid"], mv.metrics["n_valid_positive"]
    steps = np.rint(
        np.diff(
            np.asarray(mv.roc["fpr"]) * (n_valid - positives)
            + np.asarray(mv.roc["tpr"]) * positives
        )
    )
    assert steps.sum() == n_valid and steps.min() >= 10, steps  # enterprises per ROC step
    assert mv.metrics["lift"] == metrics["lift"] and "score_hist" in mv.metrics
    table = _guest_table(run)
    filed = {k: v for k, v in mv.metrics.items() if k.startswith("points.")}
    assert filed == {
        f"points.{r['column']}.{r['bin']}": r["points"] for r in _expected_rows(table)[1:]
    }
    assert mv.metrics["points_base"] == table["base"]
    # the tax bureau's table stays with it: none of its columns, ids or bins are filed
    tax = json.loads(
        (run.result / "parties" / "tax" / "scorecard.json").read_text(encoding="utf-8")
    )
    assert tax["features"]  # the host did keep a table of its own
    for f in tax["features"]:
        assert not any(k.startswith(f"points.{f['name']}.") for k in mv.metrics)
    assert not any(k.startswith("points.tax") for k in mv.metrics)


def test_sandbox_queries_show_the_banks_points_to_the_bank_only(db: Engine, run: Run) -> None:
    mv = _model(db, run)
    modeler, staff = who(db, "bank_a_modeler"), who(db, "staff")
    with session_scope(db) as s:
        mine = own_columns(session=s, actor=modeler, indicator_codes=mv.lineage["indicators"])
        staff_columns = own_columns(
            session=s, actor=staff, indicator_codes=mv.lineage["indicators"]
        )
    rows = scorecard_points(mv, mine)
    assert rows and rows == _expected_rows(_guest_table(run))
    assert scorecard_points(_model(db, run, "staff"), staff_columns) == []
    bands = model_bands(mv, 10)
    assert bands is not None and bands.total == mv.metrics["n_valid"]
    assert min(bands.n) >= 10


def test_model_library_page_shows_the_banks_points(db: Engine, run: Run) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["lang"] = "en"
    at.session_state["principal"] = who(db, "bank_a_modeler")
    at.run()
    at.switch_page("views/models.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    expect = [list(r.values()) for r in _expected_rows(_guest_table(run))]
    tables = [df.value.values.tolist() for df in at.dataframe if df.value.shape[1] == 3]
    assert len(tables) == 1  # the points table (whatever its headers' language)
    shown = tables[0]
    assert shown[1:] == expect[1:] and shown[0][1:] == expect[0][1:]  # bins, then the base
    staff = who(db, "staff")
    with session_scope(db) as s:
        tax_columns = {
            i.column for i in catalog.search_indicators(session=s, actor=staff, owner="tax")
        }
    assert not {r[0] for r in shown} & tax_columns
    assert len(at.get("plotly_chart")) >= 4  # ROC, KS, lift, score distribution
    # platform staff read the model's metadata, not a bank's points table
    page = AppTest.from_file(str(APP), default_timeout=60)
    page.session_state["lang"] = "en"
    page.session_state["principal"] = staff
    page.run()
    page.switch_page("views/models.py")
    page.run()
    assert not page.exception
    assert page.dataframe and not [df for df in page.dataframe if df.value.shape[1] == 3]
    assert tr("mdl.no_scorecard", "en") in "\n".join(m.value for m in page.markdown)


def test_approval_disclosure_says_the_banks_points_table_is_filed(db: Engine, run: Run) -> None:
    staff = who(db, "staff")
    with session_scope(db) as s:
        exp = experiments.get_experiment(session=s, actor=staff, experiment_id=run.exp_id)
        rows = {d.role: d for d in disclosure_summary(session=s, actor=staff, exp=exp, lang="en")}
    assert "its own points table (filed in the model library)" in rows["guest"].sends
    assert "the bank's own points table" in rows["coordinator"].learns
    assert "no single label" in rows["host"].learns
