"""Local deployment with TLS: SuperLink + SuperNodes as separate processes (~30-60 s), and
the long-lived ClientApp worker that answers each SuperNode's messages in one process."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from echo_protocol import write_echo_experiment

from lab.errors import PartyUnavailableError, ProtocolError

WORKER_MODULE = "federation.runtime.clientapp_worker"


def _pids_in_group(pgid: int) -> set[int]:
    """Live (not zombie) processes of one process group, read from /proc (Linux)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.add(int(entry.name))
    return found


def _worker_pids(pgid: int) -> set[int]:
    out = set()
    for pid in _pids_in_group(pgid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if WORKER_MODULE.encode() in argv:
            out.add(pid)
    return out


def _wait_for(cond, timeout: float = 60.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout} s")


def _serving(log: str, pid: int) -> bool:
    return f"ClientApp worker (pid {pid}) serving" in Path(log).read_text(errors="replace")


@pytest.mark.slow
@pytest.mark.flower
@pytest.mark.timeout(400)
def test_deployment_with_tls_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from federation.config import load_config
    from federation.run import run_experiment
    from federation.runtime.deployment import (
        Federation,
        federation_down,
        federation_status,
        federation_up,
    )

    monkeypatch.setenv("FEDLAB_PROTOCOL_MODULES", "echo_protocol")
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]),
    )
    cfg = write_echo_experiment(
        tmp_path / "exp", runtime="deployment", epochs=2, extra="join_timeout = 60"
    )
    # the same parties plus one whose SuperNode never starts
    three = write_echo_experiment(
        tmp_path / "exp3",
        runtime="deployment",
        epochs=1,
        hosts=("tax", "court"),
        extra="join_timeout = 6",
    )
    short = write_echo_experiment(
        tmp_path / "exp2", runtime="deployment", epochs=1, extra="join_timeout = 6"
    )
    state = tmp_path / "fed"
    fed = federation_up(load_config(cfg), state, tls=True, supernode_auth=True)
    groups = [fed.superlink_pid]
    try:
        groups += [n.pid for n in fed.nodes]
        assert fed.ca_cert and Path(fed.ca_cert).is_file()
        assert all(r["state"] == "running" for r in federation_status(state))
        assert all(n.worker for n in fed.nodes)
        workers = {n.party: _wait_for(lambda n=n: _worker_pids(n.pid)) for n in fed.nodes}
        assert all(len(w) == 1 for w in workers.values())

        out = tmp_path / "run"
        summary = run_experiment(cfg, out, state_dir=state)
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["runtime"] == "deployment" and summary.metrics == metrics
        # init + 2 steps + save + finish; discovery is not a protocol exchange
        assert metrics["n_exchanges"] == 5 and metrics["exchanges_by_epoch"] == [1, 1]
        disc = json.loads((out / "disclosure.json").read_text())
        assert disc["parties"]["tax"]["received"]["echo.step"]["count"] == 2
        # model pieces stay at each party's node, in the run's own folder of its work dir;
        # DIR says where they are
        runs = set()
        for name, rows in (("bank", 5), ("tax", 3)):
            loc = json.loads((out / "parties" / name / "location.json").read_text())
            node = next(n for n in fed.nodes if n.party == name)
            assert loc["path"] == str(Path(node.work_dir) / "runs" / loc["run"])
            assert loc["model_piece"] == f"runs/{loc['run']}"
            piece = json.loads((Path(loc["path"]) / "piece.json").read_text())
            assert piece["rounds"] == 2 and piece["rows"] == rows
            # one long-lived ClientApp process answered every message of this party
            assert piece["n_pids"] == 1
            assert not (Path(loc["path"]) / ".state").exists()
            runs.add(loc["run"])
        assert len(runs) == 1
        per_exchange = metrics["seconds_per_phase"]["train"] / 2
        print(f"deployment (TLS, ClientApp worker): {per_exchange:.2f} s per exchange")

        # a run that fails at one party: the other party's state and files of that run are
        # discarded; the first run's folder stays, whose piece a model may name
        failing = Path(cfg).with_name("failing.toml")
        failing.write_text(Path(cfg).read_text().replace("[params]\n", '[params]\nfail = "tax"\n'))
        with pytest.raises(ProtocolError, match="party 'tax' failed in 'echo.init'"):
            run_experiment(failing, tmp_path / "run-failed", state_dir=state)
        for name in ("bank", "tax"):
            assert {p.name for p in (state / "parties" / name / "runs").iterdir()} == runs

        # a worker that dies on its own is replaced, and the party answers again
        tax = next(n for n in fed.nodes if n.party == "tax")
        (old,) = workers["tax"]
        os.kill(old, signal.SIGKILL)
        (new,) = _wait_for(lambda: _worker_pids(tax.pid) - {old})
        _wait_for(lambda: _serving(tax.log, new))
        bad = tmp_path / "run3"
        with pytest.raises(PartyUnavailableError, match="party 'court' did not join"):
            run_experiment(three, bad, state_dir=state)
        assert not bad.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run3")]

        # `fedlab federation node restart tax`: a new process with the same registered key
        from lab.cli import main

        registered = tax.node_id
        assert registered is not None and len({n.node_id for n in fed.nodes}) == 2
        with pytest.raises(SystemExit) as done:
            main(["federation", "node", "restart", "tax", "--state-dir", str(state)])
        assert done.value.code in (0, None)
        reloaded = Federation.load(state)
        assert reloaded is not None
        tax = next(n for n in reloaded.nodes if n.party == "tax")
        assert tax.node_id == registered and tax.pid not in groups
        groups.append(tax.pid)
        assert run_experiment(short, tmp_path / "run-restarted", state_dir=state).metrics

        # a killed SuperNode takes its worker with it (no orphan); the run names the party
        os.kill(tax.pid, signal.SIGKILL)
        _wait_for(lambda: not _pids_in_group(tax.pid), timeout=10)
        gone = tmp_path / "run-gone"
        with pytest.raises(PartyUnavailableError, match="party 'tax' did not join"):
            run_experiment(short, gone, state_dir=state)
        assert not gone.exists()
    finally:
        stopped = federation_down(state)
    assert stopped == ["supernode bank", "superlink"]
    assert federation_status(state) == []
    # `down` stopped every process it started, the ClientApp workers included
    assert not any(_pids_in_group(g) for g in groups)


