"""A long-lived ClientApp worker: one Python process serves every message of a SuperNode.

With Flower's default launching (flwr 1.41), the SuperNode's SuperExec starts a fresh
``flwr-clientapp`` process for every message: ~3-4 s of interpreter start and imports, and
the party's caches (data, guard profile) rebuilt each time. This worker does what that
SuperExec and ``flwr-clientapp`` pair does, in one process that never exits between
messages, for a SuperNode started with ``--isolation process``:

1. claim the oldest pending ClientApp task on the SuperNode's runtime API
   (``AcquireTask``, as the SuperExec does) and receive its one-task token;
2. with that token, pull the task input (context, run, FAB) and the message, run the
   ClientApp (:mod:`federation.client_app`, imported once at start), push the reply and
   the final status and context (the steps of flwr's ``run_clientapp``);
3. wait ``poll`` seconds when no task is pending, and go to 1.

Messages still travel SuperLink <-> SuperNode <-> ClientApp through Flower's own APIs, with
Flower's TLS and node authentication unchanged; the worker talks only to its own SuperNode's
runtime API on this machine. It sees exactly what a ``flwr-clientapp`` process would see
(the message, the run's context with the node config) and nothing leaves it except the
ClientApp's reply. Task tokens are never logged.

It relies on flwr 1.41's runtime API and on helpers of ``flwr.supernode.runtime.run_clientapp``;
:func:`supported` says whether the installed Flower is that version, and the SuperNode
launcher (:mod:`federation.runtime.supernode`) falls back to Flower's default launching
otherwise. The app bundle is not installed with its dependencies (runtime dependency
installation stays off, as everywhere in fedlab): the installed ``fedlab`` package is the code.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

#: the Flower releases whose runtime API this worker speaks
SUPPORTED_FLWR = (1, 41)
#: exit code of a worker started on another flwr version (not restarted)
UNSUPPORTED_EXIT = 2
#: seconds between two claims while no task is pending
DEFAULT_POLL = 0.05
#: a claimed task's message can reach the node state a moment after the task: wait this long
MESSAGE_WAIT = 10.0
#: first and longest wait (s) before asking again for a message object the SuperNode is still
#: receiving (Flower's defaults, 1 s and 10 s, are for a process that starts after it)
PULL_BACKOFF = (0.02, 0.5)
#: give up a runtime API call after retrying transport errors for this long
RETRY_SECONDS = 30.0

log = logging.getLogger("fedlab.clientapp_worker")
#: set when the worker is told to stop: runtime API calls then give up at once
_STOPPING = threading.Event()


def log_to_stderr() -> None:
    """Show the ``fedlab.*`` launcher/worker lines in the SuperNode's log (INFO and up;
    DEBUG, with per-task timings, when ``FLWR_LOG_LEVEL=DEBUG``)."""
    root = logging.getLogger("fedlab")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(asctime)s %(name)s: %(message)s"))
        root.addHandler(handler)
        debug = os.environ.get("FLWR_LOG_LEVEL", "").upper() == "DEBUG"
        root.setLevel(logging.DEBUG if debug else logging.INFO)
        root.propagate = False


def supported(version: str | None = None) -> bool:
    """Whether the installed (or given) flwr version is one this worker is written for."""
    if version is None:
        import flwr

        version = str(flwr.__version__)
    parts = version.split(".")
    try:
        return (int(parts[0]), int(parts[1])) == SUPPORTED_FLWR
    except (IndexError, ValueError):
        return False


@dataclass(frozen=True)
class WorkerConfig:
    """Where the SuperNode's runtime API is and how to reach it."""

    runtime_api_address: str
    insecure: bool = True
    root_certificates: Path | None = None
    superexec_auth_secret_file: Path | None = None
    parent_pid: int | None = None
    poll: float = DEFAULT_POLL


class _Stop(BaseException):
    """SIGTERM/SIGINT reached the worker: answer the current task's message with an error,
    report the task (no retries) and exit."""


