"""Local deployment with TLS: SuperLink + SuperNodes as separate processes (~1-2 min)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from echo_protocol import write_echo_experiment

from lab.errors import PartyUnavailableError


@pytest.mark.slow
@pytest.mark.flower
@pytest.mark.timeout(400)
def test_deployment_with_tls_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from federation.config import load_config
    from federation.run import run_experiment
    from federation.runtime.deployment import (
        federation_down,
        federation_status,
        federation_up,
    )

    monkeypatch.setenv("FEDLAB_PROTOCOL_MODULES", "echo_protocol")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    cfg = write_echo_experiment(tmp_path / "exp", runtime="deployment", epochs=2,
                                extra="join_timeout = 60")
    # the same parties plus one whose SuperNode never starts
    three = write_echo_experiment(tmp_path / "exp3", runtime="deployment", epochs=1,
                                  hosts=("tax", "court"), extra="join_timeout = 6")
    state = tmp_path / "fed"
    fed = federation_up(load_config(cfg), state, tls=True)
    try:
        assert fed.ca_cert and Path(fed.ca_cert).is_file()
        assert all(r["state"] == "running" for r in federation_status(state))

        out = tmp_path / "run"
        summary = run_experiment(cfg, out, state_dir=state)
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["runtime"] == "deployment" and summary.metrics == metrics
        # init + 2 steps + save + finish; discovery is not a protocol exchange
        assert metrics["n_exchanges"] == 5 and metrics["exchanges_by_epoch"] == [1, 1]
        disc = json.loads((out / "disclosure.json").read_text())
        assert disc["parties"]["tax"]["received"]["echo.step"]["count"] == 2
        # model pieces stay at each party's node; DIR says where they are
        for name, rows in (("bank", 5), ("tax", 3)):
            piece = json.loads((state / "parties" / name / "piece.json").read_text())
            assert piece["rounds"] == 2 and piece["rows"] == rows
            # a fresh ClientApp process per message: state came back from work_dir/.state
            assert piece["n_pids"] >= 2
            assert not (state / "parties" / name / ".state").exists()
            assert (out / "parties" / name / "location.json").is_file()
        per_exchange = metrics["seconds_per_phase"]["train"] / 2
        print(f"deployment (TLS): {per_exchange:.2f} s per exchange")

        bad = tmp_path / "run3"
        with pytest.raises(PartyUnavailableError, match="'court' did not join"):
            run_experiment(three, bad, state_dir=state)
        assert not bad.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run3")]
    finally:
        stopped = federation_down(state)
    assert "superlink" in stopped and len(stopped) == 3
    assert federation_status(state) == []
