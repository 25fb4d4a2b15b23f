"""Counting a sample set at the bank: counts and histograms equal pandas on the bank's own
files, every cell >= k, no ID in any message, the guard still refuses IDs and columns."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from leakcheck import assert_no_leak

from features.synth import generate
from federation.config import parse_config
from federation.guard import check_outgoing
from federation.party import PartyContext
from federation.roles import PartyRole
from federation.run import run_experiment
from federation.sample_profile import (
    ACTION,
    column_histogram,
    merge_runs,
    profile,
    request_payload,
)
from lab.errors import DataValidationError, PartyError, PrivacyViolationError

K = 10
START, END = "2023-07-01", "2024-06-30"
COLUMNS = ["acct_avg_balance", "credit_line_utilization"]


@pytest.fixture(scope="module")
def bank_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The bank's table and an ID list at the bank: dated IDs, some not customers, a repeat."""
    d = tmp_path_factory.mktemp("bank")
    bank = generate(1500, 11, banks=("bank_a",))["bank_a"]
    bank.to_csv(d / "bank_a.csv", index=False)
    rng = np.random.default_rng(3)
    listed = bank["uscc"].sample(frac=0.8, random_state=2).tolist()
    outsiders = generate(40, 99, banks=("other",))["other"]["uscc"].tolist()
    ids = pd.DataFrame({"uscc": listed + outsiders + listed[:5]})
    days = rng.integers(0, 600, len(ids))
    ids["observation_date"] = (
        pd.Timestamp("2023-01-01") + pd.to_timedelta(days, unit="D")
    ).strftime("%Y-%m-%d")
    ids.loc[3, "observation_date"] = "not a date"
    (d / "ids").mkdir()
    ids.to_csv(d / "ids" / "2024h1.csv", index=False)
    return {"dir": d, "bank": bank, "ids": ids}


def config(files: dict[str, Any], **params: Any) -> Any:
    return parse_config(
        {
            "experiment": {
                "name": "count",
                "algorithm": "sample_profile",
                "id_column": "uscc",
                "runtime": "local",
            },
            "params": {
                "id_list": "ids/2024h1.csv",
                "observation_start": START,
                "observation_end": END,
                "columns": COLUMNS,
                "min_cell": K,
                **params,
            },
            "parties": [
                {
                    "name": "bank_a",
                    "role": "guest",
                    "data": str(files["dir"] / "bank_a.csv"),
                    "label": "default_12m",
                }
            ],
        }
    )


def reference(files: dict[str, Any]) -> pd.DataFrame:
    """pandas on the bank's files: the listed customers observed inside the window."""
    ids = files["ids"].drop_duplicates("uscc")
    ids = ids.assign(date=pd.to_datetime(ids["observation_date"], errors="coerce"))
    rows = ids.merge(files["bank"], on="uscc", how="inner")
    return rows[(rows["date"] >= START) & (rows["date"] <= END)]


def in_bin(values: pd.Series, label: str) -> pd.Series:
    m = re.fullmatch(r"\[(\S+), (\S+)\)( or missing)?", label)
    assert m, label
    lo, hi = float(m.group(1)), float(m.group(2))
    inside = (values >= lo) & (values < hi)
    return inside | values.isna() if m.group(3) else inside


def test_counts_and_histograms_equal_pandas_on_the_banks_files(
    bank_files: dict[str, Any], tmp_path: Path
) -> None:
    # Execute
    summary = run_experiment(config(bank_files), tmp_path / "run", keep_payloads=True)
    got = summary.metrics["sample_profile"]
    # Assert: totals
    ref = reference(bank_files)
    n_pos = int(ref["default_12m"].sum())
    assert got["n_total"] == len(ref) and got["n_positive"] == n_pos
    assert got["n_negative"] == len(ref) - n_pos
    assert got["positive_rate"] == pytest.approx(n_pos / len(ref))
    assert got["n_excluded"] == len(bank_files["ids"].drop_duplicates("uscc")) - len(ref)
    assert got["window_applied"] is True and got["date_source"] == "id_list"
    # months: each bin (a month or a run of months) equals pandas' count of those months
    month = ref["date"].dt.strftime("%Y-%m")
    assert len(got["months"]) >= 2
    for b in got["months"]:
        first, _, last = b["label"].partition("..")
        sel = (month >= first) & (month <= (last or first))
        assert b["total"] == int(sel.sum())
        assert b["positive"] == int(ref.loc[sel, "default_12m"].sum())
    assert sum(b["total"] for b in got["months"]) == len(ref)
    # column bins
    for col in COLUMNS:
        bins = got["columns"][col]
        assert len(bins) >= 2
        for b in bins:
            sel = in_bin(ref[col], b["label"])
            assert b["total"] == int(sel.sum()), (col, b)
            assert b["positive"] == int(ref.loc[sel, "default_12m"].sum())
        assert sum(b["total"] for b in bins) == len(ref)
    # every cell of at least k
    cells = [b for bins in [got["months"], *got["columns"].values()] for b in bins]
    assert all(b["total"] >= K and min(b["positive"], b["negative"]) >= K for b in cells)
    # no ID (table, ID list, outsiders) and no column in any message that crossed
    listed = bank_files["ids"][["uscc"]].assign(n=1)
    assert_no_leak(summary.log, {"bank_a": bank_files["bank"], "id list": listed}, [])


