"""The processes of a deployment, as this machine sees them: start, probe, stop.

Helpers shared by the local federation (:mod:`federation.runtime.local_federation`) and
the coordinator's ``flwr run`` (:mod:`federation.runtime.deployment`): the Flower
executables of this installation, the environment every Flower process gets (telemetry
and update checks off, the task poll interval lowered), free ports on 127.0.0.1, process
groups started in a session of their own and stopped with SIGTERM, then SIGKILL.

Executables are found beside this interpreter and in its install scheme's scripts folder
(:func:`scripts_dirs`), never by searching PATH: a lab started as ``.venv/bin/fedlab``
without activating the venv works, and never runs another installation's Flower. Flower
itself starts ``flower-superexec``, ``flwr-serverapp`` and ``flwr-clientapp`` by bare name,
so :func:`flower_env` puts those folders first on the children's PATH.

Nothing leaves this machine here and no party data is touched: processes are started and
signalled, and a port on 127.0.0.1 is probed with a TCP connect.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterable
from pathlib import Path

from crypto.errors import MissingExecutableError, ProtocolError

TASK_POLL_INTERVAL = "0.05"

BASE_ENV = {
    "FLWR_TELEMETRY_ENABLED": "0",
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "FLWR_SUPEREXEC_TASK_POLL_INTERVAL": TASK_POLL_INTERVAL,
}


#: what Flower's own processes start by bare name: the SuperLink and a SuperNode without
#: the lab's worker start ``flower-superexec``, which starts the app processes
FLOWER_CHILDREN = ("flower-superexec", "flwr-serverapp", "flwr-clientapp")


def scripts_dirs() -> list[Path]:
    """The folders that hold this installation's console scripts, in search order: beside
    the interpreter (a venv's ``bin``), then the install scheme's and the user scheme's
    scripts folders. PATH is not among them."""
    found: list[Path] = []
    cands = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    user = f"{os.name}_user"
    if user in sysconfig.get_scheme_names():
        cands.append(Path(sysconfig.get_path("scripts", user)))
    for d in cands:
        if d not in found:
            found.append(d)
    return found


def flower_bin(name: str) -> str:
    """The path of executable ``name`` of this installation (:func:`scripts_dirs`);
    :class:`MissingExecutableError` naming it when none has it."""
    dirs = scripts_dirs()
    for d in dirs:
        cand = d / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    raise MissingExecutableError(
        f"executable {name!r} not found beside this Python ({sys.executable}); "
        f"looked in {', '.join(str(d) for d in dirs)}"
    )


def require_bins(names: Iterable[str]) -> None:
    """Every executable of ``names`` exists (:func:`flower_bin`), checked before anything
    starts so that a missing one is an error here, not a line in a child's log."""
    for name in names:
        flower_bin(name)


def flower_env(flwr_home: Path) -> dict[str, str]:
    """This process's environment with :data:`BASE_ENV`, ``FLWR_HOME=flwr_home`` and the
    installation's scripts folders first on PATH (Flower starts its children by name)."""
    env = dict(os.environ)
    env.update(BASE_ENV)
    env["FLWR_HOME"] = str(flwr_home)
    first = [str(d) for d in scripts_dirs() if d.is_dir()]
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p not in first]
    env["PATH"] = os.pathsep.join([*first, *rest])
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


def last_error(log: Path) -> str | None:
    """The last exception line (``SomeError: ...``) of a process's ``log``, if any."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    found = [ln.strip() for ln in lines if re.match(r"\s*[\w.]+(Error|Exception): ", ln)]
    return found[-1] if found else None


def wait_port(port: int, pid: int, log: Path, timeout: float = 30.0) -> None:
    """Wait until the SuperLink ``pid`` accepts connections on ``port`` (ProtocolError
    naming ``log`` when it exits or ``timeout`` passes first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            cause = last_error(log)
            raise ProtocolError(
                f"the SuperLink exited at start-up{f' ({cause})' if cause else ''}; see {log}"
            )
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
    "FLOWER_CHILDREN",
    "TASK_POLL_INTERVAL",
    "alive",
    "flower_bin",
    "flower_env",
    "free_port",
    "group_alive",
    "last_error",
    "require_bins",
    "scripts_dirs",
    "spawn",
    "stop_group",
    "wait_port",
]
