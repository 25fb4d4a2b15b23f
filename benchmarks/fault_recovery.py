"""Benchmark: from a process killed mid-run to the run's final state, on a local deployment.

Starts a local federation (SuperLink + two SuperNodes with their ClientApp workers) running
the test-only echo protocol with a slow step, and for each kill kind once (a SuperNode,
the SuperLink, a party's ClientApp worker; SIGKILL and SIGTERM) kills that process after
the run's first epoch. Prints, per kind, the seconds from the kill to the run's final state
(goal, issue #15: under 90 s), the reason the run ended with, whether party state was left
after the kill and after the federation recovered and ran again (expected: none), and
whether that rerun succeeded. The baseline is the same federation's undisturbed run time,
measured first in the same process.

    python benchmarks/fault_recovery.py [--kinds supernode:SIGKILL,worker:SIGTERM] [--sleep 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "federation"))

from fault_harness import TARGETS, FaultFederation  # noqa: E402

GOAL_SECONDS = 90.0
KINDS = [f"{t}:{s}" for t in ("worker", "supernode", "superlink") for s in ("SIGKILL", "SIGTERM")]
assert {k.split(":")[0] for k in KINDS} == set(TARGETS)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--sleep", type=float, default=2.0, help="seconds per echo step")
    args = ap.parse_args()
    kinds = [k.split(":") for k in args.kinds.split(",") if k]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        fed = FaultFederation(Path(tmp), epochs=8, sleep=args.sleep)
        fed.up()
        try:
            t0 = time.perf_counter()
            fed.recover("worker")  # an undisturbed quick run: the baseline
            baseline = time.perf_counter() - t0
            print(f"baseline: an undisturbed run takes {baseline:.1f} s", flush=True)
            for target, sig in kinds:
                outcome = fed.inject(target, sig, limit=400)
                after_kill = fed.leftover_state()
                try:
                    fed.recover(target)
                    rerun = "ok"
                except Exception as exc:  # noqa: BLE001 - reported
                    rerun = f"failed: {type(exc).__name__}: {exc}"
                left = fed.leftover_state()
                rows.append((target, sig, outcome, len(after_kill), len(left), rerun))
                print(
                    f"{target:9s} {sig:7s} {outcome.seconds:6.1f} s to final state "
                    f"({outcome.seconds / baseline:.1f}x an undisturbed run); "
                    f"{outcome.error_type}: {outcome.reason[:140]}",
                    flush=True,
                )
                print(
                    f"{'':17s} output complete-or-absent: {outcome.out_complete}; state files "
                    f"left after the kill: {len(after_kill)}, after recovery: {len(left)}; "
                    f"rerun {rerun}",
                    flush=True,
                )
        finally:
            fed.down()
    worst = max((r[2].seconds for r in rows), default=0.0)
    clean = all(r[4] == 0 and r[5] == "ok" and r[2].out_complete for r in rows)
    print(
        f"slowest kill-to-final-state: {worst:.1f} s (goal < {GOAL_SECONDS:g} s: "
        f"{'met' if worst < GOAL_SECONDS else 'NOT met'}); "
        f"no state left and every rerun ok: {clean}"
    )
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
