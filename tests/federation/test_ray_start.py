"""Starting Ray for the simulation runtime: cause extraction, retry policy, port stand-ins.

No Ray cluster is started here (that is ``test_runtime_simulation_stress.py``); the retry
policy runs on an injected start function and an injected sleep, so nothing depends on
the clock.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from federation.runtime import ray_start
from federation.runtime.ray_start import (
    RetryPolicy,
    StartCause,
    classify_start_failure,
    extract_cause,
    read_cause,
    start_with_retries,
)
from lab.errors import ProtocolError, RuntimeStartError

NODE = "da0f8cad3453709873b75c177a9ed73b949c0c1c11f5305757b0f44e"
# the line Ray 2.55's raylet wrote when it aborted on a loaded machine (path shortened)
METRICS_TIMEOUT = (
    "[2026-12-07 06:20:39,103 C 10232 10232] (raylet) node_manager.cc:3362:  An unexpected "
    "system state has occurred. You have likely discovered a bug in Ray. Please report this "
    "issue at https://github.com/ray-project/ray/issues and we'll work with you to fix it. "
    "Check failed: statussetor3362.has_value() Timed out waiting for file "
    f"/tmp/r/session_2026-12-07_06-20-07_243524_5239/metrics_agent_port_{NODE}\n"
    "*** StackTrace Information ***\n"
)


def test_the_raylets_port_time_out_is_named_as_a_busy_machine_not_memory() -> None:
    cause = extract_cause("some earlier line\n" + METRICS_TIMEOUT)
    assert cause is not None and cause.retryable
    assert "dashboard agent did not announce metrics_agent_port" in cause.message
    assert "15 s" in cause.message and "too busy" in cause.message
    assert "memory" not in cause.message and NODE not in cause.message


def test_the_runtime_env_agents_time_out_names_that_agent() -> None:
    text = METRICS_TIMEOUT.replace("metrics_agent_port", "runtime_env_agent_port")
    cause = extract_cause(text)
    assert cause is not None and cause.retryable
    assert "runtime-env agent did not announce runtime_env_agent_port" in cause.message


def test_other_failures_are_named_and_not_retried() -> None:
    failed = extract_cause("(raylet) x.cc:12: Check failed: plasma store socket missing\n")
    assert failed == StartCause(
        "Ray's raylet stopped on a failed check: plasma store socket missing", retryable=False
    )
    oom = extract_cause("Task was killed due to the node running low on memory.\n")
    assert oom is not None and not oom.retryable and "low on memory" in oom.message
    assert extract_cause("(raylet) main.cc:1084: Metrics agent not available.\n") is None
    assert extract_cause("") is None


# the lines Ray 2.55's raylet wrote when the driver's ray.init then blocked for good
WORKERS_UNREGISTERED = (
    "[2026-12-07 13:45:28,393 E 5533 5533] (raylet) worker_pool.cc:590: Some workers of the "
    "worker process(5578) have not registered within the timeout. The process is still "
    "alive, probably it's hanging during start.\n"
)


def test_workers_that_never_registered_are_named_as_a_busy_machine() -> None:
    cause = extract_cause("[...] Started worker process with pid 5578\n" + WORKERS_UNREGISTERED)
    assert cause == StartCause(
        "Ray's worker processes did not start within Ray's wait (300 s); the machine was too busy",
        retryable=False,
    )


def test_the_first_driver_does_not_wait_for_prestarted_workers(tmp_path: Path) -> None:
    """With prestarting on, Ray answers the first driver's registration only once its
    prestarted workers have registered; one that never does blocked ``ray.init`` for good."""
    config = ray_start.ray_init_args(tmp_path, 2)["_system_config"]
    assert isinstance(config, dict)
    assert config["prestart_worker_first_driver"] is False
    assert config["worker_register_timeout_seconds"] == ray_start.WORKER_REGISTER_WAIT_S
    assert ray_start.WORKER_REGISTER_WAIT_S > 60  # Ray's own wait, too short under load


def _session(root: Path, name: str, log: str, text: str) -> Path:
    logs = root / name / "logs"
    logs.mkdir(parents=True)
    (logs / log).write_text(text)
    return root / name


def test_read_cause_reads_the_newest_sessions_logs(tmp_path: Path) -> None:
    assert read_cause(tmp_path) is None
    _session(tmp_path, "session_2026-12-07_06-00-00_1_1", "raylet.err", "Check failed: old\n")
    _session(tmp_path, "session_2026-12-07_07-00-00_1_1", "raylet.out", METRICS_TIMEOUT)
    cause = read_cause(tmp_path)
    assert cause is not None and "metrics_agent_port" in cause.message


def test_classify_falls_back_to_rays_exception(tmp_path: Path) -> None:
    startup = Exception("The current node timed out during startup. This could happen ...")
    cause = classify_start_failure(startup, tmp_path)
    assert cause.retryable and "Ray did not start: Exception: The current node" in cause.message
    other = classify_start_failure(ValueError("bad num_cpus"), tmp_path)
    assert not other.retryable and "ValueError: bad num_cpus" in other.message


class FakeStarts:
    """A start function failing with the given causes, then returning the attempt."""

    def __init__(self, causes: list[StartCause]) -> None:
        self.causes = causes
        self.attempts: list[int] = []
        self.sleeps: list[float] = []
        self.retries: list[tuple[int, StartCause]] = []

    def start(self, attempt: int) -> int:
        self.attempts.append(attempt)
        if attempt <= len(self.causes):
            raise Exception(f"start {attempt} failed")  # what ray.init raises
        return attempt

    def classify(self, exc: BaseException, attempt: int) -> StartCause:
        assert str(exc) == f"start {attempt} failed"
        return self.causes[attempt - 1]

    def run(self, policy: RetryPolicy | None = None) -> int:
        return start_with_retries(
            self.start,
            self.classify,
            policy=policy or RetryPolicy(),
            sleep=self.sleeps.append,
            on_retry=lambda a, c: self.retries.append((a, c)),
        )


TIMEOUT = StartCause("the agent was slow", retryable=True)
BROKEN = StartCause("a check failed", retryable=False)


def test_a_start_up_time_out_is_retried_with_growing_pauses() -> None:
    fake = FakeStarts([TIMEOUT, TIMEOUT])
    assert fake.run() == 3
    assert fake.attempts == [1, 2, 3]
    assert fake.sleeps == [2.0, 4.0]
    assert fake.retries == [(1, TIMEOUT), (2, TIMEOUT)]


def test_retries_are_bounded_and_the_last_cause_is_named() -> None:
    fake = FakeStarts([TIMEOUT, TIMEOUT, TIMEOUT, TIMEOUT])
    with pytest.raises(RuntimeStartError) as info:
        fake.run(RetryPolicy(attempts=3, backoff_s=0.5))
    assert fake.attempts == [1, 2, 3] and fake.sleeps == [0.5, 1.0]
    msg = str(info.value)
    assert "could not start Ray (after 3 attempts): the agent was slow" in msg
    assert info.value.code == "FEDLAB-410" and "less loaded" in info.value.hint
    assert str(info.value.__cause__) == "start 3 failed"


def test_other_start_failures_are_not_retried() -> None:
    fake = FakeStarts([BROKEN])
    with pytest.raises(RuntimeStartError, match=r"could not start Ray: a check failed"):
        fake.run()
    assert fake.attempts == [1] and fake.sleeps == [] and fake.retries == []
    assert FakeStarts([]).run() == 1


def test_the_stand_in_announces_the_minimal_agents_ports_once(tmp_path: Path) -> None:
    from ray import _raylet

    session = tmp_path / "session_2026-12-07_06-20-07_243524_5239"
    session.mkdir()
    assert not ray_start._announce_minimal_agent(tmp_path)  # no node named yet
    (session / f"gcs_server_port_{NODE}.tmp").write_text("1")  # half-written: ignored
    assert not ray_start._announce_minimal_agent(tmp_path)
    (session / f"gcs_server_port_{NODE}").write_text("43423")
    (session / f"metrics_export_port_{NODE}").write_text("-1")  # the agent was first
    assert ray_start._announce_minimal_agent(tmp_path)
    for name in ("metrics_agent_port", "metrics_export_port", "dashboard_agent_listen_port"):
        assert (session / f"{name}_{NODE}").read_text() == "-1"
    assert _raylet.METRICS_AGENT_PORT_NAME == "metrics_agent_port"  # the names Ray reads
    assert sorted(p.name for p in session.iterdir() if p.name.endswith(".tmp")) == [
        f"gcs_server_port_{NODE}.tmp"
    ]


def test_the_stand_in_applies_only_to_a_minimal_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    from ray._private import utils

    monkeypatch.setattr(utils, "get_dashboard_dependency_error", lambda: None)  # ray[default]
    with ray_start.agent_port_stand_in(Path("unused")) as applied:
        assert not applied


def test_the_runtime_env_agent_gets_the_chosen_port_while_ray_init_runs() -> None:
    from ray._private import parameter

    original = parameter.RayParams
    with ray_start.runtime_env_agent_port(23456) as applied:
        assert applied
        assert parameter.RayParams().runtime_env_agent_port == 23456
        assert parameter.RayParams(runtime_env_agent_port=7000).runtime_env_agent_port == 7000
    assert parameter.RayParams is original
    assert original().runtime_env_agent_port is None


def test_quiet_port_is_free_and_below_the_ephemeral_range() -> None:
    import random

    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    port = ray_start.quiet_port(random.Random(0))
    assert 10_000 <= port < low
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_ray_starts_a_new_local_cluster_without_dashboard(tmp_path: Path) -> None:
    args = ray_start.ray_init_args(tmp_path, 2)
    assert args["address"] == "local"  # never joins a cluster named by RAY_ADDRESS
    assert args["include_dashboard"] is False and args["_temp_dir"] == str(tmp_path)
    assert args["_system_config"] == {
        "enable_metrics_collection": False,
        "agent_register_timeout_ms": 120_000,
        "prestart_worker_first_driver": False,
        "worker_register_timeout_seconds": 300,
    }
    assert ray_start.RAY_ENV["RAY_USAGE_STATS_ENABLED"] == "0"


def test_each_run_gets_its_own_short_ray_folder() -> None:
    a, b = ray_start.private_temp_dir(), ray_start.private_temp_dir()
    try:
        assert a != b and a.is_dir() and b.is_dir()
        # Ray's socket paths (folder + ~70 characters) stay under the 107-byte limit
        assert len(str(a)) <= 60
    finally:
        a.rmdir()
        b.rmdir()


def test_a_failed_simulation_names_the_cause_in_rays_logs(tmp_path: Path) -> None:
    from federation.runtime.simulation import simulation_failure

    crash = RuntimeError("An error was encountered. Ending simulation.")
    crash.__cause__ = RuntimeError("Simulation Runtime crashed.")
    plain = simulation_failure(crash, tmp_path)
    assert type(plain) is ProtocolError
    assert "RuntimeError: Simulation Runtime crashed." in str(plain)
    assert "memory" not in str(plain)
    _session(tmp_path, "session_2026-12-07_07-00-00_1_1", "raylet.err", METRICS_TIMEOUT)
    named = simulation_failure(crash, tmp_path)
    assert isinstance(named, RuntimeStartError)
    assert "dashboard agent did not announce metrics_agent_port" in str(named)


def test_only_flowers_run_simulation_deprecation_is_dropped() -> None:
    from federation.runtime.simulation import quiet_flower

    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    flwr = logging.getLogger("flwr")
    handler = Keep()
    flwr.addHandler(handler)
    try:
        with quiet_flower():
            flwr.warning("DEPRECATED FEATURE: %s", "The `run_simulation` function is deprecated")
            flwr.warning("DEPRECATED FEATURE: %s", "something else")
            flwr.info("not shown at WARNING")
        flwr.warning("DEPRECATED FEATURE: The `run_simulation` function is deprecated")
    finally:
        flwr.removeHandler(handler)
    assert seen == [
        "DEPRECATED FEATURE: something else",
        "DEPRECATED FEATURE: The `run_simulation` function is deprecated",  # after the block
    ]
