"""The simulation runtime under the conditions that broke it: slow Ray agents, two at once.

Ray 2.55's raylet gives each of its agents a fixed 15 s to announce its ports and aborts
otherwise; a loaded machine made the agents that slow. Here the agents are made slower on
purpose (a ``sitecustomize`` on their PYTHONPATH sleeps 20 s in them only), so the test
does not depend on how busy the machine is. ``benchmarks/sim_stress.py`` repeats the
two-at-once case under real CPU load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from echo_protocol import write_echo_experiment

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

SLOW_AGENTS = """
import os, sys, time
_argv = " ".join(sys.argv)
for _part in (os.path.join("dashboard", "agent.py"), os.path.join("runtime_env", "agent")):
    if _part in _argv:
        with open(os.path.join({marks!r}, str(os.getpid())), "w") as _f:
            _f.write(_part)
        time.sleep({seconds})
"""


@pytest.mark.slow
@pytest.mark.flower
def test_simulation_starts_although_rays_agents_take_longer_than_the_raylet_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from federation.run import run_experiment
    from federation.runtime.ray_start import RAYLET_PORT_WAIT_S

    hook, marks = tmp_path / "hook", tmp_path / "marks"
    hook.mkdir()
    marks.mkdir()
    seconds = RAYLET_PORT_WAIT_S + 5
    (hook / "sitecustomize.py").write_text(SLOW_AGENTS.format(marks=str(marks), seconds=seconds))
    monkeypatch.setenv("PYTHONPATH", str(hook))
    monkeypatch.setenv("FEDLAB_PROTOCOL_MODULES", "echo_protocol")
    cfg = write_echo_experiment(tmp_path / "exp", runtime="simulation", epochs=2)
    summary = run_experiment(cfg, tmp_path / "run")
    assert summary.metrics["runtime"] == "simulation"
    assert summary.metrics["exchanges_by_epoch"] == [1, 1]
    slowed = sorted(p.read_text() for p in marks.iterdir())
    # both agents really were slower than the raylet's wait
    assert slowed == [os.path.join("dashboard", "agent.py"), os.path.join("runtime_env", "agent")]


RUN_ONE = """
import json, sys
from echo_protocol import write_echo_experiment
from federation.run import run_experiment
cfg = write_echo_experiment(sys.argv[1] + "/exp", runtime="simulation", epochs=2)
s = run_experiment(cfg, sys.argv[1] + "/run")
print(json.dumps({"exchanges_by_epoch": s.metrics["exchanges_by_epoch"]}))
"""


@pytest.mark.slow
@pytest.mark.flower
def test_two_simulations_at_once_on_one_machine_both_succeed(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]),
        "FEDLAB_PROTOCOL_MODULES": "echo_protocol",
    }
    env.pop("RAY_ADDRESS", None)
    procs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", RUN_ONE, str(tmp_path / name)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert json.loads(out.strip().splitlines()[-1]) == {"exchanges_by_epoch": [1, 1]}
    for name in ("a", "b"):
        metrics = json.loads((tmp_path / name / "run" / "metrics.json").read_text())
        assert metrics["runtime"] == "simulation"


SLOW_WORKERS = """
import os, sys, time
if "default_worker.py" in " ".join(sys.argv):
    time.sleep({seconds})
"""


@pytest.mark.slow
@pytest.mark.flower
def test_a_simulation_starts_although_rays_workers_start_later_than_ray_waits(
    tmp_path: Path,
) -> None:
    """Ray's workers are made slower than Ray's own registration wait (shortened to 5 s
    for the test, 60 s by default: a loaded machine took longer). With prestarting for the
    first driver on, the prestarted workers were given up on and ``ray.init`` never
    returned; the run is a subprocess so such a hang fails the test instead of stalling it."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_WORKERS.format(seconds=20))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hook), str(REPO), str(HERE)]),
        "FEDLAB_PROTOCOL_MODULES": "echo_protocol",
        "RAY_worker_register_timeout_seconds": "5",
    }
    env.pop("RAY_ADDRESS", None)
    try:
        done = subprocess.run(
            [sys.executable, "-c", RUN_ONE, str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError("the simulation did not end: ray.init blocked") from exc
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"exchanges_by_epoch": [1, 1]}
