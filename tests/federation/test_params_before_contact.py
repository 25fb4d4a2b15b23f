"""A bad ``[params]`` fails when the config is read, before any runtime or party starts.

The cases below passed the parameter models before (each failed only once the run was
under way: a CKKS profile after PSI, a Paillier key size at key generation, SecAgg+ share
counts in Flower's workflow at the first round). Every runtime entry point is replaced by a
stub that records being called: none may be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tomli_w

import federation.run as run_module
from federation.run import run_experiment
from lab.errors import ConfigError

VERTICAL = [
    {"name": "bank", "role": "guest", "data": "bank.csv", "label": "y"},
    {"name": "tax", "role": "host", "data": "tax.csv"},
]
HORIZONTAL = [
    {"name": "bank_a", "role": "guest", "data": "bank.csv", "label": "y"},
    {"name": "bank_b", "role": "guest", "data": "tax.csv", "label": "y"},
]

CASES = [
    ("hetero_lr", "ckks", {"ckks_profile": "fastest"}, r"ckks_profile must be one of"),
    ("hetero_lr", "paillier", {"epoch": 3}, r"epoch: Extra inputs"),
    ("secureboost", "paillier", {"key_bits": 512}, r"key_bits: Input should be greater"),
    ("homo_lr", "ckks", {"ckks_profile": "x"}, r"ckks_profile must be one of"),
    ("homo_lr", "ckks", {"batch_size": 0}, r"batch_size must be -1 \(full batch\) or >= 1"),
    (
        "homo_lr",
        "secaggplus",
        {"secaggplus": {"num_shares": 3, "reconstruction_threshold": 3}},
        r"reconstruction_threshold must be less than num_shares",
    ),
    ("homo_nn", "secaggplus", {"secaggplus": {"num_shares": 2}}, r"num_shares as an integer"),
    ("scorecard", "paillier", {"lr": {"epochs": 0}}, r"lr.epochs"),
]


@pytest.fixture
def runtimes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace every runtime's entry point; the list records the ones called."""
    import federation.runtime.local as local
    import federation.runtime.simulation as simulation

    called: list[str] = []

    def stub(name: str) -> Any:
        def run(*args: object, **kwargs: object) -> Any:
            called.append(name)
            raise AssertionError(f"the {name} runtime started")

        return run

    monkeypatch.setattr(local, "run_local", stub("local"))
    monkeypatch.setattr(simulation, "run_in_simulation", stub("simulation"))
    monkeypatch.setattr(run_module, "train_on_federation", stub("deployment"))
    return called


def _write(tmp_path: Path, algorithm: str, backend: str, params: dict[str, Any]) -> Path:
    parties = HORIZONTAL if algorithm.startswith("homo") else VERTICAL
    (tmp_path / "bank.csv").write_text("uscc,y\n")
    (tmp_path / "tax.csv").write_text("uscc,y\n")
    raw = {
        "experiment": {"name": "t", "algorithm": algorithm, "backend": backend},
        "params": params,
        "parties": parties,
    }
    path = tmp_path / "experiment.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


@pytest.mark.parametrize("runtime", ["local", "simulation", "deployment"])
@pytest.mark.parametrize(("algorithm", "backend", "params", "match"), CASES)
def test_bad_params_fail_before_any_runtime_starts(
    tmp_path: Path,
    runtimes: list[str],
    runtime: str,
    algorithm: str,
    backend: str,
    params: dict[str, Any],
    match: str,
) -> None:
    path = _write(tmp_path, algorithm, backend, params)
    with pytest.raises(ConfigError, match=match):
        run_experiment(path, tmp_path / "out", runtime=runtime)
    assert runtimes == []
    assert not (tmp_path / "out").exists()


def test_the_stubs_do_catch_a_runtime_start(tmp_path: Path, runtimes: list[str]) -> None:
    """Control: with valid [params] the same call reaches the chosen runtime's stub."""
    path = _write(tmp_path, "hetero_lr", "ckks", {"ckks_profile": "precise"})
    with pytest.raises(AssertionError, match="the local runtime started"):
        run_experiment(path, tmp_path / "out", runtime="local")
    assert runtimes == ["local"]
