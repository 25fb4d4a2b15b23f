"""Horizontal FedAvg with CKKS aggregation on the local deployment runtime: a SuperLink and
one SuperNode per bank as separate processes, exactly as in production (~1-3 min)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_homo_ckks import _bank_files


@pytest.mark.slow
@pytest.mark.flower
@pytest.mark.timeout(600)
def test_homo_lr_ckks_in_local_deployment(tmp_path: Path) -> None:
    import tomli_w

    from federation import homo
    from federation.config import load_config
    from federation.run import run_experiment
    from federation.runtime.deployment import federation_down, federation_up

    # Prepare
    paths = _bank_files(tmp_path / "data", n_banks=2, rows=200)
    cfg = {
        "experiment": {
            "name": "homo-dep",
            "algorithm": "homo_lr",
            "backend": "ckks",
            "id_column": "id",
            "runtime": "deployment",
            "seed": 1,
            "join_timeout": 90,
        },
        "params": {"rounds": 2, "batch_size": 32, "learning_rate": 0.2, "momentum": 0.9},
        "parties": [
            {"name": n, "role": "guest", "data": str(p), "label": "y"} for n, p in paths.items()
        ],
    }
    toml = tmp_path / "experiment.toml"
    toml.write_text(tomli_w.dumps(cfg))
    state = tmp_path / "fed"
    federation_up(load_config(toml), state)
    try:
        # Execute
        out = tmp_path / "run"
        run_experiment(toml, out, state_dir=state)
        # Assert
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["runtime"] == "deployment" and metrics["auc"] > 0.8
        disc = json.loads((out / "disclosure.json").read_text())
        sent = disc["parties"]["bank_0"]["sent"]
        assert sent["homo.train"]["count"] == 2
        # each bank's model stays at its own node, in the run's folder DIR names
        for name in paths:
            loc = json.loads((out / "parties" / name / "location.json").read_text())
            assert Path(loc["path"]).parent == (state / "parties" / name / "runs").resolve()
            assert (Path(loc["path"]) / homo.MODEL_FILE).is_file()
    finally:
        federation_down(state)
