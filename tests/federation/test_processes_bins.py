"""The deployment finds its executables without PATH (issue 15): Flower's programs come
from this installation's scripts folder, Flower's own children get that folder first on
their PATH, and a missing program is one coded error naming it before anything starts."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from echo_protocol import write_echo_experiment

from federation.runtime import processes
from federation.runtime.processes import FLOWER_CHILDREN, flower_bin, flower_env, scripts_dirs
from lab.errors import ConfigError, MissingExecutableError

HERE = Path(__file__).parent


def test_scripts_dirs_start_beside_the_interpreter_and_skip_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    dirs = scripts_dirs()
    assert dirs[0] == Path(sys.executable).parent
    assert tmp_path not in dirs


def test_flower_bin_ignores_a_program_of_the_same_name_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    impostor = tmp_path / "flwr"
    impostor.write_text("#!/bin/sh\nexit 3\n")
    impostor.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    found = Path(flower_bin("flwr"))
    assert found != impostor and found.parent in scripts_dirs() and found.name == "flwr"


def test_a_missing_executable_is_one_coded_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "flwr-nothing").write_text("")  # on PATH, but PATH is not searched
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingExecutableError) as err:
        flower_bin("flwr-nothing")
    assert isinstance(err.value, ConfigError) and err.value.code == "FEDLAB-150"
    text = str(err.value)
    assert "'flwr-nothing'" in text and "\n" not in text and err.value.hint


def test_flower_children_find_their_programs_with_an_empty_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    env = flower_env(tmp_path / "home")
    first = env["PATH"].split(os.pathsep)[0]
    assert Path(first) == scripts_dirs()[0]
    for name in ("flower-superlink", "flower-supernode", "flwr", *FLOWER_CHILDREN):
        assert shutil.which(name, path=env["PATH"]) == flower_bin(name)
    assert env["PATH"].endswith(str(tmp_path))  # the caller's PATH is kept, after ours


def test_federation_up_refuses_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from federation.config import load_config
    from federation.runtime.local_federation import federation_up

    monkeypatch.setenv("FEDLAB_PROTOCOL_MODULES", "echo_protocol")
    cfg = load_config(write_echo_experiment(tmp_path / "exp", runtime="deployment"))
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setattr(processes, "scripts_dirs", lambda: [empty])
    state = tmp_path / "fed"
    with pytest.raises(MissingExecutableError, match="'flower-superlink'"):
        federation_up(cfg, state)
    assert not state.exists()  # no process, log or state file


@pytest.mark.slow
@pytest.mark.flower
@pytest.mark.timeout(300)
def test_deployment_runs_with_nothing_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``federation up`` and a run on it, with the venv's ``bin`` not on PATH: on the
    earlier code the SuperLink died at start-up (its ``flower-superexec`` was not found)."""
    from federation.config import load_config
    from federation.run import run_experiment
    from federation.runtime.local_federation import federation_down, federation_up

    monkeypatch.setenv("FEDLAB_PROTOCOL_MODULES", "echo_protocol")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    cfg = write_echo_experiment(
        tmp_path / "exp", runtime="deployment", epochs=1, extra="join_timeout = 60"
    )
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    monkeypatch.setenv("PATH", str(nothing))
    state = tmp_path / "fed"
    try:
        federation_up(load_config(cfg), state)
        summary = run_experiment(cfg, tmp_path / "run", state_dir=state)
    finally:
        federation_down(state)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["runtime"] == "deployment" and summary.metrics == metrics
    assert "No such file" not in (state / "logs" / "superlink.log").read_text(errors="replace")


def test_a_superlink_that_dies_at_start_up_names_the_cause(tmp_path: Path) -> None:
    """The cause is in the error, not only in the log it points to."""
    from federation.runtime.processes import last_error
    from lab.errors import ProtocolError

    log = tmp_path / "superlink.log"
    log.write_text(
        "INFO starting\nTraceback (most recent call last):\n  File 'x.py', line 1\n"
        "FileNotFoundError: [Errno 2] No such file or directory: 'flower-superexec'\n"
        "ERROR Application startup failed. Exiting.\n"
    )
    assert last_error(log) == (
        "FileNotFoundError: [Errno 2] No such file or directory: 'flower-superexec'"
    )
    assert last_error(tmp_path / "absent.log") is None
    gone = processes.spawn([sys.executable, "-c", "pass"], tmp_path / "child.log", {})
    with pytest.raises(ProtocolError, match="exited at start-up \\(FileNotFoundError: .*superexec"):
        processes.wait_port(processes.free_port(), gone, log, timeout=30)
