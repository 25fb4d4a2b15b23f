"""Start Ray for the simulation runtime: a private cluster per run that survives a busy machine.

Why this exists: on a loaded 2-core machine Ray's raylet aborted during ``ray.init`` with
``Timed out waiting for file .../metrics_agent_port_<node>`` and the run failed after ~30 s
with a message that blamed memory. The raylet waits a fixed 15 s for each of its two agents
(Python processes) to announce its ports in files of the session folder; in Ray 2.55
neither ``agent_register_timeout_ms`` in ``_system_config`` nor the environment variable
changes that wait (checked on the installed package, with agents slowed on purpose). Under
load an agent's Python start-up alone takes longer (17-29 s was measured). The raylet does
not wait for a port it was given. So, on the checked Ray version only:

* the *dashboard agent*, which without the ``ray[default]`` extras runs "minimal" and only
  announces ``-1`` ("service not in use") for its three ports, is stood in for by
  :func:`agent_port_stand_in`, which writes those same ``-1`` announcements with Ray's own
  ``persist_port`` as soon as the session folder names the node (the agent later writes
  the same values again);
* the *runtime-env agent* gets its port chosen up front (:func:`runtime_env_agent_port`,
  :func:`quiet_port`); nothing of ours uses runtime environments, and Ray's client for
  that agent waits ``agent_register_timeout_ms`` (raised to 120 s).

A second way a busy machine broke the start: ``ray.init`` blocked for good. The raylet
starts one Python worker per CPU for the first driver and answers that driver's
registration only once they have registered; a worker that takes longer than
``worker_register_timeout_seconds`` (60 s) to start under load is given up on, and the
answer never comes (the driver waits in a blocking read that holds the GIL, so no thread
of ours could step in; seen with two runs and two busy loops on two cores). Prestarting
for the first driver is therefore off (``prestart_worker_first_driver``), so the
registration is answered at once and workers start when the parties' actors need them,
and the worker registration wait is raised to :data:`WORKER_REGISTER_WAIT_S`.

Also: the dashboard, metrics collection and usage stats are off (:data:`RAY_ENV`,
:data:`RAY_SYSTEM_CONFIG`); every run has its own Ray temp folder
(:func:`private_temp_dir`; ``address="local"`` never joins another cluster), so two
simulations on one machine share no cluster, session files or ``session_latest`` link; a
start that fails with the start-up time-out is retried a bounded number of times
(:class:`RetryPolicy`), each time in a new folder after ending the failed start's processes;
and a failure names the cause found in Ray's logs (:func:`extract_cause`) instead of
guessing.

What is revealed to whom: nothing here touches party data. Ray's logs stay on this
machine; an error quotes only Ray's own facts (a port file's name, a failed check).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from crypto.errors import RuntimeStartError

T = TypeVar("T")

#: environment for Ray's processes (inherited by the GCS, raylet and agents)
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_enable_metrics_collection": "0"}
#: seconds Ray waits for a started worker process to register (Ray's default: 60)
WORKER_REGISTER_WAIT_S = 300
#: Ray settings passed to ``ray.init(_system_config=...)``; every name is read by Ray 2.55
RAY_SYSTEM_CONFIG: dict[str, object] = {
    "enable_metrics_collection": False,
    "agent_register_timeout_ms": 120_000,
    # the first driver's registration would wait for its prestarted workers (see above)
    "prestart_worker_first_driver": False,
    "worker_register_timeout_seconds": WORKER_REGISTER_WAIT_S,
}
#: Ray releases whose start-up :func:`agent_port_stand_in` was checked against
_CHECKED_RAY = ("2.55.",)
#: port files the minimal dashboard agent announces as -1 (``ray._raylet`` names)
_AGENT_PORT_NAMES = (
    "METRICS_AGENT_PORT_NAME",
    "METRICS_EXPORT_PORT_NAME",
    "DASHBOARD_AGENT_LISTEN_PORT_NAME",
)
#: how long the raylet waits for an agent's port file (fixed in Ray 2.55)
RAYLET_PORT_WAIT_S = 15
_LOG_FILES = ("raylet.err", "raylet.out", "gcs_server.err", "gcs_server.out")
_TAIL_BYTES = 64_000
_TIMED_OUT = re.compile(r"Timed out waiting for file (\S+)")
_CHECK_FAILED = re.compile(r"Check failed: (.+)")
_WORKER_UNREGISTERED = re.compile(r"Some workers of the worker process\(\d+\) have not registered")
_OOM = re.compile(r"(running low on memory|OutOfMemoryError|oom[- ]kill)", re.IGNORECASE)
_NODE_SUFFIX = re.compile(r"_[0-9a-f]{56}$")
_STARTUP_TIMEOUT_TEXT = "timed out during startup"


@dataclass(frozen=True)
class StartCause:
    """What Ray's logs say went wrong; ``retryable`` marks the start-up time-out."""

    message: str
    retryable: bool


def _port_name(path: str) -> str:
    """``.../metrics_agent_port_<56 hex>`` -> ``metrics_agent_port``."""
    return _NODE_SUFFIX.sub("", Path(path).name)


