"""Fault injection on a local deployment: kill a process mid-run, time the run's end.

Used by ``tests/federation/test_fault_injection.py`` and ``benchmarks/fault_recovery.py``.
A local federation (SuperLink + one SuperNode per party, each with its long-lived ClientApp
worker) runs the test-only echo protocol with a slow step; once the first epoch is reported
one process is killed (SIGKILL or SIGTERM): a SuperNode, the SuperLink, or a party's
ClientApp worker. :meth:`FaultFederation.inject` returns how the run ended and how long
after the kill; :meth:`FaultFederation.leftover_state` lists every party state file on the
machine's party folders; :meth:`FaultFederation.recover` restarts what was killed and runs
again. Only this machine's processes and a temporary folder are touched.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echo_protocol import write_echo_experiment

HERE = Path(__file__).resolve().parent
WORKER_MODULE = b"federation.runtime.clientapp_worker"
TARGETS = ("supernode", "superlink", "worker")
SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM}
#: the party whose processes are killed (a host; the guest stays up)
VICTIM = "tax"


def echo_env() -> None:
    """The environment every process of the federation needs for the echo protocol."""
    os.environ["FEDLAB_PROTOCOL_MODULES"] = "echo_protocol"
    parts = [str(HERE), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    bin_dir = str(Path(sys.executable).parent)  # Flower's executables (SuperExec) beside it
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])


def group_pids(pgid: int) -> set[int]:
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


def worker_pids(pgid: int) -> set[int]:
    out = set()
    for pid in group_pids(pgid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if WORKER_MODULE in argv:
            out.add(pid)
    return out


def wait_for(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout:g} s")


@dataclass
class Outcome:
    """How a run with a kill ended."""

    target: str
    signal: str
    seconds: float  # from the kill to the run's final state
    ok: bool
    error_type: str
    reason: str
    out_complete: bool  # DIR absent, or metrics.json whole


class FaultFederation:
    """A local federation in ``root`` for fault injection with the echo protocol."""

    def __init__(self, root: Path, *, epochs: int = 8, sleep: float = 2.0) -> None:
        echo_env()
        self.root = Path(root)
        self.state = self.root / "fed"
        extra = "join_timeout = 60\ntimeout = 75"
        self.slow = write_echo_experiment(self.root / "exp", runtime="deployment", extra=extra)
        text = (
            Path(self.slow).read_text().replace("epochs = 2", f"epochs = {epochs}\nsleep = {sleep}")
        )
        Path(self.slow).write_text(text)
        self.quick = write_echo_experiment(
            self.root / "exp-quick", runtime="deployment", extra=extra
        )
        self.runs = 0

    def up(self) -> None:
        from federation.config import load_config
        from federation.runtime.deployment import federation_up

        fed = federation_up(load_config(self.slow), self.state)
        for n in fed.nodes:  # every party's worker serves before a run starts
            wait_for(lambda n=n: worker_pids(n.pid), 90, f"worker of {n.party}")

    def down(self) -> None:
        from federation.runtime.deployment import federation_down

        federation_down(self.state)

    def _fed(self) -> Any:
        from federation.runtime.deployment import Federation

        return Federation.load(self.state)

    def _victim_pid(self, target: str) -> int:
        fed = self._fed()
        if target == "superlink":
            return int(fed.superlink_pid)
        node = next(n for n in fed.nodes if n.party == VICTIM)
        if target == "supernode":
            return int(node.pid)
        (pid,) = wait_for(lambda: worker_pids(node.pid), 60, "the victim's worker")
        return int(pid)

    def run(self, config: Path, out: Path, box: dict[str, Any], started: threading.Event) -> None:
        from federation.run import run_experiment

        def progress(event: str, fields: dict[str, Any]) -> None:  # noqa: ARG001
            if event == "epoch":
                started.set()

        try:
            box["summary"] = run_experiment(config, out, state_dir=self.state, progress=progress)
        except BaseException as exc:  # noqa: BLE001 - the outcome is reported
            box["error"] = exc
        box["ended"] = time.monotonic()

    def inject(self, target: str, sig: str, *, limit: float = 300.0) -> Outcome:
        """Start the slow run, kill ``target`` with ``sig`` after its first epoch, wait for
        the run's final state."""
        self.runs += 1
        out = self.root / f"run-{self.runs}"
        box: dict[str, Any] = {}
        started = threading.Event()
        thread = threading.Thread(target=self.run, args=(self.slow, out, box, started))
        thread.start()
        if not started.wait(180):
            thread.join(limit)
            raise AssertionError(f"the run did not reach its first epoch: {box}")
        pid = self._victim_pid(target)
        time.sleep(0.5)  # inside the next step's sleep at the parties
        killed = time.monotonic()
        os.kill(pid, SIGNALS[sig])
        thread.join(limit)
        if thread.is_alive():
            raise AssertionError(f"no final state {limit:g} s after killing the {target}")
        error = box.get("error")
        return Outcome(
            target,
            sig,
            round(box["ended"] - killed, 1),
            error is None,
            type(error).__name__ if error is not None else "",
            str(error or ""),
            _complete(out),
        )

    def recover(self, target: str) -> dict[str, Any]:
        """Restart what ``target``'s kill took down (the whole federation for a SuperNode or
        the SuperLink; a worker is replaced by its SuperNode), then run the quick experiment
        again; its metrics."""
        from federation.run import run_experiment

        if target in ("supernode", "superlink"):
            self.down()
            self.up()
        else:
            fed = self._fed()
            node = next(n for n in fed.nodes if n.party == VICTIM)
            wait_for(lambda: worker_pids(node.pid), 60, "a new worker")
        self.runs += 1
        out = self.root / f"run-{self.runs}"
        summary = run_experiment(self.quick, out, state_dir=self.state)
        return dict(summary.metrics)

    def leftover_state(self) -> list[str]:
        """Every party state file (``*.pkl``, ``.state/*``) under the parties' folders and
        the run outputs."""
        found = []
        for p in self.root.rglob("*"):
            if not p.is_file():
                continue
            if p.suffix == ".pkl" or p.parent.name == ".state":
                found.append(str(p.relative_to(self.root)))
        return sorted(found)


def _complete(out: Path) -> bool:
    """Nothing half-written: DIR absent (and no staging sibling), or its metrics.json whole."""
    siblings = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    if siblings:
        return False
    if not out.exists():
        return True
    try:
        json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        return False
    return True


__all__ = ["SIGNALS", "TARGETS", "FaultFederation", "Outcome", "echo_env"]