def _retry_invoker() -> Any:
    """Retry transport errors and 502/503/504 for a bounded time; give up on other HTTP
    errors. (Flower's own invoker SIGINTs its process on a 401, right for a one-task
    ``flwr-clientapp`` process but not for a worker that outlives the task.)"""
    import httpx
    from flwr.supercore.retry import RetryInvoker, exponential

    def give_up(exc: Exception) -> bool:
        return _STOPPING.is_set() or (
            isinstance(exc, httpx.HTTPStatusError)
            and exc.response.status_code not in (502, 503, 504)
        )

    return RetryInvoker(
        lambda: exponential(base_delay=0.1, max_delay=2),
        (httpx.TransportError, httpx.HTTPStatusError),
        max_tries=None,
        max_time=RETRY_SECONDS,
        should_giveup=give_up,
    )


def _client(cfg: WorkerConfig, *interceptors: Any) -> Any:
    from flwr.supercore.interceptors import RuntimeVersionHttpInterceptor
    from flwr.supercore.runtime import RuntimeHttpClient

    certs = cfg.root_certificates.read_bytes() if cfg.root_certificates else None
    return RuntimeHttpClient.from_server_address(
        server_address=cfg.runtime_api_address,
        insecure=cfg.insecure,
        root_certificates=certs,
        interceptors=[
            RuntimeVersionHttpInterceptor(component_name="flwr-clientapp"),
            *interceptors,
        ],
        retry_invoker=_retry_invoker(),
    )


def _claim_client(cfg: WorkerConfig) -> Any:
    """The SuperExec-side client: only ``AcquireTask`` (signed if the node asks for it)."""
    extra: list[Any] = []
    if cfg.superexec_auth_secret_file is not None:
        from flwr.supercore.auth import load_superexec_auth_secret
        from flwr.supercore.interceptors import SuperExecAuthHttpInterceptor

        secret = load_superexec_auth_secret(str(cfg.superexec_auth_secret_file))
        if secret:
            extra.append(
                SuperExecAuthHttpInterceptor(
                    master_secret=secret,
                    protected_methods=frozenset({"/flwr.proto.Runtime/AcquireTask"}),
                )
            )
    return _client(cfg, *extra)


def _heartbeat_fn(client: Any) -> Callable[[], bool]:
    """Flower's task heartbeat, without its SIGINT on an expired task (that would stop the
    whole worker; the SuperNode has already answered the message with an error then)."""
    import httpx
    from flwr.proto.runtime_pb2 import SendTaskHeartbeatRequest

    def beat() -> bool:
        try:
            ok = bool(client.SendTaskHeartbeat(SendTaskHeartbeatRequest()).success)
        except httpx.TransportError:
            return False
        except httpx.HTTPStatusError as err:
            if err.response.status_code in (503, 504):
                return False
            raise
        if not ok:
            log.warning("the SuperNode expired the current task; its reply will be dropped")
        return True

    return beat