def extract_cause(log_text: str) -> StartCause | None:
    """The first known cause in Ray's log text, or None."""
    found = _TIMED_OUT.search(log_text)
    if found:
        name = _port_name(found.group(1))
        agent = "runtime-env agent" if name.startswith("runtime_env") else "dashboard agent"
        return StartCause(
            f"Ray's raylet stopped: its {agent} did not announce {name} within the raylet's "
            f"wait (Ray waits {RAYLET_PORT_WAIT_S} s for it); the machine was too busy to "
            "start Ray's helper processes in time",
            retryable=True,
        )
    if _WORKER_UNREGISTERED.search(log_text):
        return StartCause(
            "Ray's worker processes did not start within Ray's wait "
            f"({WORKER_REGISTER_WAIT_S} s); the machine was too busy",
            retryable=False,
        )
    if _OOM.search(log_text):
        return StartCause("Ray stopped a worker because the machine ran low on memory", False)
    failed = _CHECK_FAILED.search(log_text)
    if failed:
        return StartCause(f"Ray's raylet stopped on a failed check: {failed.group(1)}", False)
    return None


def _tail(path: Path) -> str:
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - _TAIL_BYTES))
        return fh.read().decode("utf-8", errors="replace")


def read_cause(temp_dir: Path) -> StartCause | None:
    """The cause found in the logs of the Ray sessions under ``temp_dir`` (newest first)."""
    sessions = sorted(temp_dir.glob("session_2*"), reverse=True)
    for session in sessions:
        for name in _LOG_FILES:
            log = session / "logs" / name
            with contextlib.suppress(OSError):
                cause = extract_cause(_tail(log))
                if cause is not None:
                    return cause
    return None


