"""Disclosure control lives in the service layer: the SDK and the sandbox show one model's
figures alike, suppressed below k, because both read them from lab.services."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import World
from test_runner import FakeExecutor, approved

from lab.db import session_scope
from lab.disclosure import DEFAULT_MIN_CELL
from lab.runner import Worker
from lab.sdk import Lab
from lab.services import results
from lab.services.disclosure import SUPPRESSED, min_cell, release_metrics
from sandbox_ui.queries import compare_rows, headline_metrics, loss_curve, models_of

K = DEFAULT_MIN_CELL


class SmallValidation(FakeExecutor):
    """A run whose validation split holds fewer than k enterprises: AUC, KS and the
    validation size must not be shown; the aligned and training sizes may."""

    def __call__(self, cfg: Any, out_dir: Path, runtime: str, progress: Any) -> dict[str, Any]:
        metrics = super().__call__(cfg, out_dir, runtime, progress)
        metrics.update(n_aligned=400, n_train=395, n_valid=K - 5)
        (out_dir / "metrics.json").write_text(json.dumps(metrics))
        return metrics


def test_sdk_and_sandbox_show_the_same_suppressed_figures(world: World, tmp_path: Path) -> None:
    assert min_cell() == K  # the lab setting's default
    exp_id = approved(world, "bank_b", "small validation")
    worker = Worker(
        world.engine, "w1", tmp_path / "runs", executor=SmallValidation(), runtime="local"
    )
    assert worker.run_once() is True
    ds = Lab(world.engine, world.who("bank_b_ds"))

    exp = ds.experiments.get(exp_id)
    sdk = exp.metrics
    assert sdk["auc"] is None and sdk["ks"] is None and sdk["n_valid"] is None
    assert sdk["n_aligned"] == 400 and sdk["n_train"] == 395
    assert sdk[SUPPRESSED] == ["auc", "ks", "n_valid"]
    assert ds.models.compare([exp.model.id]).loc[0, "auc"] is None

    me = world.who("bank_b_ds")
    with session_scope(world.engine) as s:
        (mv,) = models_of(s, me, K)
        shown = headline_metrics(mv, K)
        service = results.model_headline(session=s, actor=me, model_id=mv.id, k=K)
    assert shown == service == {k: sdk[k] for k in ("auc", "ks", "n_aligned", "n_train", "n_valid")}
    sdk_model = exp.model
    assert compare_rows(mv, sdk_model, K)[0] == {
        "metric": "auc",
        f"{mv.name} v{mv.version}": f"<{K}",
    }
    # the loss per epoch: computed on fewer than k enterprises, shown to nobody
    assert exp.loss_curve.losses is None and exp.loss_curve.n_epochs == 3
    assert loss_curve(exp.progress, None, K).basis is None


def test_release_is_idempotent_and_keeps_large_cells() -> None:
    raw = {"auc": 0.81234, "ks": 0.4, "n_aligned": 5000, "n_valid": 1500, "loss": [0.5]}
    assert release_metrics(raw, K) == raw  # nothing small: unchanged, no marker
    small = {**raw, "n_valid": 3, "bank_n_valid": {"a": 3, "b": 50}, "bank_auc": {"a": 1, "b": 0.7}}
    once = release_metrics(small, K)
    assert once["auc"] is None and once["n_aligned"] == 5000
    assert once["bank_n_valid"] == {"a": None, "b": 50}
    assert once["bank_auc"] == {"a": None, "b": 0.7}
    assert release_metrics(once, K) == once
