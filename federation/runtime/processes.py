"""The processes of a deployment, as this machine sees them: start, probe, stop.

Helpers shared by the local federation (:mod:`federation.runtime.local_federation`) and
the coordinator's ``flwr run`` (:mod:`federation.runtime.deployment`): the Flower
executables beside this interpreter, the environment every Flower process gets (telemetry
and update checks off, the task poll interval lowered), free ports on 127.0.0.1, process
groups started in a session of their own and stopped with SIGTERM, then SIGKILL.

Nothing leaves this machine here and no party data is touched: processes are started and
signalled, and a port on 127.0.0.1 is probed with a TCP connect.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from crypto.errors import ProtocolError

TASK_POLL_INTERVAL = "0.05"

BASE_ENV = {
    "FLWR_TELEMETRY_ENABLED": "0",
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "FLWR_SUPEREXEC_TASK_POLL_INTERVAL": TASK_POLL_INTERVAL,
}


def flower_bin(name: str) -> str:
    """The Flower executable installed beside this interpreter (or on PATH)."""
    cand = Path(sys.executable).with_name(name)
    return str(cand) if cand.exists() else name


def flower_env(flwr_home: Path) -> dict[str, str]:
    """This process's environment with :data:`BASE_ENV` and ``FLWR_HOME=flwr_home``."""
    env = dict(os.environ)
    env.update(BASE_ENV)
    env["FLWR_HOME"] = str(flwr_home)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie child of this process does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this process counts as stopped
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def wait_port(port: int, pid: int, log: Path, timeout: float = 30.0) -> None:
    """Wait until the SuperLink ``pid`` accepts connections on ``port`` (ProtocolError
    naming ``log`` when it exits or ``timeout`` passes first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            raise ProtocolError(f"the SuperLink exited at start-up; see {log}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise ProtocolError(f"the SuperLink did not open port {port} in {timeout:g} s; see {log}")


def spawn(cmd: list[str], log: Path, env: dict[str, str]) -> int:
    """Start ``cmd`` in a session (process group) of its own, output appended to ``log``;
    its PID."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,  # noqa: S603
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return proc.pid


def group_alive(pgid: int) -> bool:
    """Whether any process of the group we started (leader, workers, children) remains."""
    if alive(pgid):
        return True
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_group(pid: int, timeout: float) -> bool:
    """SIGTERM the process group we started (the process and its children, such as the
    ClientApp worker or Flower's SuperExec); SIGKILL what is left after ``timeout``."""
    if not group_alive(pid):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and group_alive(pid):
        time.sleep(0.1)
    if group_alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return True


__all__ = [
    "BASE_ENV",
    "TASK_POLL_INTERVAL",
    "alive",
    "flower_bin",
    "flower_env",
    "free_port",
    "group_alive",
    "spawn",
    "stop_group",
    "wait_port",
]
