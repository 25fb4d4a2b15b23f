"""The data contract through a run: each party's ``[[parties]]`` settings (encoding,
bounds, categorical, on_constant) reach its loaders, constant and all-missing columns land
in metrics.json, and refusals come back as party errors that name file, column, lines and
counts, never a value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from typer.testing import CliRunner

from features.contract import DataContract
from federation.config import parse_config
from federation.partydata import clear_cache
from lab.cli import app
from lab.errors import ConfigError, PartyError

N = 160


@pytest.fixture(autouse=True)
def _fresh_tables() -> None:
    clear_cache()


def _tables(seed: int = 5) -> dict[str, dict[str, list[Any]]]:
    rng = np.random.default_rng(seed)
    ids = [f"e{i:04d}" for i in range(N)]
    x = rng.normal(size=N)
    y = (x + rng.normal(size=N) > 0.3).astype(int)
    return {
        "bank": {"id": ids, "default_12m": y.tolist(), "balance": x.round(6).tolist()},
        "tax": {
            "id": ids[::-1],
            "vat": rng.normal(size=N).round(6).tolist(),
            "行业": [["制造业", "批发", "零售"][i % 3] for i in range(N)],
        },
    }


def _write(
    tmp: Path,
    tables: dict[str, dict[str, list[Any]]],
    *,
    encoding: str = "utf-8",
    party_extra: dict[str, dict[str, Any]] | None = None,
) -> Path:
    (tmp / "data").mkdir(parents=True, exist_ok=True)
    for name, cols in tables.items():
        header = list(cols)
        lines = [",".join(header)]
        lines += [",".join(str(cols[c][i]) for c in header) for i in range(len(cols["id"]))]
        (tmp / "data" / f"{name}.csv").write_bytes(("\n".join(lines) + "\n").encode(encoding))
    extra = party_extra or {}
    cfg = {
        "experiment": {
            "name": "contract",
            "algorithm": "hetero_lr",
            "backend": "plaintext",
            "id_column": "id",
            "runtime": "local",
            "seed": 3,
        },
        "params": {"epochs": 2},
        "parties": [
            {
                "name": "bank",
                "role": "guest",
                "data": "data/bank.csv",
                "label": "default_12m",
                **extra.get("bank", {}),
            },
            {"name": "tax", "role": "host", "data": "data/tax.csv", **extra.get("tax", {})},
        ],
    }
    path = tmp / "experiment.toml"
    path.write_text(tomli_w.dumps(cfg), encoding="utf-8")
    return path


def _train(cfg: Path, out: Path) -> Any:
    return CliRunner().invoke(
        app, ["train", "--config", str(cfg), "--out", str(out), "--runtime", "local"]
    )


# ---------------------------------------------------------------------------------------
# the party section


def test_party_section_builds_the_contract() -> None:
    cfg = parse_config(
        {
            "experiment": {"name": "x", "algorithm": "hetero_lr", "id_column": "id"},
            "parties": [
                {"name": "bank", "role": "guest", "data": "b.csv", "label": "y"},
                {
                    "name": "tax",
                    "role": "host",
                    "data": "t.csv",
                    "encoding": "gbk",
                    "max_abs": 1e9,
                    "bounds": {"assets": 1e13},
                    "on_constant": "refuse",
                    "categorical": ["code"],
                },
            ],
        }
    )
    assert cfg.party("tax").contract() == DataContract(
        encoding="gbk",
        max_abs=1e9,
        bounds=(("assets", 1e13),),
        on_constant="refuse",
        categorical=("code",),
    )
    assert cfg.party("bank").contract() == DataContract()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"encoding": "klingon"}, r"parties\.1\.encoding: .*unknown text encoding 'klingon'"),
        ({"max_abs": 0}, r"parties\.1\.max_abs"),
        ({"max_abs": float("inf")}, r"parties\.1\.max_abs"),
        ({"bounds": {"a": -1.0}}, r"bounds of column\(s\) \['a'\] must be finite numbers > 0"),
        ({"on_constant": "ignore"}, r"parties\.1\.on_constant"),
    ],
)
def test_bad_party_contract_is_a_config_error(extra: dict[str, Any], message: str) -> None:
    raw = {
        "experiment": {"name": "x", "algorithm": "hetero_lr"},
        "parties": [
            {"name": "bank", "role": "guest", "data": "b.csv", "label": "y"},
            {"name": "tax", "role": "host", "data": "t.csv", **extra},
        ],
    }
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


# ---------------------------------------------------------------------------------------
# through a run


def test_gbk_files_train_with_the_party_encoding(tmp_path: Path) -> None:
    gbk = {"encoding": "gbk"}
    cfg = _write(tmp_path, _tables(), encoding="gbk", party_extra={"bank": gbk, "tax": gbk})
    result = _train(cfg, tmp_path / "out")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["n_aligned"] == N and "data_warnings" not in metrics
    # without the setting, the party refuses its file and says how to fix it
    clear_cache()
    with pytest.raises(
        PartyError, match=r"party 'tax'.*tax\.csv: not valid utf-8 text.*encoding = \"gbk\""
    ):
        from federation.run import run_experiment

        run_experiment(_write(tmp_path, _tables(), encoding="gbk"), tmp_path / "out2")


def test_constant_and_empty_columns_land_in_metrics(tmp_path: Path) -> None:
    tables = _tables()
    tables["tax"]["flat"] = [7] * N
    tables["tax"]["blank"] = [""] * N
    result = _train(_write(tmp_path, tables), tmp_path / "out")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["data_warnings"] == {
        "tax": [
            f"tax.csv: column(s) ['blank']: all {N} cells missing",
            f"tax.csv: column(s) ['flat']: one value in all {N} rows (constant)",
        ]
    }
    assert "warning (tax): tax.csv: column(s) ['flat']" in result.output


def test_constant_columns_refused_when_configured(tmp_path: Path) -> None:
    from federation.run import run_experiment

    tables = _tables()
    tables["tax"]["flat"] = [7] * N
    cfg = _write(tmp_path, tables, party_extra={"tax": {"on_constant": "refuse"}})
    with pytest.raises(PartyError) as info:
        run_experiment(cfg, tmp_path / "out")
    assert "party 'tax'" in str(info.value) and "'align.setup'" in str(info.value)
    assert f"tax.csv: column(s) ['flat']: one value in all {N} rows (constant)" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_one_class_label_is_refused_before_psi(tmp_path: Path) -> None:
    from federation.run import run_experiment

    tables = _tables()
    tables["bank"]["default_12m"] = [0] * N
    with pytest.raises(PartyError) as info:
        run_experiment(_write(tmp_path, tables), tmp_path / "out")
    text = str(info.value)
    assert "party 'bank'" in text and "'align.setup'" in text
    assert f"label column 'default_12m': all {N} sample rows hold the same class" in text
    assert "class 0" not in text  # which class stays at the bank


def test_separated_numbers_refused_at_the_party_without_values(tmp_path: Path) -> None:
    from federation.run import run_experiment

    tables = _tables()
    tables["tax"]["vat"] = [f'"{1000 + i:,}.75"' for i in range(N)]
    with pytest.raises(PartyError) as info:
        run_experiment(_write(tmp_path, tables), tmp_path / "out")
    text = str(info.value)
    assert f"tax.csv: column 'vat': {N} numbers written as text" in text
    assert "(lines 2, 3, 4, 5, 6, … " in text and "1,000.75" not in text
    # declared categorical, the same file trains
    clear_cache()
    cfg = _write(tmp_path, tables, party_extra={"tax": {"categorical": ["vat"]}})
    assert _train(cfg, tmp_path / "out3").exit_code == 0


def test_magnitude_bound_per_column_reaches_the_party(tmp_path: Path) -> None:
    from federation.run import run_experiment

    tables = _tables()
    tables["tax"]["vat"][10] = 1e308
    with pytest.raises(PartyError, match=r"tax\.csv: column 'vat': 1 values with magnitude"):
        run_experiment(_write(tmp_path, tables), tmp_path / "out")
    tables["tax"]["vat"][10] = 3e16
    clear_cache()
    cfg = _write(tmp_path, tables, party_extra={"tax": {"bounds": {"vat": 1e17}}})
    assert _train(cfg, tmp_path / "out2").exit_code == 0


def test_ragged_rows_refused_at_the_party(tmp_path: Path) -> None:
    from federation.run import run_experiment

    cfg = _write(tmp_path, _tables())
    path = tmp_path / "data" / "tax.csv"
    lines = path.read_text().splitlines()
    lines[4] = lines[4].rsplit(",", 1)[0]  # a short row
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PartyError, match=r"tax\.csv: 1 rows with another number of fields"):
        run_experiment(cfg, tmp_path / "out")


# ---------------------------------------------------------------------------------------
# fedlab data validate


def test_validate_refuses_a_one_class_label_and_prints_warnings(tmp_path: Path) -> None:
    tables = _tables()
    tables["bank"]["flat"] = [1] * N
    _write(tmp_path, tables)
    bank = str(tmp_path / "data" / "bank.csv")
    args = ["data", "validate", bank, "--id-column", "id", "--id-kind", "opaque"]
    ok = CliRunner().invoke(app, [*args, "--label", "default_12m"])
    assert ok.exit_code == 0, ok.output
    assert f"warning: bank.csv: column(s) ['flat']: one value in all {N} rows" in ok.output
    refused = CliRunner().invoke(app, [*args, "--label", "default_12m", "--on-constant", "refuse"])
    assert refused.exit_code != 0
    tables["bank"]["default_12m"] = [1] * N
    _write(tmp_path, tables)
    one = CliRunner().invoke(app, [*args, "--label", "default_12m"])
    assert one.exit_code != 0
    assert "all 160 rows hold the same class" in str(one.exception)
