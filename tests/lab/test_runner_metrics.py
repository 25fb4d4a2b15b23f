"""What the worker keeps of a run's metrics.json, checked on features.metrics' own report."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from features.metrics import evaluation_report
from lab.runner import nested_params, public_metrics, roc_points


def test_evaluation_report_lands_in_the_model_library_shape() -> None:
    rng = np.random.default_rng(5)
    y = (rng.random(3000) < 0.15).astype(int)
    score = y * 0.8 + rng.normal(size=y.size)
    report = evaluation_report(y, score)
    metrics = {
        **report,
        "loss": [0.6, 0.5],
        "runtime": "local",
        "n_valid": 3000,
        "bytes_per_party": {"bank": 10, "tax": 12},
        "secret_rows": [[1, 2]],
        "ids": list(range(5000)),
        "nothing": None,
    }
    kept = public_metrics(metrics)
    assert kept["auc"] == report["auc"] and kept["loss"] == [0.6, 0.5]
    assert kept["lift"] == report["lift"] and kept["score_hist"] == report["score_hist"]
    assert kept["bytes_per_party"] == {"bank": 10, "tax": 12}
    assert {"roc", "secret_rows", "ids", "nothing"}.isdisjoint(kept)
    roc = roc_points(metrics)
    assert roc == report["roc"] and roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0
    # the stored points trace the curve: their trapezoid area is close to the exact AUC
    assert abs(np.trapezoid(roc["tpr"], roc["fpr"]) - roc_auc_score(y, score)) < 0.01
    assert roc_points({"auc": 0.7}) == {}


def test_dotted_catalog_params_become_nested_sections() -> None:
    assert nested_params({"binning.max_bins": 8, "lr.epochs": 5, "iv_min": 0.02}) == {
        "binning": {"max_bins": 8},
        "lr": {"epochs": 5},
        "iv_min": 0.02,
    }
