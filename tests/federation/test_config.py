"""experiment.toml validation: every error names the party or field and the cause."""

from __future__ import annotations

import re
import tomllib
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


def _with_authorizations(**exp: object) -> dict:  # type: ignore[type-arg]
    raw = _raw(authorization="required", **exp)
    raw["parties"][0]["authorizations"] = "auth/authorizations.csv"
    return raw


def test_an_authorizations_file_needs_an_observation_date() -> None:
    with pytest.raises(ConfigError, match=r"guest 'bank' names an authorizations file .* as_of"):
        parse_config(_with_authorizations())
    raw = _with_authorizations()
    raw["experiment"]["authorization"] = "none"  # named but unused: still no silent today
    with pytest.raises(ConfigError, match="no observation date"):
        parse_config(raw)
    with pytest.raises(ConfigError, match=r"experiment.as_of: .*'30/06/2024' is not an ISO date"):
        parse_config(_with_authorizations(as_of="30/06/2024"))
    assert parse_config(_with_authorizations(as_of="2024-06-30")).experiment.as_of == "2024-06-30"


def test_every_shipped_example_names_its_observation_date() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    for path in sorted(examples.glob("*.toml")):
        cfg = load_config(path)  # raises for an authorizations file without as_of
        if cfg.experiment.authorization == "required":
            assert cfg.experiment.as_of == "2024-06-30", path.name


def test_resolved_copy_names_the_same_files_from_another_folder(tmp_path: Path) -> None:
    from federation.config import config_to_toml, with_paths_resolved

    # Prepare: a config read from its folder, written back and read from elsewhere
    raw = _with_authorizations(as_of="2024-06-30")
    raw["experiment"]["algorithm"] = "hetero_lr"
    cfg = parse_config(raw, base_dir=tmp_path / "exp")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "x.toml").write_text(config_to_toml(with_paths_resolved(cfg, other)))

    # Execute
    again = load_config(other / "x.toml")

    # Assert
    assert again.guest.data == (tmp_path / "exp" / "bank.csv").resolve()
    assert again.guest.authorizations == (tmp_path / "exp" / "auth/authorizations.csv").resolve()
    assert again == cfg
    # a homo config without a backend gets its algorithm's default, and its copy loads
    homo = parse_config(
        {
            "experiment": {"name": "h", "algorithm": "homo_lr"},
            "parties": [
                {"name": "a", "role": "guest", "data": "a.csv", "label": "y"},
                {"name": "b", "role": "guest", "data": "b.csv", "label": "y"},
            ],
        },
        base_dir=tmp_path,
    )
    text = config_to_toml(homo)
    assert 'backend = "ckks"' in text
    assert parse_config(tomllib.loads(text)) == homo


def test_the_deployment_ships_the_paths_of_the_experiments_folder(tmp_path: Path) -> None:
    from federation.runtime.deployment import _FlwrRun, _Shipped

    # Prepare: an experiment file with relative paths, as the shipped examples have
    folder = tmp_path / "examples"
    folder.mkdir()
    text = (
        '[experiment]\nname = "t"\nauthorization = "required"\nas_of = "2024-06-30"\n'
        '[[parties]]\nname = "bank"\nrole = "guest"\ndata = "data/bank.csv"\nlabel = "y"\n'
        'authorizations = "data/authorizations.csv"\n'
        '[[parties]]\nname = "tax"\nrole = "host"\ndata = "../shared/tax.csv"\n'
    )
    (folder / "exp.toml").write_text(text)
    cfg = load_config(folder / "exp.toml")

    # Execute: the run folder the ServerApp reads its experiment from
    run = _FlwrRun.prepare(tmp_path / "state", {"address": "x"}, _Shipped.of(cfg, text))
    shipped = load_config(run.folder / "experiment.toml")

    # Assert
    assert shipped.guest.authorizations == folder / "data" / "authorizations.csv"
    assert shipped.guest.data == folder / "data" / "bank.csv"
    assert shipped.party("tax").data == tmp_path / "shared" / "tax.csv"
    assert (run.folder / "given.toml").read_text() == text  # DIR's config.toml: as given


def test_a_local_federation_gives_the_guest_its_authorizations_in_the_node_config() -> None:
    from federation.runtime.local_federation import node_config_arg

    arg = node_config_arg("bank", Path("/d/bank.csv"), Path("/w"), Path("/d/auth.csv"))
    assert arg == "party='bank' data='/d/bank.csv' work-dir='/w' authorizations='/d/auth.csv'"
    assert "authorizations" not in node_config_arg("tax", Path("/d/tax.csv"), Path("/w"))