def test_small_cells_are_merged_or_suppressed() -> None:
    # bins of 4, 7, 12, 3, 30 with k = 10: 4+7 -> 11, 12, then the tail 3 joins 30
    assert merge_runs([4, 7, 12, 3, 30], 10) == [(0, 1), (2, 2), (3, 4)]
    assert merge_runs([4, 3], 10) == []
    assert merge_runs([12, 2], 10) == [(0, 1)]
    # stratified: each run also needs 10 positives and 10 negatives
    assert merge_runs([20, 20, 20], 10, [5, 6, 15]) == [(0, 2)]
    # a column whose positives are too few for any split: totals >= k, split suppressed
    values = np.repeat(np.arange(1.0, 6.0), 10)  # quantile edges 1.8, 2.6, 3.4, 4.2
    y = np.zeros(50)
    y[:3] = 1
    bins = column_histogram(values, y, 10, 5)
    assert [b.total for b in bins] == [10, 10, 10, 10, 10]
    assert [b.label for b in bins] == [
        "[-inf, 1.8)",
        "[1.8, 2.6)",
        "[2.6, 3.4)",
        "[3.4, 4.2)",
        "[4.2, inf)",
    ]
    assert all(b.positive is None and b.negative is None for b in bins)
    # 4 missing values join the first bin instead of standing alone
    values[[1, 20, 30, 40]] = np.nan
    bins = column_histogram(values, np.r_[np.ones(25), np.zeros(25)], 10, 2)
    assert bins[0].label.endswith(" or missing") and sum(b.total for b in bins) == 50
    # fewer than k in the whole sample: nothing
    assert column_histogram(np.arange(9.0), np.zeros(9), 10, 3) == []


def test_a_sample_below_k_sends_no_count(bank_files: dict[str, Any], tmp_path: Path) -> None:
    got = run_experiment(
        config(bank_files, observation_start="2024-06-25", observation_end="2024-06-26"),
        tmp_path / "run",
    ).metrics["sample_profile"]
    assert 0 < len(reference(bank_files).query("date >= '2024-06-25' and date <= '2024-06-26'"))
    assert got["n_total"] is None and got["n_positive"] is None and got["months"] == []
    assert got["columns"] == {c: [] for c in COLUMNS}


def test_the_banks_floor_raises_k(bank_files: dict[str, Any], tmp_path: Path) -> None:
    ctx = PartyContext(
        name="bank_a",
        role=PartyRole.GUEST,
        data_path=bank_files["dir"] / "bank_a.csv",
        work_dir=tmp_path,
        node_config={"min-cell": 40},
    )
    out = profile(ctx, request_payload(config(bank_files, min_cell=5), "r1"))
    assert out["min_cell"] == 40 and min(out["column.acct_avg_balance.total"]) >= 40


def test_the_guard_accepts_the_reply_and_refuses_ids_and_columns(
    bank_files: dict[str, Any], tmp_path: Path
) -> None:
    # Prepare: the real reply, as the bank's handler builds it
    ctx = PartyContext(
        name="bank_a",
        role=PartyRole.GUEST,
        data_path=bank_files["dir"] / "bank_a.csv",
        work_dir=tmp_path,
    )
    out = profile(ctx, request_payload(config(bank_files), "r1"))
    check_outgoing(ctx, out, ACTION)  # accepted
    outsider = bank_files["ids"]["uscc"].iloc[-6]  # on the ID list, not in the table
    assert outsider not in set(bank_files["bank"]["uscc"])
    # Execute / Assert: an ID of the list (not of the table) in a label is refused
    leaked = {**out, "month.labels": [outsider, *out["month.labels"][1:]]}
    with pytest.raises(PrivacyViolationError, match="raw ID"):
        check_outgoing(ctx, leaked, ACTION)
    # so is a customer's ID, and a plaintext copy of a column
    with pytest.raises(PrivacyViolationError, match="raw ID"):
        check_outgoing(ctx, {**out, "note": str(bank_files["bank"]["uscc"].iloc[0])}, ACTION)
    column = bank_files["bank"]["acct_avg_balance"].to_numpy()
    with pytest.raises(PrivacyViolationError, match="acct_avg_balance"):
        check_outgoing(ctx, {**out, "x": column * 2 + 1}, ACTION)


def test_a_missing_id_list_fails_with_the_file_name_only(
    bank_files: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(
        PartyError, match=r"nope\.csv: the sample's ID list is not at the bank"
    ) as err:
        run_experiment(config(bank_files, id_list="nope.csv"), tmp_path / "run")
    assert str(bank_files["dir"]) not in str(err.value)
    ctx = PartyContext(
        name="bank_a",
        role=PartyRole.GUEST,
        data_path=bank_files["dir"] / "bank_a.csv",
        work_dir=tmp_path,
    )
    with pytest.raises(DataValidationError, match="no column 'uscc'"):
        (bank_files["dir"] / "bad.csv").write_text("id\nx\n")
        profile(ctx, request_payload(config(bank_files, id_list="bad.csv"), "r2"))


@pytest.mark.slow
@pytest.mark.flower
def test_simulation_runtime_counts_the_same(bank_files: dict[str, Any], tmp_path: Path) -> None:
    local = run_experiment(config(bank_files), tmp_path / "local").metrics["sample_profile"]
    sim = run_experiment(config(bank_files), tmp_path / "sim", runtime="simulation")
    assert sim.runtime == "simulation" and sim.metrics["sample_profile"] == local
