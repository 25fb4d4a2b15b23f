"""The guest's population at the bank (federation.population), through real local runs:
the sample's ID list ∩ window decides the rows, ``validation_from`` validates out of time,
and a missing or empty ID list is a coded error at the bank naming the file.

Expected figures come from pandas on the parties' files, not from the code under test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.synth import generate
from federation.config import parse_config
from federation.run import run_experiment
from lab.errors import ConfigError, PartyError

START, END, CUT = "2023-07-01", "2024-06-30", "2024-03-01"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("population")
    tables = generate(1500, 21, banks=("bank_a",))
    tables["bank_a"].to_csv(d / "bank_a.csv", index=False)
    tables["tax"].to_csv(d / "tax.csv", index=False)
    bank = tables["bank_a"]
    listed = bank["uscc"].sample(frac=0.7, random_state=4)
    days = np.random.default_rng(5).integers(0, 540, len(listed))
    ids = pd.DataFrame(
        {
            "uscc": listed.to_numpy(),
            "observation_date": (
                pd.Timestamp("2023-04-01") + pd.to_timedelta(days, unit="D")
            ).strftime("%Y-%m-%d"),
        }
    )
    ids.to_csv(d / "ids.csv", index=False)
    ids[["uscc"]].to_csv(d / "ids_undated.csv", index=False)
    (d / "ids_empty.csv").write_text("uscc,observation_date\n", encoding="utf-8")
    return {"dir": d, "bank": bank, "tax": tables["tax"], "ids": ids}


def config(files: dict[str, Any], algorithm: str = "hetero_lr", **guest: Any) -> Any:
    params = {"epochs": 2} if algorithm == "hetero_lr" else {"n_trees": 2, "max_depth": 2}
    return parse_config(
        {
            "experiment": {
                "name": "population",
                "algorithm": algorithm,
                "backend": "plaintext",
                "id_column": "uscc",
                "runtime": "local",
            },
            "params": params,
            "parties": [
                {
                    "name": "bank_a",
                    "role": "guest",
                    "data": "bank_a.csv",
                    "label": "default_12m",
                    **guest,
                },
                {"name": "tax", "role": "host", "data": "tax.csv"},
            ],
        },
        base_dir=files["dir"],
    )


def reference(files: dict[str, Any], start: str = START, end: str = END) -> pd.DataFrame:
    """pandas: the listed enterprises observed in the window, held by the bank and tax."""
    ids = files["ids"].assign(date=pd.to_datetime(files["ids"]["observation_date"]))
    ids = ids[(ids["date"] >= start) & (ids["date"] <= end)]
    rows = ids.merge(files["bank"], on="uscc").merge(files["tax"][["uscc"]], on="uscc")
    return rows


def window(**extra: Any) -> dict[str, Any]:
    return {"sample_ids": "ids.csv", "observation_start": START, "observation_end": END, **extra}


def test_the_id_list_and_window_decide_the_rows(files: dict[str, Any], tmp_path: Path) -> None:
    whole = run_experiment(config(files), tmp_path / "whole").metrics
    got = run_experiment(config(files, **window()), tmp_path / "sample").metrics
    ref = reference(files)
    assert got["n_aligned"] == len(ref)
    assert whole["n_aligned"] == len(files["bank"].merge(files["tax"][["uscc"]], on="uscc"))
    assert got["n_aligned"] < 0.7 * whole["n_aligned"]
    assert got["n_train"] + got["n_valid"] == len(ref)


@pytest.mark.parametrize("algorithm", ["hetero_lr", "secureboost"])
def test_out_of_time_validation_takes_the_rows_observed_from_the_cut(
    files: dict[str, Any], tmp_path: Path, algorithm: str
) -> None:
    got = run_experiment(
        config(files, algorithm, **window(validation_from=CUT)), tmp_path / "oot"
    ).metrics
    ref = reference(files)
    late = ref[ref["date"] >= CUT]
    assert got["n_aligned"] == len(ref)
    assert got["n_valid"] == len(late) and got["n_train"] == len(ref) - len(late)
    if "n_valid_positive" in got:
        assert got["n_valid_positive"] == int(late["default_12m"].sum())


def test_out_of_time_refuses_a_validation_window_below_k(
    files: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(PartyError, match="out-of-time validation rows"):
        run_experiment(config(files, **window(validation_from="2024-06-29")), tmp_path / "r")


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ("nowhere/ids_2024.csv", "ids_2024.csv: the sample's ID list is not at the bank"),
        ("ids_empty.csv", "ids_empty.csv: the sample's ID list holds no ID"),
    ],
)
def test_a_missing_or_empty_id_list_is_a_coded_error_at_the_bank(
    files: dict[str, Any], tmp_path: Path, ids: str, message: str
) -> None:
    with pytest.raises(PartyError) as err:
        run_experiment(config(files, sample_ids=ids), tmp_path / "r")
    assert err.value.error_code == "FEDLAB-202" and message in str(err.value)
    assert "bank_a" in str(err.value) and str(files["dir"]) not in str(err.value)


def test_a_window_without_dates_is_reported_and_out_of_time_refused(
    files: dict[str, Any], tmp_path: Path
) -> None:
    undated = {**window(), "sample_ids": "ids_undated.csv"}
    got = run_experiment(config(files, **undated), tmp_path / "undated").metrics
    listed = files["ids"].merge(files["bank"], on="uscc").merge(files["tax"][["uscc"]], on="uscc")
    assert got["n_aligned"] == len(listed)  # the whole list: no date to window by
    assert got["data_warnings"]["bank_a"] == [
        "ids_undated.csv: observation window not applied: no date column "
        "'observation_date' in the ID list or the table"
    ]
    with pytest.raises(PartyError, match="FEDLAB-202|observation date"):
        run_experiment(config(files, **undated, validation_from=CUT), tmp_path / "oot")


def test_only_the_guest_names_a_sample(files: dict[str, Any]) -> None:
    raw = config(files).model_dump(mode="json")
    raw["parties"][1]["sample_ids"] = "ids.csv"
    with pytest.raises(ConfigError, match="host but names"):
        parse_config(raw)
    with pytest.raises(ConfigError, match="validation_from"):
        config(files, **window(validation_from="2025-01-01"))
