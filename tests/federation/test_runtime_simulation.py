"""Flower simulation runtime (Ray): one end-to-end run of the echo protocol (~25 s)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from echo_protocol import write_echo_experiment


@pytest.mark.slow
@pytest.mark.flower
def test_simulation_runtime_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from federation.run import run_experiment

    monkeypatch.setenv("FEDLAB_PROTOCOL_MODULES", "echo_protocol")
    cfg = write_echo_experiment(tmp_path / "exp", runtime="simulation", epochs=3,
                                hosts=("tax", "court"))
    out = tmp_path / "run"
    summary = run_experiment(cfg, out, keep_payloads=True)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["runtime"] == "simulation" and metrics["n_exchanges"] == 6
    assert metrics["exchanges_by_epoch"] == [1, 1, 1]
    # every request and reply crossed the Flower boundary and was logged
    assert len(summary.log.messages) == 2 * 3 * 6
    disc = json.loads((out / "disclosure.json").read_text())
    assert disc["parties"]["court"]["received"]["echo.step"]["count"] == 3
    for name, rows in (("bank", 5), ("tax", 3), ("court", 4)):
        piece = json.loads((out / "parties" / name / "piece.json").read_text())
        # the round counter lives in ctx.state: it survived between messages and actors
        assert piece["rounds"] == 3 and piece["rows"] == rows and piece["role"] in (
            "guest", "host")
        assert not (out / "parties" / name / ".state").exists()
    train = metrics["seconds_per_phase"]["train"]
    print(f"simulation: {train / 3:.3f} s per exchange, start-up "
          f"{metrics['seconds_per_phase']['startup']:.1f} s")