def classify_start_failure(exc: BaseException, temp_dir: Path) -> StartCause:
    """Why ``ray.init`` failed: the cause in Ray's logs, else the exception itself."""
    cause = read_cause(temp_dir)
    if cause is not None:
        return cause
    text = f"{type(exc).__name__}: {exc}"
    return StartCause(f"Ray did not start: {text}", _STARTUP_TIMEOUT_TEXT in str(exc))


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` starts; ``backoff_s * n`` seconds before the n-th retry."""

    attempts: int = 3
    backoff_s: float = 2.0

    def delay(self, retry: int) -> float:
        return self.backoff_s * retry


def start_with_retries(
    start: Callable[[int], T],
    classify: Callable[[BaseException, int], StartCause],
    *,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, StartCause], None] | None = None,
) -> T:
    """``start(attempt)`` until it returns; retry only a start-up time-out, boundedly.

    A failure that is not retryable, or the last attempt's, raises
    :class:`RuntimeStartError` naming the cause ``classify(exc, attempt)`` found.
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return start(attempt)
        except Exception as exc:  # classified below; Ray raises bare Exception here
            cause = classify(exc, attempt)
            if not cause.retryable or attempt == policy.attempts:
                tried = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise RuntimeStartError(
                    f"Flower's simulation runtime could not start Ray{tried}: {cause.message}"
                ) from exc
            if on_retry is not None:
                on_retry(attempt, cause)
            sleep(policy.delay(attempt))
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def private_temp_dir() -> Path:
    """A new folder for one Ray cluster's session files (short: Ray puts sockets in it)."""
    base = tempfile.gettempdir()
    if len(base) > 40:  # Unix socket paths are limited to ~107 bytes
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix="fedlab-ray-", dir=base))


def _stand_in_applies() -> bool:
    import ray
    from ray._private import utils

    minimal = utils.get_dashboard_dependency_error() is not None
    return minimal and ray.__version__.startswith(_CHECKED_RAY)


def _announce_minimal_agent(temp_dir: Path) -> bool:
    """Write -1 for the agent's ports of the first node found; True once done."""
    from ray import _raylet as raylet_module  # Ray's compiled core: no type stubs

    _raylet: Any = raylet_module
    for port_file in temp_dir.glob(f"session_2*/{_raylet.GCS_SERVER_PORT_NAME}_*"):
        node_id = port_file.name.rsplit("_", 1)[1]
        if len(node_id) != 56 or port_file.name.endswith(".tmp"):
            continue
        session = port_file.parent
        for attr in _AGENT_PORT_NAMES:
            name = getattr(_raylet, attr)
            if not (session / _raylet.get_port_filename(node_id, name)).exists():
                _raylet.persist_port(str(session), node_id, name, -1)
        return True
    return False


@contextlib.contextmanager
def agent_port_stand_in(temp_dir: Path, *, poll: float = 0.02) -> Iterator[bool]:
    """While the block starts Ray, announce the minimal dashboard agent's ports for it.

    Yields whether the stand-in runs (checked Ray version and a minimal agent only).
    """
    if not _stand_in_applies():
        yield False
        return
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                if _announce_minimal_agent(temp_dir):
                    return
            stop.wait(poll)

    thread = threading.Thread(target=watch, name="fedlab-ray-ports", daemon=True)
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join(timeout=5)


def quiet_port(rng: random.Random | None = None) -> int:
    """A free TCP port below the kernel's ephemeral range (never handed out by ``bind(0)``,
    so the random ports Ray's other processes bind cannot take it first)."""
    low = 32768
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = rng or random.Random()
    for _ in range(200):
        port = rng.randrange(10_000, max(10_001, low))
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeStartError("no free TCP port below the ephemeral range for Ray's agent")


@contextlib.contextmanager
def runtime_env_agent_port(port: int) -> Iterator[bool]:
    """While the block runs ``ray.init``, give Ray's runtime-env agent a chosen port.

    With the port given, the raylet does not wait (a fixed 15 s in Ray 2.55) for the agent
    to announce one; nothing of ours needs that agent (no runtime_env), and Ray's client for
    it waits ``agent_register_timeout_ms``. ``ray.init`` has no argument for the port, so
    the parameters class it builds is wrapped, on the checked Ray version only. Yields
    whether the wrapper applied.
    """
    import ray
    from ray._private import parameter

    original = parameter.RayParams
    if not ray.__version__.startswith(_CHECKED_RAY):
        yield False
        return

    class _Params(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("runtime_env_agent_port", port)
            super().__init__(*args, **kwargs)

    setattr(parameter, "RayParams", _Params)  # noqa: B010 - mypy: a class is replaced
    try:
        yield True
    finally:
        setattr(parameter, "RayParams", original)  # noqa: B010


def end_leftover_processes(temp_dir: Path) -> int:
    """SIGKILL this run's Ray processes left by a failed start (their command line names
    ``temp_dir``, which only this run uses); returns how many. Linux ``/proc`` only."""
    marker = str(temp_dir).encode()
    ended = 0
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                ended += 1
    return ended


def ray_init_args(temp_dir: Path, num_cpus: int) -> dict[str, object]:
    """``ray.init`` arguments: a new local cluster in ``temp_dir``, no dashboard, quiet."""
    return {
        "address": "local",
        "num_cpus": num_cpus,
        "include_dashboard": False,
        "logging_level": "ERROR",
        "log_to_driver": False,
        "_temp_dir": str(temp_dir),
        "_system_config": dict(RAY_SYSTEM_CONFIG),
    }


@contextlib.contextmanager
def _worker_pythonpath() -> Iterator[None]:
    """Ray's workers inherit the raylet's environment, not this process's ``sys.path``
    (tests add folders to it): export it as PYTHONPATH while Ray's processes start."""
    before = os.environ.get("PYTHONPATH")
    parts = [p for p in sys.path if p] + ([before] if before else [])
    os.environ["PYTHONPATH"] = os.pathsep.join(parts)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def _start_once(temp_dir: Path, num_cpus: int) -> None:
    import ray

    with (
        _worker_pythonpath(),
        agent_port_stand_in(temp_dir),
        runtime_env_agent_port(quiet_port()),
        warnings.catch_warnings(),
    ):
        # Ray 2.55 tells every ray.init about a future change of GPU visibility; no party
        # uses a GPU, and opting in (RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO) would change it.
        warnings.filterwarnings("ignore", r"Tip: In future versions of Ray", FutureWarning)
        ray.init(**ray_init_args(temp_dir, num_cpus))  # type: ignore[arg-type]


def _clean_failed_start(temp_dir: Path) -> None:
    import ray

    with contextlib.suppress(Exception):
        ray.shutdown()
    end_leftover_processes(temp_dir)


@contextlib.contextmanager
def private_ray(
    num_cpus: int,
    *,
    policy: RetryPolicy = RetryPolicy(),
    on_retry: Callable[[int, StartCause], None] | None = None,
) -> Iterator[Path]:
    """Start a private Ray cluster (retrying a start-up time-out); stop it at the end.

    Yields the cluster's temp folder (pass it to :func:`read_cause` when a run fails).
    """
    import ray

    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    folders: list[Path] = []

    def start(attempt: int) -> Path:  # noqa: ARG001
        folder = private_temp_dir()
        folders.append(folder)
        _start_once(folder, num_cpus)
        return folder

    def classify(exc: BaseException, attempt: int) -> StartCause:  # noqa: ARG001
        cause = classify_start_failure(exc, folders[-1])
        _clean_failed_start(folders[-1])
        return cause

    try:
        yield start_with_retries(start, classify, policy=policy, on_retry=on_retry)
    finally:
        with contextlib.suppress(Exception):
            if ray.is_initialized():
                ray.shutdown()
        for folder in folders:
            end_leftover_processes(folder)
            shutil.rmtree(folder, ignore_errors=True)


__all__ = [
    "RAYLET_PORT_WAIT_S",
    "RAY_ENV",
    "RAY_SYSTEM_CONFIG",
    "RetryPolicy",
    "StartCause",
    "WORKER_REGISTER_WAIT_S",
    "agent_port_stand_in",
    "classify_start_failure",
    "end_leftover_processes",
    "extract_cause",
    "private_ray",
    "private_temp_dir",
    "quiet_port",
    "ray_init_args",
    "read_cause",
    "runtime_env_agent_port",
    "start_with_retries",
]