class ClientAppWorker:
    """Claims and runs the SuperNode's ClientApp tasks one after another, in this process."""

    def __init__(self, cfg: WorkerConfig) -> None:
        self.cfg = cfg
        self._installed: set[str] = set()
        self.tasks_run = 0

    def warm_up(self) -> None:
        """Import the ClientApp and every protocol module before the first message."""
        import federation.client_app  # noqa: F401
        from federation.party import load_protocols

        load_protocols()

    def serve(self, *, max_tasks: int | None = None) -> None:
        """Claim and run tasks until stopped (or ``max_tasks`` were run)."""
        from flwr.proto.runtime_pb2 import AcquireTaskRequest
        from flwr.supercore.constant import TaskType

        claim = _claim_client(self.cfg)
        request = AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP])
        try:
            while max_tasks is None or self.tasks_run < max_tasks:
                try:
                    res = claim.AcquireTask(request)
                except Exception:  # noqa: BLE001 - the SuperNode may be (re)starting
                    log.warning(
                        "cannot reach the SuperNode's runtime API at %s; retrying",
                        self.cfg.runtime_api_address,
                    )
                    time.sleep(1.0)
                    continue
                if res.HasField("task") and res.token:
                    try:
                        self.run_task(res.token)
                    except Exception:  # noqa: BLE001 - one task's failure ends that task
                        log.exception("ClientApp task %d failed", res.task.task_id)
                else:
                    time.sleep(self.cfg.poll)
        finally:
            claim.close()

    def _load_app(self, run: Any, fab: Any) -> Any:
        from flwr.cli.install import install_from_fab
        from flwr.clientapp.utils import get_load_client_app_fn

        if fab.hash_str not in self._installed:  # the FAB holds only a pyproject
            install_from_fab(fab.content, skip_prompt=True)
            self._installed.add(fab.hash_str)
        load = get_load_client_app_fn(default_app_ref="", app_path=None, multi_app=True)
        return load(run.fab_id, run.fab_version, fab.hash_str)

    def run_task(self, token: str) -> None:
        """One ClientApp task: pull input, run the ClientApp, push reply and final status
        (the steps of flwr 1.41's ``run_clientapp``, without starting a process)."""
        from flwr.app import Message
        from flwr.app.error import Error
        from flwr.clientapp.client_app import LoadClientAppError
        from flwr.common.constant import ErrorCode, SubStatus
        from flwr.supercore.heartbeat import HeartbeatSender
        from flwr.supercore.interceptors import RuntimeTokenHttpInterceptor
        from flwr.supernode.runtime.run_clientapp import push_message, push_task_output

        client = _client(self.cfg, RuntimeTokenHttpInterceptor(token))
        heartbeat = HeartbeatSender(_heartbeat_fn(client))
        message = reply = context = None
        sub_status, details = SubStatus.FAILED, "ClientApp task failed due to unknown reason"
        t0 = t1 = t2 = time.monotonic()
        try:
            heartbeat.start()
            message, context, run, fab = _pull_task_input(client)
            t1 = time.monotonic()
            app = self._load_app(run, fab)
            reply = app(message=message, context=context)
            t2 = time.monotonic()
            sub_status, details = SubStatus.COMPLETED, ""
        except _Stop:  # SIGTERM mid-task: answer the message, or the SuperNode waits on it
            details = "the party's ClientApp worker was stopped while it handled this message"
            if message is not None:
                error = Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=details)
                reply = Message(error, reply_to=message)
            raise
        except Exception as ex:  # noqa: BLE001 - answered as flwr-clientapp would
            code = ErrorCode.CLIENT_APP_RAISED_EXCEPTION
            # fedlab's ClientApp answers its own errors (federation.failures); what gets
            # here may quote anything, so only its type leaves (the text is logged below)
            reason = f"{type(ex).__name__} in the ClientApp; details are in the party's own log"
            if isinstance(ex, LoadClientAppError):
                code = ErrorCode.LOAD_CLIENT_APP_EXCEPTION
                reason = "An exception was raised when attempting to load `ClientApp`"
            log.exception("ClientApp raised an exception")
            details = reason
            if message is not None:
                reply = Message(Error(code=code, reason=reason), reply_to=message)
        finally:
            try:
                if reply is not None and context is not None:
                    try:
                        push_message(client, reply, context)
                    except Exception:  # noqa: BLE001
                        log.exception("failed to push the reply message")
                push_task_output(
                    client=client, context=context, sub_status=sub_status, details=details
                )
                if sub_status == SubStatus.COMPLETED:
                    log.debug(
                        "task: input %.3f s, ClientApp %.3f s, reply %.3f s",
                        t1 - t0,
                        t2 - t1,
                        time.monotonic() - t2,
                    )
            finally:
                if heartbeat.is_running:
                    heartbeat.stop()
                client.close()
                self.tasks_run += 1


