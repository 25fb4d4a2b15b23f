"""experiment.toml validation: every error names the party or field and the cause."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from federation.config import check_data_files, load_config, parse_config
from lab.errors import ConfigError


def _raw(**exp: object) -> dict:  # type: ignore[type-arg]
    return {
        "experiment": {"name": "t", **exp},
        "parties": [
            {"name": "bank", "role": "guest", "data": "bank.csv", "label": "y"},
            {"name": "tax", "role": "host", "data": "tax.csv"},
        ],
    }


def test_relative_paths_resolve_against_config_folder(tmp_path: Path) -> None:
    cfg = parse_config(_raw(), base_dir=tmp_path)
    assert cfg.guest.data == (tmp_path / "bank.csv").resolve()
    assert [h.name for h in cfg.hosts] == ["tax"]
    assert cfg.experiment.timeout == 600 and cfg.deployment.superlink is None


def test_label_on_host_names_party() -> None:
    raw = _raw()
    raw["parties"][1]["label"] = "y"
    with pytest.raises(ConfigError, match="party 'tax' is a host but names a label"):
        parse_config(raw)


def test_duplicate_names() -> None:
    raw = _raw()
    raw["parties"][1]["name"] = "bank"
    with pytest.raises(ConfigError, match=r"repeated: \['bank'\]"):
        parse_config(raw)


def test_unknown_party() -> None:
    cfg = parse_config(_raw())
    with pytest.raises(ConfigError, match="unknown party 'court'"):
        cfg.party("court")
    with pytest.raises(ConfigError, match="unknown party 'court'"):
        parse_config(_raw(features={"court": ["x"]}))


def test_unknown_algorithm_and_runtime() -> None:
    with pytest.raises(ConfigError, match="unknown algorithm 'deep_magic'"):
        parse_config(_raw(algorithm="deep_magic"))
    with pytest.raises(ConfigError, match="experiment.runtime"):
        parse_config(_raw(runtime="cloud"))
    with pytest.raises(ConfigError, match="experiment.timeout"):
        parse_config(_raw(timeout=0))


def test_backend_must_fit_the_algorithm() -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "algorithm 'hetero_lr' runs with backend paillier | ckks | plaintext, not 'secaggplus'"
        ),
    ):
        parse_config(_raw(backend="secaggplus"))
    with pytest.raises(
        ConfigError,
        match=re.escape("'secureboost' runs with backend paillier | plaintext, not 'ckks'"),
    ):
        parse_config(_raw(algorithm="secureboost", backend="ckks"))
    assert parse_config(_raw(algorithm="homo_lr", backend="masked")).experiment.backend == "masked"
    # an older homo config without a backend (aggregation chosen in [params]) still loads
    assert parse_config(_raw(algorithm="homo_lr")).experiment.algorithm == "homo_lr"


def test_guest_without_label_and_no_host() -> None:
    raw = _raw()
    del raw["parties"][0]["label"]
    with pytest.raises(ConfigError, match="guest 'bank' must name its label"):
        parse_config(raw)
    raw = _raw()
    raw["parties"] = raw["parties"][:1]
    with pytest.raises(ConfigError, match="at least one host"):
        parse_config(raw)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("[experiment\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")
    cfg = parse_config(_raw(), base_dir=tmp_path)
    (tmp_path / "bank.csv").write_text("id\n")
    with pytest.raises(ConfigError, match="party 'tax': data file"):
        check_data_files(cfg)
    (tmp_path / "tax.csv").write_text("id\n")
    check_data_files(cfg)


def test_deployment_section(tmp_path: Path) -> None:
    raw = _raw(runtime="deployment")
    raw["deployment"] = {"superlink": "10.0.0.5:9093", "root_certificates": "ca.crt"}
    cfg = parse_config(raw, base_dir=tmp_path)
    assert cfg.deployment.root_certificates == (tmp_path / "ca.crt").resolve()
    raw["deployment"]["password"] = "x"
    with pytest.raises(ConfigError, match="deployment.password"):
        parse_config(raw)