def test_worker_only_on_the_flower_version_it_speaks(monkeypatch: pytest.MonkeyPatch) -> None:
    import flwr

    from federation.runtime.clientapp_worker import supported
    from federation.runtime.supernode import use_worker

    assert supported("1.41.0") and supported("1.41.12")
    assert not any(supported(v) for v in ("1.40.3", "1.42.0", "2.41.0", "1", "dev"))
    base = ["--superlink", "127.0.0.1:9092", "--port", "9094"]
    assert use_worker(base) == supported(flwr.__version__)
    monkeypatch.setattr(flwr, "__version__", "1.41.3")
    assert use_worker(base)
    # disabled, or the operator chose the launching, or Flower must install dependencies
    for extra in (
        ["--fedlab-no-worker"],
        ["--isolation", "subprocess"],
        ["--isolation=process"],
        ["--allow-runtime-dependency-installation"],
    ):
        assert not use_worker(base + extra)
    monkeypatch.setattr(flwr, "__version__", "1.42.0")
    assert not use_worker(base)


def test_worker_command_reaches_the_supernodes_runtime_api(monkeypatch: pytest.MonkeyPatch) -> None:
    from federation.runtime.supernode import worker_command

    monkeypatch.delenv("FLWR_SUPEREXEC_TASK_POLL_INTERVAL", raising=False)
    cmd = worker_command(["--superlink", "10.0.0.5:9092", "--insecure"], parent_pid=42)
    assert cmd[1:] == [
        "-m",
        WORKER_MODULE,
        "--runtime-api-address",
        "127.0.0.1:9094",
        "--parent-pid",
        "42",
    ]
    monkeypatch.setenv("FLWR_SUPEREXEC_TASK_POLL_INTERVAL", "0.05")
    cmd = worker_command(
        [
            "--host",
            "0.0.0.0",
            "--port=7001",
            "--ssl-ca-certfile",
            "ca.crt",
            "--ssl-certfile",
            "s.pem",
            "--ssl-keyfile",
            "s.key",
        ],
        parent_pid=7,
    )
    opts = dict(zip(cmd[3::2], cmd[4::2], strict=False))
    assert opts == {
        "--runtime-api-address": "127.0.0.1:7001",
        "--parent-pid": "7",
        "--poll": "0.05",
        "--root-certificates": "ca.crt",
    }


def test_supervisor_restarts_a_worker_that_died_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from federation.runtime import supernode

    monkeypatch.setattr(supernode, "RESTART_DELAY", 0.05)
    killed = supernode.WorkerSupervisor(["/bin/sh", "-c", "kill -9 $$"])
    killed.start()
    _wait_for(lambda: killed.starts >= 3, timeout=20)
    killed.stop()
    # a worker stopped on its own (SIGTERM to it alone) is replaced too: the SuperNode
    # would otherwise wait for nobody
    stopped = supernode.WorkerSupervisor(["/bin/sh", "-c", "kill -TERM $$"])
    stopped.start()
    _wait_for(lambda: stopped.starts >= 2, timeout=20)
    stopped.stop()
    # a worker on a Flower version it does not speak stays down
    done = supernode.WorkerSupervisor(["/bin/sh", "-c", "exit 2"])
    done.start()
    done._thread.join(timeout=20)
    assert not done._thread.is_alive() and done.starts == 1


def test_supernode_sleeps_are_shortened(monkeypatch: pytest.MonkeyPatch) -> None:
    from federation.runtime import supernode

    slept: list[float] = []
    monkeypatch.setattr(
        supernode,
        "_time",
        type("T", (), {"sleep": staticmethod(slept.append), "monotonic": lambda: 7.0}),
    )
    patched = supernode._PatchedTime(0.2)
    for s in (3, 0.5, 1.0, 0.1):
        patched.sleep(s)
    # idle pull 3 s -> poll; reply look 0.5 s -> REPLY_POLL; any other sleep unchanged
    assert slept == [0.2, supernode.REPLY_POLL, 1.0, 0.1]
    assert patched.monotonic() == 7.0
