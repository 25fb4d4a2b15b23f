"""``python -m federation.runtime.supernode [--fedlab-poll S] [--fedlab-no-worker] ARGS``.

``ARGS`` are ``flower-supernode``'s own arguments.

Starts Flower's SuperNode with two latency cuts:

* **Shorter polling.** In flwr 1.41 the SuperNode sleeps a hard-coded 3 s after every pull
  that found no message, and 0.5 s between looks for the ClientApp's reply in its own
  memory; on a protocol of many short exchanges those sleeps dominate. This launcher
  replaces (only in this process) the first with ``--fedlab-poll`` seconds (default 0.2; the
  idle pull then costs one small HTTP request per interval to the SuperLink) and the second
  with ``REPLY_POLL`` (0.02 s; a look is an in-memory check, no request).
* **One long-lived ClientApp process.** Flower's default launching starts a fresh
  ``flwr-clientapp`` process per message. On flwr 1.41.x the launcher instead starts the
  SuperNode with ``--isolation process`` and runs :mod:`federation.runtime.clientapp_worker`
  beside it: one process, started once, that claims and answers every ClientApp task
  through the SuperNode's runtime API. It is the SuperNode's child, in its process group
  (stopping the SuperNode's group stops it), and exits by itself within 0.2 s when the
  SuperNode is gone; if it dies or is stopped on its own (SIGKILL, SIGTERM), the launcher
  starts a new one (a task it was running fails as a killed ``flwr-clientapp`` would).
  ``--fedlab-no-worker``, any other flwr version, an explicit ``--isolation`` or runtime
  dependency installation keep Flower's default launching.
* **State hygiene.** Before the SuperNode takes a message, and then periodically, the
  launcher removes its party's run state of runs discarded here or idle for longer than the
  TTL (:class:`federation.runtime.state_sweep.Sweeper`; node config ``state-ttl-seconds``,
  else ``FEDLAB_STATE_TTL_SECONDS``).

Everything else is Flower's own ``flower-supernode``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time as _time
from typing import Any

from federation.runtime.clientapp_worker import UNSUPPORTED_EXIT, log_to_stderr
from federation.runtime.state_sweep import Sweeper, node_dirs, state_ttl

DEFAULT_POLL = 0.2
FLOWER_IDLE_SLEEP = 3
FLOWER_REPLY_SLEEP = 0.5
#: seconds between two looks for the ClientApp's reply (in the SuperNode's memory)
REPLY_POLL = 0.02
NO_WORKER_FLAG = "--fedlab-no-worker"
#: seconds between two restarts of a worker that died on its own
RESTART_DELAY = 1.0

log = logging.getLogger("fedlab.supernode")


class _PatchedTime:
    """``time`` with the SuperNode's two polling sleeps shortened."""

    def __init__(self, poll: float, reply_poll: float = REPLY_POLL) -> None:
        self.poll = poll
        self.reply_poll = reply_poll

    def sleep(self, seconds: float) -> None:
        if seconds == FLOWER_IDLE_SLEEP:
            seconds = min(seconds, self.poll)
        elif seconds == FLOWER_REPLY_SLEEP:
            seconds = min(seconds, self.reply_poll)
        _time.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)


def _option(args: list[str], name: str, default: str | None = None) -> str | None:
    """The value of ``name`` in flower-supernode's ``args`` (``--x v`` or ``--x=v``)."""
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return default


def worker_command(args: list[str], parent_pid: int) -> list[str]:
    """The worker's command line for a SuperNode started with ``args``."""
    from flwr.supercore.address import resolve_bind_address
    from flwr.supercore.constant import SUPERNODE_UVICORN_DEFAULT_PORT, UVICORN_DEFAULT_HOST

    host = _option(args, "--host", UVICORN_DEFAULT_HOST) or UVICORN_DEFAULT_HOST
    port = _option(args, "--port", str(SUPERNODE_UVICORN_DEFAULT_PORT))
    address = resolve_bind_address(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    cmd = [
        sys.executable,
        "-m",
        "federation.runtime.clientapp_worker",
        "--runtime-api-address",
        address,
        "--parent-pid",
        str(parent_pid),
    ]
    poll = os.environ.get("FLWR_SUPEREXEC_TASK_POLL_INTERVAL")
    if poll:
        cmd += ["--poll", poll]
    ca = _option(args, "--ssl-ca-certfile") or _option(args, "--appio-ssl-ca-certfile")
    if ca:  # the runtime API is served with TLS
        cmd += ["--root-certificates", ca]
    secret = _option(args, "--superexec-auth-secret-file")
    if secret:
        cmd += ["--superexec-auth-secret-file", secret]
    return cmd


def use_worker(args: list[str]) -> bool:
    """Whether this SuperNode gets the long-lived worker (else Flower's default launching)."""
    from federation.runtime.clientapp_worker import supported

    if NO_WORKER_FLAG in args or _option(args, "--isolation") is not None:
        return False
    if "--allow-runtime-dependency-installation" in args:
        return False
    if not supported():
        import flwr

        log.warning(
            "flwr %s: the long-lived ClientApp worker is written for flwr 1.41; "
            "using Flower's default launching",
            flwr.__version__,
        )
        return False
    return True


class WorkerSupervisor:
    """Runs the worker as a child and starts a new one if it dies on its own."""

    def __init__(self, cmd: list[str]) -> None:
        self.cmd = cmd
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fedlab-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL)  # noqa: S603
            self.starts += 1
            code = self.proc.wait()
            if self._stopping.is_set() or code == UNSUPPORTED_EXIT:
                return  # the SuperNode is going down, or the worker cannot serve it
            # killed or stopped on its own (SIGKILL, SIGTERM, a crash): the SuperNode
            # needs a worker, else its next messages wait for nobody
            log.warning("the ClientApp worker exited with %s; starting a new one", code)
            self._stopping.wait(RESTART_DELAY)

    def stop(self) -> None:
        """Terminate the worker (the SuperNode is shutting down)."""
        self._stopping.set()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_sweeper(args: list[str]) -> Sweeper | None:
    """Sweep the state of this SuperNode's party now and periodically (its work dir and
    state dir from ``--node-config``); None without a ``party`` in the node config."""
    from flwr.common.config import parse_config_args

    raw = _option(args, "--node-config")
    node_config = parse_config_args([raw]) if raw else {}
    name = str(node_config.get("party", "")).strip()
    if not name:
        return None
    home, private = node_dirs(name, node_config)
    return Sweeper(private, home, state_ttl(node_config)).start()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    poll = DEFAULT_POLL
    if "--fedlab-poll" in args:
        i = args.index("--fedlab-poll")
        poll = float(args[i + 1])
        del args[i : i + 2]
    log_to_stderr()
    sweeper = start_sweeper(args)
    import flwr.supernode.start_client_internal as internal

    if poll > 0 and getattr(internal, "time", None) is _time:
        internal.time = _PatchedTime(poll)  # type: ignore[assignment]
    from flwr.supercore.exit import add_exit_handler
    from flwr.supernode.cli import flower_supernode

    worker = use_worker(args)
    if NO_WORKER_FLAG in args:
        args.remove(NO_WORKER_FLAG)
    if worker:
        args += ["--isolation", "process"]
        supervisor = WorkerSupervisor(worker_command(args, os.getpid()))
        add_exit_handler(supervisor.stop)
        supervisor.start()
    if sweeper is not None:
        add_exit_handler(sweeper.stop)
    sys.argv = ["flower-supernode", *args]
    flower_supernode()
    return 0


if __name__ == "__main__":
    sys.exit(main())
