"""Fault injection on the local deployment runtime (slow: ~1-2 min per case on 2 cores).

A SuperNode, the SuperLink or a party's ClientApp worker is killed (SIGKILL, SIGTERM) while
a run is mid-training. Each case checks that the run reaches a final state (no hang) with a
reason naming what died, that nothing half-written is left in the output folder, that no
party state file is left anywhere once the federation recovered and ran again (the rerun
reports the lost run ended to every party), and that the rerun succeeds. The harness is
:mod:`fault_harness`; ``benchmarks/fault_recovery.py`` prints the times.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_harness import FaultFederation

#: what the final error names, per killed process
NAMES = {"supernode": "party 'tax'", "worker": "party 'tax'", "superlink": "SuperLink"}


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultFederation]:
    saved = dict(os.environ)
    fed = FaultFederation(tmp_path_factory.mktemp("faults"), epochs=8, sleep=2.0)
    fed.up()
    try:
        yield fed
    finally:
        fed.down()
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.slow
@pytest.mark.flower
@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("target", "sig"),
    [
        ("worker", "SIGKILL"),
        ("worker", "SIGTERM"),
        ("supernode", "SIGKILL"),
        ("supernode", "SIGTERM"),
        ("superlink", "SIGKILL"),
        ("superlink", "SIGTERM"),
    ],
)
def test_a_kill_mid_run_ends_the_run_and_leaves_no_party_state(
    federation: FaultFederation, target: str, sig: str
) -> None:
    outcome = federation.inject(target, sig, limit=400)
    assert not outcome.ok
    assert NAMES[target] in outcome.reason, outcome.reason
    assert outcome.out_complete  # DIR absent (a failed run), no staging folder left
    metrics = federation.recover(target)
    assert metrics["runtime"] == "deployment" and metrics["epochs"] == 2
    left = federation.leftover_state()
    assert left == [], f"party state left after the rerun: {left}"
    # the parties' folders hold only finished runs' pieces
    for party in ("bank", "tax"):
        runs = Path(federation.state, "parties", party, "runs")
        assert all((p / "piece.json").is_file() for p in runs.iterdir())
