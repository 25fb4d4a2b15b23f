"""The algorithm registry (federation.algorithms): one entry per algorithm from which the
config's validation, the catalog's 算法库 and the sandbox forms come; the checks below hold
the three to the algorithm's own parameter model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from federation import algorithms as A
from federation.config import parse_config
from federation.party import HANDLERS, load_protocols
from federation.protocol import get_driver
from lab.errors import ConfigError
from lab.runner import nested_params
from lab.services.catalog import validate_params
from tests.federation.test_config import _raw

BUILT_IN = ["hetero_lr", "homo_lr", "homo_nn", "sample_profile", "scorecard", "secureboost"]


def test_every_built_in_algorithm_has_a_driver_handlers_and_backends() -> None:
    assert sorted(A.ALGORITHMS) == BUILT_IN
    load_protocols()
    prefixes = {
        "hetero_lr": "lr.",
        "secureboost": "sb.",
        "scorecard": "sc.",
        "homo_lr": "homo.",
        "homo_nn": "homo.",
        "sample_profile": "sample.",
    }
    for name in BUILT_IN:
        spec = A.get_algorithm(name)
        assert callable(get_driver(name))
        assert spec.backends and set(spec.backends) <= set(A.ALL_BACKENDS)
        assert spec.title and spec.title_en and spec.description and spec.description_en
        assert any(a.startswith(prefixes[name]) for a in HANDLERS), name
    assert A.catalog_algorithms() == [n for n in A.ALGORITHMS if n != "sample_profile"]


def _model_value(parsed: Any, key: str) -> Any:
    node = parsed
    for part in key.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node


@pytest.mark.parametrize("name", ["hetero_lr", "secureboost", "scorecard", "homo_lr", "homo_nn"])
def test_catalog_schema_and_model_agree_on_defaults_and_bounds(name: str) -> None:
    """Each schema default reaches the model unchanged; a value just outside a bound is
    refused by both the catalog's check and the model, one just inside by neither."""
    spec = A.get_algorithm(name)
    schema = spec.param_schema()
    assert schema, name
    filled = validate_params(name, schema, {})
    parsed = spec.validate_params(nested_params(filled))
    if "scaling" in schema:  # a scorecard's base/odds/PDO may move only on a fixed scale
        filled = {**filled, "scaling": "fixed"}
    for key, entry in schema.items():
        assert _model_value(parsed, key) == entry["default"], (name, key)
        for side in ("min", "max"):
            if side not in entry:
                continue
            bound = entry[side]
            step = 1 if entry["type"] == "int" else max(abs(bound), 1.0) * 1e-9
            outside = bound - step if side == "min" else bound + step
            if entry.get(f"{side}_exclusive"):
                outside = bound
            inside = bound + step if side == "min" else bound - step
            with pytest.raises(ConfigError):
                validate_params(name, schema, {key: outside})
            with pytest.raises(ConfigError):
                spec.validate_params(nested_params({**filled, key: outside}))
            if not math.isclose(inside, entry["default"]):
                validate_params(name, schema, {key: inside})
                spec.validate_params(nested_params({**filled, key: inside}))


def test_the_drifted_defaults_are_the_code_s_now() -> None:
    """SecureBoost 50 trees of depth 5, hetero LR up to 10,000 epochs, homo_nn listed."""
    sb = A.get_algorithm("secureboost").param_schema()
    assert (sb["n_trees"]["default"], sb["max_depth"]["default"]) == (50, 5)
    assert A.get_algorithm("hetero_lr").param_schema()["epochs"]["max"] == 10_000
    assert "homo_nn" in A.catalog_algorithms()
    assert A.catalog_entry("homo_nn")["kind"] == "horizontal"


def test_params_are_validated_when_the_config_is_parsed() -> None:
    raw = _raw(algorithm="secureboost")
    raw["params"] = {"n_trees": 0}
    with pytest.raises(ConfigError, match=r"invalid secureboost \[params\]: n_trees"):
        parse_config(raw)
    raw["params"] = {"n_tres": 5}
    with pytest.raises(ConfigError, match="n_tres"):
        parse_config(raw)
    raw = _raw(algorithm="scorecard")
    raw["params"] = {"binning": {"max_bins": 0}}
    with pytest.raises(ConfigError, match="max_bins"):
        parse_config(raw)
    raw["params"] = {"binning": {"max_bins": 6}, "lr": {"epochs": 3}}
    assert parse_config(raw).params["lr"] == {"epochs": 3}


def test_unknown_algorithm_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="secureboost"):
        A.get_algorithm("deep_magic")


def test_a_second_spec_under_one_name_is_refused() -> None:
    spec = A.get_algorithm("hetero_lr")
    assert A.register_algorithm(spec) is spec  # the same entry again is harmless
    other = A.AlgorithmSpec(**{**spec.__dict__, "backends": ("plaintext",)})
    with pytest.raises(ConfigError, match="registered twice"):
        A.register_algorithm(other)


def test_a_plugin_module_joins_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    monkeypatch.setenv(A.PLUGIN_ENV, "echo_protocol")
    monkeypatch.setattr(A, "ALGORITHMS", dict(A.ALGORITHMS))
    assert "echo" in A.algorithm_names()
    spec = A.get_algorithm("echo")
    assert spec.backends == A.ALL_BACKENDS and not spec.in_catalog
    assert get_driver("echo").__module__ == "echo_protocol"
    assert spec.validate_params({"anything": 1}) is None  # no model: passed through


def test_alignment_keys_are_checked_for_every_vertical_algorithm() -> None:
    for name in ("hetero_lr", "secureboost", "scorecard"):
        raw = _raw(algorithm=name)
        raw["params"] = {"cardinality_only": True, "id_kind": "uscc"}
        assert parse_config(raw).params["cardinality_only"] is True
        raw["params"] = {"id_kind": "passport"}
        with pytest.raises(ConfigError, match="id_kind"):
            parse_config(raw)
