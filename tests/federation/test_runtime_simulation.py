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
    cfg = write_echo_experiment(
        tmp_path / "exp", runtime="simulation", epochs=3, hosts=("tax", "court")
    )
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
        assert piece["rounds"] == 3 and piece["rows"] == rows and piece["role"] in ("guest", "host")
        assert not (out / "parties" / name / ".state").exists()
    train = metrics["seconds_per_phase"]["train"]
    print(
        f"simulation: {train / 3:.3f} s per exchange, start-up "
        f"{metrics['seconds_per_phase']['startup']:.1f} s"
    )


def test_quick_engine_polling_shortens_flowers_message_poll_and_restores_it() -> None:
    """Flower's engine looks for messages every 0.1 s; inside the block every SIM_POLL s."""
    import threading
    import time as _time

    from flwr.server.superlink.fleet.vce import vce_api

    from federation.runtime.simulation import SIM_POLL, quick_engine_polling

    class CountingState:
        calls = 0

        def get_message_ins(self, node_id: int, limit: int) -> list[object]:  # noqa: ARG002
            CountingState.calls += 1
            return []

    original = vce_api.add_messages_to_queue
    with quick_engine_polling() as applied:
        assert applied
        assert vce_api.add_messages_to_queue is not original
        stop = threading.Event()
        t = threading.Thread(
            target=vce_api.add_messages_to_queue, args=(CountingState(), None, {1: 0}, stop)
        )
        t.start()
        _time.sleep(0.5)
        stop.set()
        t.join(timeout=2)
    assert not t.is_alive()  # the stop event still ends the loop at once
    assert vce_api.add_messages_to_queue is original
    # Flower's own 0.1 s wait allows at most ~6 looks in 0.5 s
    assert CountingState.calls >= 20, (CountingState.calls, SIM_POLL)
