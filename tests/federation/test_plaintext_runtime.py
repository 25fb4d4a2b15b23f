"""``plaintext`` runs on the local runtime only, unless the caller opts in (tests and
benchmarks): ``run_experiment`` and ``fedlab train`` refuse it on the simulation and
deployment runtimes before anything starts (FEDLAB-110)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from federation.config import parse_config
from federation.run import check_backend, run_experiment
from lab.errors import PlaintextBackendError


def _toml(tmp_path: Path, algorithm: str = "hetero_lr", backend: str = "plaintext") -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(
        "[experiment]\n"
        f'name = "trial"\nalgorithm = "{algorithm}"\nbackend = "{backend}"\n'
        'runtime = "simulation"\n'
        "[[parties]]\n"
        'name = "bank"\nrole = "guest"\ndata = "bank.csv"\nlabel = "y"\n'
        "[[parties]]\n"
        'name = "tax"\nrole = "host"\ndata = "tax.csv"\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("runtime", ["simulation", "deployment"])
def test_plaintext_is_refused_off_the_local_runtime_before_anything_starts(
    tmp_path: Path, runtime: str
) -> None:
    # Prepare
    config = _toml(tmp_path)

    # Execute
    with pytest.raises(
        PlaintextBackendError, match=f"local runtime only, not on '{runtime}'"
    ) as err:
        run_experiment(config, tmp_path / "out", runtime=runtime, state_dir=tmp_path / "fed")

    # Assert: refused before the data files are looked for or a federation is asked
    assert err.value.code == "FEDLAB-110" and "--allow-plaintext" in err.value.hint
    assert not (tmp_path / "out").exists() and not (tmp_path / "fed").exists()


def test_the_rule_spares_local_runs_protected_backends_and_plaintext_only_algorithms(
    tmp_path: Path,
) -> None:
    cfg = parse_config(
        {
            "experiment": {"name": "t", "backend": "plaintext"},
            "parties": [
                {"name": "bank", "role": "guest", "data": "b.csv", "label": "y"},
                {"name": "tax", "role": "host", "data": "t.csv"},
            ],
        }
    )
    check_backend(cfg, "local")  # a local trial: no opt-in
    cfg.experiment.backend = "paillier"
    check_backend(cfg, "deployment")
    count = parse_config(
        {
            "experiment": {"name": "n", "algorithm": "sample_profile", "backend": "plaintext"},
            "params": {"id_list": "ids.csv"},
            "parties": [{"name": "bank", "role": "guest", "data": "b.csv", "label": "y"}],
        }
    )
    check_backend(count, "deployment")  # a count at one bank has no protected backend


def test_the_opt_in_is_logged_loudly(caplog: pytest.LogCaptureFixture) -> None:
    cfg = parse_config(
        {
            "experiment": {"name": "bench", "algorithm": "homo_lr", "backend": "plaintext"},
            "parties": [
                {"name": "a", "role": "guest", "data": "a.csv", "label": "y"},
                {"name": "b", "role": "guest", "data": "b.csv", "label": "y"},
            ],
        }
    )
    with caplog.at_level(logging.WARNING, logger="fedlab.run"):
        check_backend(cfg, "simulation", allow_plaintext=True)
    (record,) = caplog.records
    assert "PLAINTEXT BACKEND" in record.getMessage() and "'bench'" in record.getMessage()


def test_fedlab_train_refuses_plaintext_on_simulation_with_the_coded_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lab.cli import main

    config = _toml(tmp_path, algorithm="secureboost")
    with pytest.raises(SystemExit) as done:
        main(["train", "--config", str(config), "--out", str(tmp_path / "out")])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "FEDLAB-110" in err and "not on 'simulation'" in err and "Traceback" not in err
