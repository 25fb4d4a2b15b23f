"""Output folder: atomic staging and reports derived from the message log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from federation.outputs import build_disclosure, build_metrics, staging
from federation.protocol import ProtocolResult
from federation.transport import Envelope, MessageLog, payload_nbytes


def test_staging_renames_on_success_only(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with staging(out) as stage:
            (stage / "half.json").write_text("{}")
            raise RuntimeError("boom")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with staging(out) as stage:
        assert stage.parent == out.parent and stage.name.startswith(".run.tmp-")
        (stage / "metrics.json").write_text("{}")
        assert not out.exists()
    assert [p.name for p in out.iterdir()] == ["metrics.json"]


def _log() -> MessageLog:
    log = MessageLog()
    for _ in range(2):
        log.exchanges += 1
        for party in ("bank", "tax"):
            req = Envelope(party, "lr.step", {"w": np.zeros(3)})
            log.record("to_party", req, payload_nbytes(req.payload))
            rep = Envelope(party, "lr.step", {"g": b"12345"})
            log.record("from_party", rep, payload_nbytes(rep.payload))
    return log


def test_disclosure_counts_every_logged_message() -> None:
    log = _log()
    disc = build_disclosure(
        log, {"bank": "guest", "tax": "host"}, ProtocolResult(metrics={"n_aligned": 17})
    )
    tax = disc["parties"]["tax"]
    assert tax["received"] == {"lr.step": {"count": 2, "bytes": 2 * (1 + 24), "fields": ["w"]}}
    assert tax["sent"] == {"lr.step": {"count": 2, "bytes": 2 * (1 + 5), "fields": ["g"]}}
    assert tax["intersection_size"] == 17
    assert disc["coordinator"]["received"]["lr.step"]["count"] == 4
    assert disc["n_exchanges"] == 2


def test_metrics_adds_runtime_figures() -> None:
    log = _log()
    m = build_metrics(
        ProtocolResult(metrics={"auc": 0.7, "seconds_per_phase": {"train": 2.0}}),
        log,
        runtime="local",
        wall_seconds=3.21,
        phase_seconds={"train": 9.0, "startup": 0.5},
        epoch_exchanges=[3, 2, 2],
    )
    assert m["auc"] == 0.7 and m["n_exchanges"] == 2 and m["runtime"] == "local"
    assert m["seconds_per_phase"] == {"train": 2.0, "startup": 0.5}  # the driver's figure wins
    assert m["exchanges_per_epoch"] == 2.0 and m["exchanges_by_epoch"] == [3, 2, 2]
    assert m["bytes_per_party"]["bank"] == {"received": 50, "sent": 12}
    assert m["bytes_total"] == 124


def test_a_model_version_names_where_each_piece_is(tmp_path: Path) -> None:
    from federation.outputs import piece_locations, write_location

    out = tmp_path / "run"
    (out / "parties" / "bank").mkdir(parents=True)  # a local run: the piece is in DIR
    # deployment: the run's folder at the party, absolute on a local federation
    write_location(
        out / "parties" / "tax",
        party="tax",
        role="host",
        run_key="42",
        home=str(tmp_path / "nodes" / "tax"),
    )
    write_location(out / "parties" / "courts", party="courts", role="host", run_key="42")
    assert piece_locations(out, ["bank", "tax", "courts", "social"]) == {
        "bank": str(out / "parties" / "bank"),
        "tax": str(tmp_path / "nodes" / "tax" / "runs" / "42"),
        "courts": "held by party courts (runs/42 in its SuperNode's work-dir)",
        "social": "held by party social",
    }
