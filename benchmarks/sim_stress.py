"""Stress check: two ``fedlab train`` runs on the simulation runtime at once, cores loaded.

    python benchmarks/sim_stress.py [--repeats 10] [--enterprises 600] [--epochs 2]

Writes small synthetic data (``fedlab data synth``) and a copy of
``examples/synthetic_hetero_lr.toml`` pointing at it (fewer epochs, 1024-bit keys), runs
one ``fedlab train`` alone as the baseline, then ``--repeats`` times: one busy-loop
process per core, and while they spin two ``fedlab train`` runs started together, each with
its own output folder. A run succeeds when it exits 0 and wrote ``metrics.json``. Prints
each round's wall seconds, successes/attempts and the wall times against the unloaded
baseline; exits 1 unless every run succeeded (acceptance, issue 15: 10 out of 10). A failed
run's last error lines are printed (they name the cause Ray's logs give).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import tomli_w

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "synthetic_hetero_lr.toml"
BUSY = "while True:\n    pass\n"
RUN_TIMEOUT_S = 900


@dataclass
class Run:
    ok: bool
    seconds: float
    tail: str
    retries: int  # Ray start-ups the runtime retried (its warning lines)


def fedlab(*args: str) -> list[str]:
    return [sys.executable, "-m", "lab.cli", *args]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("RAY_ADDRESS", None)
    return env


def prepare(work: Path, enterprises: int, epochs: int) -> Path:
    """Synthetic data and an experiment.toml for it; returns the config's path."""
    data = work / "data"
    subprocess.run(
        fedlab(
            "data", "synth", "--enterprises", str(enterprises), "--seed", "42", "--out", str(data)
        ),
        check=True,
        env=environment(),
        stdout=subprocess.DEVNULL,
    )
    cfg = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    cfg["experiment"]["runtime"] = "simulation"
    cfg["params"].update(epochs=epochs, key_bits=1024)
    for party in cfg["parties"]:
        party["data"] = str(data / Path(party["data"]).name)
        if "authorizations" in party:
            party["authorizations"] = str(data / Path(party["authorizations"]).name)
    path = work / "experiment.toml"
    path.write_text(tomli_w.dumps(cfg), encoding="utf-8")
    return path


def start_train(config: Path, out: Path) -> tuple[subprocess.Popen[str], float]:
    proc = subprocess.Popen(
        fedlab("train", "--config", str(config), "--out", str(out), "--runtime", "simulation"),
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, time.perf_counter()


def finish(proc: subprocess.Popen[str], began: float, out: Path) -> Run:
    try:
        _, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        err += f"\n(killed after {RUN_TIMEOUT_S} s)"
    seconds = time.perf_counter() - began
    ok = proc.returncode == 0 and (out / "metrics.json").is_file()
    tail = "\n".join(line for line in err.splitlines() if line.strip())[-1500:]
    return Run(ok, seconds, tail, err.count("Ray did not start (attempt"))


def load_cores(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(n)]


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def one_round(config: Path, work: Path, index: int, busy: int) -> list[Run]:
    """Load the cores, start two runs together, wait for both, stop the load."""
    loaders = load_cores(busy)
    try:
        time.sleep(2)  # the load is on before the runs start
        outs = [work / f"round{index:02d}" / side for side in ("a", "b")]
        started = [start_train(config, out) for out in outs]
        # one waiter per run: each run's pipe is drained and its end timed on its own
        # (waiting in turn would give the second run the first one's end time)
        with ThreadPoolExecutor(max_workers=len(outs)) as pool:
            waits = [
                pool.submit(finish, proc, began, out)
                for (proc, began), out in zip(started, outs, strict=True)
            ]
            return [w.result() for w in waits]
    finally:
        stop(loaders)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--enterprises", type=int, default=600)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="busy-loop processes")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="sim-stress-") as tmp:
        work = Path(tmp)
        config = prepare(work, args.enterprises, args.epochs)
        base_proc, began = start_train(config, work / "baseline")
        baseline = finish(base_proc, began, work / "baseline")
        print(
            f"baseline (one run, no load): {'ok' if baseline.ok else 'FAILED'} "
            f"{baseline.seconds:.1f} s"
        )
        if not baseline.ok:
            print(baseline.tail)
        runs: list[Run] = []
        for i in range(1, args.repeats + 1):
            pair = one_round(config, work, i, args.busy)
            runs.extend(pair)
            marks = "  ".join(
                f"{'ok' if r.ok else 'FAILED'} {r.seconds:6.1f} s ({r.retries} Ray retries)"
                for r in pair
            )
            print(f"round {i:2d}/{args.repeats} ({args.busy} busy loops): {marks}", flush=True)
            for r in pair:
                if not r.ok:
                    print("  " + r.tail.replace("\n", "\n  "))

    good = [r.seconds for r in runs if r.ok]
    print(
        f"\nsuccesses/attempts: {len(good)}/{len(runs)} runs, "
        f"{sum(all(r.ok for r in runs[j : j + 2]) for j in range(0, len(runs), 2))}"
        f"/{args.repeats} rounds with both runs succeeding; "
        f"{sum(r.retries for r in runs)} Ray start-ups retried"
    )
    if good:
        med = statistics.median(good)
        print(
            f"wall seconds under load: min {min(good):.1f}, median {med:.1f}, "
            f"max {max(good):.1f}"
            + (f"; median / unloaded baseline {med / baseline.seconds:.2f}x" if baseline.ok else "")
        )
    return 0 if baseline.ok and len(good) == len(runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
