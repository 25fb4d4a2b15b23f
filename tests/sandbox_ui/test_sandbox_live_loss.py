"""The loss chart of a run that is still going: real hetero LR and SecureBoost runs through
the lab's worker (local runtime) record their set-up event with the training and validation
counts, and the sandbox's experiment page, rendered while the run trains, draws the loss per
epoch (or tree) when those counts reach k and suppresses it when they do not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_world import sandbox_catalog, who
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest
from test_sandbox_pages import app_as

from lab.db import make_engine, session_scope, upgrade
from lab.models import ExperimentCreate, ExperimentStatus
from lab.runner import FederationExecutor, Worker
from lab.seed import seed_demo
from lab.services import experiments
from sandbox_ui.i18n import tr

pytestmark = pytest.mark.slow

RUNS = {  # algorithm: (its set-up event, its per-step event, parameters)
    "hetero_lr": ("lr.setup", "epoch", {"epochs": 2}),
    "secureboost": ("sb.setup", "tree", {"n_trees": 2, "max_depth": 2, "key_bits": 1024}),
}


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, Any]]:
    from features.synth import generate, write

    write(tmp_path / "data", generate(300, 11, banks=("bank_a",)))
    engine = make_engine(tmp_path / "lab.db", create=True)
    upgrade(engine)
    seed = seed_demo(engine, banks=("bank_a",), data_dir=tmp_path / "data", agencies=("tax",))
    engine.dispose()
    yield from ((e, seed) for e in sandbox_catalog(f"sqlite:///{tmp_path / 'lab.db'}", monkeypatch))


def experiment_page(engine: Engine, exp_id: int) -> AppTest:
    """The bank modeler's view of the experiment, in English."""
    page = app_as(engine, "bank_a_modeler", "experiments", lang="en")
    page.selectbox(key="exp_pick").set_value(exp_id).run()
    assert not page.exception, [e.value for e in page.exception]
    return page


@pytest.mark.parametrize("algorithm", sorted(RUNS))
def test_a_running_experiment_shows_its_loss_once_its_counts_reach_k(
    catalog: tuple[Engine, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, algorithm: str
) -> None:
    # Prepare: an approved experiment of bank_a with two tax indicators
    engine, seed = catalog
    setup_event, step_event, params = RUNS[algorithm]
    ds, staff = who(engine, "bank_a_ds"), who(engine, "staff")
    with session_scope(engine) as s:
        exp = experiments.create_experiment(
            session=s,
            actor=ds,
            experiment_in=ExperimentCreate(
                name="live",
                sample_id=seed.samples["bank_a"],
                algorithm=algorithm,
                indicator_codes=seed.indicators["bank_a"][:2] + seed.indicators["tax"][:2],
                params=params,
                backend="plaintext" if algorithm == "hetero_lr" else "paillier",
            ),
        )
        experiments.submit_experiment(session=s, actor=ds, experiment_id=exp.id)
        experiments.approve_experiment(session=s, actor=staff, experiment_id=exp.id)
    seen: list[dict[str, Any]] = []

    def look_at_the_page_mid_run(cfg: Any, out: Path, runtime: str, progress: Any) -> Any:
        def relay(event: str, fields: dict[str, Any]) -> None:
            progress(event, fields)  # the worker records it first
            if event != step_event or seen:
                return
            with session_scope(engine) as s:
                now = experiments.get_experiment(session=s, actor=staff, experiment_id=exp.id)
            (setup,) = [p for p in now.progress if p["event"] == setup_event]
            basis = min(setup["n_train"], setup["n_valid"])
            monkeypatch.delenv("FEDLAB_UI_MIN_CELL", raising=False)  # k = 10
            shown = experiment_page(engine, exp.id)
            monkeypatch.setenv("FEDLAB_UI_MIN_CELL", str(basis + 1))
            hidden = experiment_page(engine, exp.id)
            monkeypatch.delenv("FEDLAB_UI_MIN_CELL")
            seen.append(
                {
                    "status": now.status,
                    "setup": setup,
                    "basis": basis,
                    "charts": (
                        len(shown.get("vega_lite_chart")),
                        len(hidden.get("vega_lite_chart")),
                    ),
                    "captions": [c.value for c in hidden.caption],
                }
            )

        return FederationExecutor()(cfg, out, runtime, relay)

    # Execute: the worker runs it for real on the local runtime
    assert Worker(
        engine, "live", tmp_path / "runs", runtime="local", executor=look_at_the_page_mid_run
    ).run_once()

    # Assert: the set-up event was recorded with the counts the run's metrics report
    with session_scope(engine) as s:
        done = experiments.get_experiment(session=s, actor=staff, experiment_id=exp.id)
    assert done.status is ExperimentStatus.SUCCEEDED, done.failure_reason
    metrics = json.loads(
        (tmp_path / "runs" / f"experiment-{exp.id}" / "result" / "metrics.json").read_text()
    )
    (setup,) = [p for p in done.progress if p["event"] == setup_event]
    assert (setup["n_train"], setup["n_valid"]) == (metrics["n_train"], metrics["n_valid"])
    assert setup["n_train"] + setup["n_valid"] == metrics["n_aligned"] > 0
    # mid-run, with the counts known: drawn at k = 10 <= the smaller count, suppressed at k
    # one above it
    (mid,) = seen
    assert mid["status"] is ExperimentStatus.RUNNING and mid["setup"] == setup
    assert 10 <= mid["basis"] == min(metrics["n_train"], metrics["n_valid"])
    assert mid["charts"] == (1, 0)
    assert tr("exp.loss_suppressed", "en", k=mid["basis"] + 1, n=1) in mid["captions"]