def _pull_task_input(client: Any) -> tuple[Any, Any, Any, Any]:
    """Context, run and FAB, then the task's message (waiting for it to be stored)."""
    from flwr.app import Message
    from flwr.common.serde import context_from_proto, fab_from_proto, run_from_proto
    from flwr.proto.node_pb2 import Node
    from flwr.proto.runtime_pb2 import PullAppMessagesRequest, PullTaskInputRequest
    from flwr.supercore.inflatable.inflatable_protobuf_utils import (
        make_confirm_message_received_fn_protobuf,
        make_pull_object_fn_protobuf,
    )
    from flwr.supercore.inflatable.inflatable_utils import pull_and_inflate_object_from_tree
    from flwr.supercore.task_identity import TaskIdentity

    res = client.PullTaskInput(PullTaskInputRequest())
    TaskIdentity.task_id = res.task_id
    TaskIdentity.run_id = res.run.run_id
    TaskIdentity.node_id = res.context.node_id
    context = context_from_proto(res.context)
    run = run_from_proto(res.run)
    fab = fab_from_proto(res.fab)
    # the SuperNode creates the task just before it stores the message: a worker that
    # claims within milliseconds can ask before the message is there
    deadline = time.monotonic() + MESSAGE_WAIT
    while not (pulled := client.PullMessages(PullAppMessagesRequest())).messages_list:
        if time.monotonic() > deadline:
            raise RuntimeError("No messages received from Runtime API")
        time.sleep(0.01)
    node = Node(node_id=context.node_id)
    tree = pulled.message_object_trees[0]
    message = pull_and_inflate_object_from_tree(
        tree,
        make_pull_object_fn_protobuf(client.PullObject, node, context.run_id),
        make_confirm_message_received_fn_protobuf(
            client.ConfirmMessageReceived, node, context.run_id
        ),
        return_type=Message,
        initial_backoff=PULL_BACKOFF[0],
        backoff_cap=PULL_BACKOFF[1],
    )
    message.metadata.__dict__["_message_id"] = tree.object_id
    return message, context, run, fab


def _watch_parent(parent_pid: int, interval: float = 0.2) -> None:
    """SIGTERM this worker once the SuperNode that started it is gone.

    Checks that the worker still has that parent (a dead parent's children are re-parented at
    once, even while the parent itself is an unreaped zombie, which a ``kill(pid, 0)`` probe
    would still find)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        log.info("the SuperNode (pid %d) is gone; stopping", parent_pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="fedlab-parent-watch", daemon=True).start()


def _parse(argv: list[str] | None) -> WorkerConfig:
    p = argparse.ArgumentParser(
        prog="python -m federation.runtime.clientapp_worker",
        description="Serve a SuperNode's ClientApp tasks in one "
        "long-lived process (SuperNode started with --isolation "
        "process).",
    )
    p.add_argument("--runtime-api-address", required=True)
    p.add_argument(
        "--root-certificates",
        type=Path,
        default=None,
        help="CA of the runtime API's TLS certificate (default: plain HTTP).",
    )
    p.add_argument("--superexec-auth-secret-file", type=Path, default=None)
    p.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="Exit when this process (the SuperNode) is gone.",
    )
    p.add_argument("--poll", type=float, default=DEFAULT_POLL)
    a = p.parse_args(argv)
    return WorkerConfig(
        a.runtime_api_address,
        a.root_certificates is None,
        a.root_certificates,
        a.superexec_auth_secret_file,
        a.parent_pid,
        a.poll,
    )


def main(argv: list[str] | None = None) -> int:
    cfg = _parse(argv)
    log_to_stderr()
    if not supported():
        log.error(
            "this worker speaks flwr %d.%d's runtime API only; start the SuperNode "
            "without it (Flower's default launching)",
            *SUPPORTED_FLWR,
        )
        return UNSUPPORTED_EXIT

    def stop(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        if not _STOPPING.is_set():
            _STOPPING.set()
            raise _Stop

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if cfg.parent_pid is not None:
        _watch_parent(cfg.parent_pid)
    worker = ClientAppWorker(cfg)
    try:
        worker.warm_up()
        log.info(
            "ClientApp worker (pid %d) serving the runtime API at %s",
            os.getpid(),
            cfg.runtime_api_address,
        )
        worker.serve()
    except _Stop:
        log.info("ClientApp worker stopped after %d task(s)", worker.tasks_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
