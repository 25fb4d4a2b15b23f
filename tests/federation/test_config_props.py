"""Property tests for experiment.toml parsing: random mutations of a valid config (of its
parsed tables and of its text) give a valid config or a coded ConfigError, never another
exception."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from federation.config import ExperimentConfig, load_config, parse_config
from lab.errors import ConfigError

BASE: dict[str, Any] = {
    "experiment": {
        "name": "props",
        "algorithm": "hetero_lr",
        "backend": "paillier",
        "id_column": "uscc",
        "runtime": "local",
        "authorization": "required",
        "as_of": "2024-06-30",
        "seed": 42,
        "features": {"bank": ["balance"], "tax": ["vat"]},
        "timeout": 600,
    },
    "params": {"epochs": 3, "learning_rate": 0.1},
    "deployment": {"superlink": "127.0.0.1:9093", "insecure": True},
    "parties": [
        {
            "name": "bank",
            "role": "guest",
            "data": "data/bank.csv",
            "label": "default_12m",
            "authorizations": "data/authorizations.csv",
        },
        {
            "name": "tax",
            "role": "host",
            "data": "data/tax.csv",
            "encoding": "gbk",
            "max_abs": 1e12,
            "bounds": {"vat": 1e9},
            "on_constant": "refuse",
            "categorical": ["code"],
        },
    ],
}

_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),  # nan and inf included
    st.text(max_size=12),
    st.sampled_from(["guest", "host", "coordinator", "gbk", "klingon", "../x.csv", "\x00"]),
)
_value = st.recursive(
    _scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def _mutated(draw: st.DrawFn) -> Any:
    raw: Any = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(raw)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            raw = draw(_value) if op == "replace" else raw
            continue
        parent = raw
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if op == "replace":
            parent[last] = draw(_value)
        elif op == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(_value)
        else:
            parent.append(draw(_value))
    return raw


def _valid_or_config_error(fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        cfg = fn(*args, **kwargs)
    except ConfigError as exc:
        assert exc.code == "FEDLAB-100" and str(exc)
        return
    assert isinstance(cfg, ExperimentConfig)


def test_a_path_the_system_cannot_name_is_a_config_error(tmp_path: Path) -> None:
    raw = copy.deepcopy(BASE)
    raw["parties"][1]["data"] = "data/t\x00x.csv"
    try:
        parse_config(raw, base_dir=tmp_path)
    except ConfigError as exc:
        assert "parties.tax.data: not a usable file path" in str(exc)
    else:
        raise AssertionError("a NUL byte in a path was accepted")


def test_the_base_config_is_valid(tmp_path: Path) -> None:
    cfg = parse_config(copy.deepcopy(BASE), base_dir=tmp_path)
    assert cfg.party("tax").contract().encoding == "gbk"


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_mutated())
def test_mutated_tables_parse_or_give_a_config_error(tmp_path: Path, raw: Any) -> None:
    _valid_or_config_error(parse_config, raw, base_dir=tmp_path)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_mutated_text_loads_or_gives_a_config_error(tmp_path: Path, data: st.DataObject) -> None:
    text = bytearray(tomli_w.dumps(BASE).encode("utf-8"))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        b = data.draw(
            st.binary(min_size=1, max_size=3) | st.sampled_from([b"=", b"[", b'"', b"\n"])
        )
        if op == "insert":
            text[i:i] = b
        elif op == "delete":
            del text[i : i + len(b)]
        else:
            text[i : i + len(b)] = b
    path = tmp_path / "experiment.toml"
    path.write_bytes(bytes(text))
    _valid_or_config_error(load_config, path)
