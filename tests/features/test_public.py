"""Public data sets as parties (skipped where the shared data folder is absent)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.encoding import party_matrix
from features.public import NAMES, load_public, write_parties
from features.validation import load_party_table
from lab.errors import DataValidationError

# name -> (rows, guest name, guest feature count, {host: feature count}, positives)
EXPECTED = {
    "default_credit": (30000, "guest", 13, {"host": 10}, 6636),
    "breast": (569, "guest", 10, {"host": 20}, None),
    "taiwan": (30000, "bank", 12, {"demographics": 5, "payment_history": 6}, 6636),
    "german": (1000, "bank", 9, {"agency": 11}, 300),
    "lending_club": (9857, "bank", 12, {"credit_bureau": 10}, 517),
    "credit_data": (4454, "bank", 6, {"registry": 7}, 1254),
}


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_conventions(shared_data: Path, name: str) -> None:
    rows, guest_name, n_guest, hosts, positives = EXPECTED[name]
    p = load_public(name, shared_data)
    assert p.guest_name == guest_name and p.id_column == "id" and p.label_column == "y"
    assert p.guest.shape == (rows, n_guest + 2)
    assert list(p.guest.columns[:2]) == ["id", "y"]
    assert set(p.guest["y"].unique()) == {0, 1}
    if positives is not None:
        assert int(p.guest["y"].sum()) == positives
    assert {h: df.shape[1] - 1 for h, df in p.hosts.items()} == hosts
    all_cols = [c for df in p.parties.values() for c in df.columns if c != "id"]
    if name not in ("default_credit", "breast"):  # FATE reuses x0.. names per side
        assert len(all_cols) == len(set(all_cols))
    for df in p.hosts.values():
        assert "y" not in df.columns and len(df) == rows
        assert df["id"].tolist() == p.guest["id"].tolist()
        assert df["id"].is_unique
    m = party_matrix(p.guest, id_column="id", label="y")
    assert not np.isnan(m.X).any() and m.y is not None and m.y.shape == (rows,)


def test_fate_split_ids_are_raw_taiwan_ids(shared_data: Path) -> None:
    """The FATE files hold the raw file's 30000 clients in shuffled row order; their ``id`` is
    the raw ``ID``: aligned by id, labels agree and x-columns are the raw columns z-scored."""
    fate = load_public("default_credit", shared_data)
    raw = load_public("taiwan", shared_data)
    assert fate.hosts["host"]["id"].tolist() == fate.guest["id"].tolist()
    assert sorted(fate.guest["id"], key=int) == raw.guest["id"].tolist()
    assert raw.guest["id"].tolist() == [str(i) for i in range(1, 30001)]
    bank = raw.guest.set_index("id").loc[fate.guest["id"]]
    demo = raw.hosts["demographics"].set_index("id").loc[fate.guest["id"]]
    pay = raw.hosts["payment_history"].set_index("id").loc[fate.guest["id"]]
    assert (bank["y"].to_numpy() == fate.guest["y"].to_numpy()).all()

    def z(s: pd.Series) -> np.ndarray:
        v = s.to_numpy(float)
        return (v - v.mean()) / v.std()

    pairs = [
        (fate.guest["x0"], pay["PAY_6"]),
        (fate.guest["x1"], bank["BILL_AMT1"]),
        (fate.guest["x12"], bank["PAY_AMT6"]),
        (fate.hosts["host"]["x0"], demo["LIMIT_BAL"]),
        (fate.hosts["host"]["x4"], demo["AGE"]),
        (fate.hosts["host"]["x5"], pay["PAY_0"]),
    ]
    for shipped, raw_col in pairs:
        assert np.abs(shipped.to_numpy(float) - z(raw_col)).max() < 1e-5


def test_raw_labels_map_bad_to_one(shared_data: Path) -> None:
    raw = pd.read_csv(shared_data / "credit_data.csv")
    p = load_public("credit_data", shared_data)
    assert (p.guest["y"].to_numpy() == (raw["Status"] == "bad").to_numpy()).all()
    assert p.guest["id"].tolist()[:3] == ["1", "2", "3"]
    assert p.guest["Income"].isna().sum() == raw["Income"].isna().sum()  # missing kept


def test_written_files_validate(shared_data: Path, tmp_path: Path) -> None:
    p = load_public("taiwan", shared_data)
    paths = write_parties(tmp_path, p)
    assert sorted(paths) == ["bank", "demographics", "payment_history"]
    g = load_party_table(paths["bank"], id_column="id", label="y", id_kind="opaque")
    assert g.shape == p.guest.shape
    h = load_party_table(paths["demographics"], id_column="id", id_kind="opaque")
    assert h["id"].tolist() == g["id"].tolist()


def test_unknown_name_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="unknown public data set 'nope'"):
        load_public("nope", tmp_path)
    with pytest.raises(DataValidationError, match=r"german_credit\.csv: not found in"):
        load_public("german", tmp_path)


# A raw public file (no ID column) that is broken gets one clear error naming the file.
RAW_BROKEN = [
    ("empty", b"", r"^credit_data\.csv: the file is empty"),
    ("header only", b"Status,Time,Amount\n", r"^credit_data\.csv: header only, no data rows"),
    (
        "undecodable",
        b"Status,Time\n\xe4\xb8,1\n",
        r"^credit_data\.csv: not valid utf-8 text: undecodable byte 0xe4 at byte 12 \(line 2\)",
    ),
    (
        "ragged",
        b"Status,Time\ngood,1\nbad,2,3,4\n",
        r"^credit_data\.csv: 1 rows with another number of fields .* \(line 3\)",
    ),
    (
        "duplicate header",
        b"Status,Time,Time\ngood,1,2\n",
        r"^credit_data\.csv: header names column\(s\) \['Time'\] more than once",
    ),
    (
        "columns missing",
        b"Status,Time\ngood,1\n",
        r"^credit_data\.csv: expected column\(s\) \['Amount', .*\] not found",
    ),
    (
        "label not good/bad",
        b"Status,Time,Amount,Price,Income,Expenses,Debt,Seniority,Home,Age,"
        b"Marital,Records,Job,Assets\ngood,1,1,1,1,1,1,1,r,30,m,no,f,0\n"
        b"unknown,1,1,1,1,1,1,1,r,30,m,no,f,0\n",
        r"^credit_data\.csv: label column 'Status': 1 values other than good/bad \(line 3\)",
    ),
]


@pytest.mark.parametrize(
    ("case", "content", "expected"), RAW_BROKEN, ids=[c[0] for c in RAW_BROKEN]
)
def test_broken_raw_public_file_gets_one_clear_error(
    tmp_path: Path, case: str, content: bytes, expected: str
) -> None:
    (tmp_path / "credit_data.csv").write_bytes(content)
    with pytest.raises(DataValidationError) as info:
        load_public("credit_data", tmp_path)
    assert re.search(expected, str(info.value)), str(info.value)
    assert info.value.hint


def test_unknown_name_hint_names_the_choice(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError) as info:
        load_public("nope", tmp_path)
    assert "default_credit" in str(info.value) and "Fix the named file" not in info.value.hint
