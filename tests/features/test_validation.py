"""Load-time validation: each broken file gets one clear error (file, column, what, count)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import synth
from features.validation import load_party_table, summarize
from lab.errors import DataValidationError

V1, V2, V3 = "91350100M000100Y43", "914403001922038216", "9144030071526726XG"
V4, V5 = "91330100716105852F", "91110108551385082Q"
HEADER = "uscc,default_12m,income,grade\n"


def _rows(*rows: str) -> str:
    return HEADER + "".join(r + "\n" for r in rows)


GOOD = [f"{V1},0,10.5,A", f"{V2},1,3.0,B", f"{V3},0,7.25,C", f"{V4},0,1.0,A", f"{V5},1,2.0,D"]

# (case id, file bytes or None for "no file", kwargs, expected message regex)
CASES: list[tuple[str, bytes | None, dict[str, object], str]] = [
    ("missing file", None, {}, r"^bank\.csv: file not found at "),
    ("empty file", b"", {}, r"^bank\.csv: the file is empty \(no header, no rows\)"),
    ("whitespace only", b"\n\n  \n", {}, r"^bank\.csv: the file is empty"),
    ("header only", HEADER.encode(), {}, r"^bank\.csv: header only, no data rows"),
    (
        "missing id column",
        b"id,default_12m,income\nx,0,1\n",
        {},
        r"^bank\.csv: ID column 'uscc' not found; columns are \['id', 'default_12m', 'income'\]",
    ),
    (
        "duplicate ids",
        _rows(GOOD[0], GOOD[1], GOOD[0], GOOD[2], GOOD[1], GOOD[0]).encode(),
        {},
        r"^bank\.csv: column 'uscc': 3 duplicate IDs \(lines 4, 6, 7\)",
    ),
    (
        "empty id",
        _rows(GOOD[0], ",0,1.0,A", GOOD[2]).encode(),
        {},
        r"^bank\.csv: column 'uscc': 1 empty IDs \(line 3\)",
    ),
    (
        "malformed uscc",
        _rows(
            GOOD[0], f"{V3.lower()},0,1,A", f"{V2[:15]},0,1,A", f"{V4[:10]}I{V4[11:]},0,1,A"
        ).encode(),
        {},
        r"^bank\.csv: column 'uscc': 3 malformed USCCs .*\(lines 3, 4, 5\) "
        r"\(first: '9144030071526726xg'\)",
    ),
    (
        "bad check character",
        _rows(GOOD[0], f"{V2[:17]}7,1,3.0,B", GOOD[2], f"{V4[:17]}G,0,1,A").encode(),
        {},
        r"^bank\.csv: column 'uscc': 2 USCCs with a wrong check character "
        r"\(lines 3, 5\) \(first: '914403001922038217'\)",
    ),
    (
        "label value 2",
        _rows(GOOD[0], f"{V2},2,3.0,B", GOOD[2]).encode(),
        {"label": "default_12m"},
        r"^bank\.csv: label column 'default_12m': 1 values other than 0/1 \(line 3\) \(found 2\)",
    ),
    (
        "label text",
        _rows(GOOD[0], f"{V2},yes,3.0,B", f"{V3},no,7,C").encode(),
        {"label": "default_12m"},
        r"^bank\.csv: label column 'default_12m': 2 values other than 0/1 \(lines 3, 4\) "
        r"\(found no, yes\)",
    ),
    (
        "label missing values",
        _rows(GOOD[0], f"{V2},,3.0,B", f"{V3},NA,7,C", GOOD[3]).encode(),
        {"label": "default_12m"},
        r"^bank\.csv: label column 'default_12m': 2 missing values \(lines 3, 4\)",
    ),
    (
        "label column absent",
        _rows(*GOOD).encode(),
        {"label": "y"},
        r"^bank\.csv: label column 'y' not found",
    ),
    (
        "non-numeric feature",
        _rows(GOOD[0], GOOD[1], f"{V3},0,12k,C", GOOD[3]).encode(),
        {},
        r"^bank\.csv: column 'income': 1 non-numeric values in a numeric column "
        r"\(line 4\) \(first: '12k'\)",
    ),
    (
        "infinite feature",
        _rows(GOOD[0], f"{V2},1,inf,B", GOOD[2]).encode(),
        {},
        r"^bank\.csv: column 'income': 1 infinite values \(line 3\)",
    ),
    (
        "bad encoding bytes",
        (HEADER + f"{V1},0,1.0,\xe4\xb8\n").encode("latin-1"),
        {},
        r"^bank\.csv: not valid utf-8 text: undecodable byte 0xe4 at byte \d+ \(line 2\)",
    ),
    (
        "gbk without --encoding",
        (HEADER + f"{V1},0,1.0,优\n").encode("gbk"),
        {},
        r"^bank\.csv: not valid utf-8 text: undecodable byte 0xd3",
    ),
    (
        "no feature columns",
        f"uscc,default_12m\n{V1},0\n".encode(),
        {"label": "default_12m"},
        r"^bank\.csv: no feature columns: only \['uscc', 'default_12m'\]",
    ),
    (
        "ragged row",
        (HEADER + f"{V1},0,1.0,A\n{V2},1,2.0,B,extra,more\n").encode(),
        {},
        r"^bank\.csv: 1 rows with another number of fields than the header's 4 "
        r"\(0 short, 1 long\) \(line 3\)",
    ),
    (
        "duplicate header",
        f"uscc,income,income\n{V1},1,2\n".encode(),
        {},
        r"^bank\.csv: header names column\(s\) \['income'\] more than once",
    ),
    (
        "required column missing",
        _rows(*GOOD).encode(),
        {"required_columns": ["income", "debt"]},
        r"^bank\.csv: required column\(s\) \['debt'\] not found",
    ),
    (
        "opaque id still unique",
        b"id,x\na,1\nb,2\na,3\n",
        {"id_column": "id", "id_kind": "opaque"},
        r"^bank\.csv: column 'id': 1 duplicate IDs \(line 4\)",
    ),
]


# the raw value each case's error quotes in its detail (shown locally, never sent)
RAW_VALUES = {
    "malformed uscc": "'9144030071526726xg'",
    "bad check character": "'914403001922038217'",
    "label value 2": "found 2",
    "label text": "found no, yes",
    "non-numeric feature": "'12k'",
}


@pytest.mark.parametrize(
    ("case", "content", "kwargs", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_broken_file_gets_one_clear_error(
    tmp_path: Path, case: str, content: bytes | None, kwargs: dict[str, object], expected: str
) -> None:
    # Prepare
    path = tmp_path / "bank.csv"
    if content is not None:
        path.write_bytes(content)
    before = sorted(tmp_path.iterdir())
    args: dict[str, object] = {"id_column": "uscc", **kwargs}
    # Execute
    with pytest.raises(DataValidationError) as info:
        load_party_table(path, **args)  # type: ignore[arg-type]
    # Assert
    assert re.search(expected, str(info.value)), str(info.value)
    assert info.value.hint  # says what to do
    assert sorted(tmp_path.iterdir()) == before  # nothing written
    # the raw value is for the file's owner only: not in the message that may leave it
    raw = RAW_VALUES.get(case)
    public = info.value.public_message()
    if raw is not None:
        assert raw in str(info.value) and raw not in public, public
        assert str(info.value).startswith(public)
    else:
        assert not info.value.detail


def test_at_least_ten_broken_file_cases() -> None:
    assert len(CASES) >= 10


def test_many_bad_rows_are_counted_and_abbreviated(tmp_path: Path) -> None:
    rows = [GOOD[0]] + [f"{V2[:17]}{c},0,1,A" for c in "012345789ABCD"]
    (tmp_path / "t.csv").write_text(_rows(*rows))
    with pytest.raises(
        DataValidationError,
        match=r"13 USCCs with a wrong check character .*"
        r"\(lines 3, 4, 5, 6, 7, … 8 more\)",
    ):
        load_party_table(tmp_path / "t.csv", id_column="uscc")


def test_good_file_loads_with_clean_types(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_bytes(("\ufeff" + _rows(*GOOD).replace("7.25", "")).encode("utf-8"))
    df = load_party_table(path, id_column="uscc", label="default_12m")
    assert df["uscc"].tolist() == [V1, V2, V3, V4, V5]
    assert df["default_12m"].dtype == np.int8 and df["default_12m"].tolist() == [0, 1, 0, 0, 1]
    assert pd.api.types.is_float_dtype(df["income"]) and np.isnan(df["income"].iloc[2])
    assert df["grade"].tolist() == ["A", "B", "C", "A", "D"]
    s = summarize(df, id_column="uscc").set_index("column")
    assert s.loc["income", "missing_share"] == pytest.approx(0.2)
    assert s.loc["uscc", "type"] == "id" and s.loc["grade", "type"] == "text"


def test_gbk_file_with_explicit_encoding(tmp_path: Path) -> None:
    path = tmp_path / "tax.csv"
    path.write_bytes(f"uscc,行业,x\n{V1},制造业,1\n{V2},批发,2\n".encode("gbk"))
    df = load_party_table(path, id_column="uscc", encoding="gbk")
    assert df["行业"].tolist() == ["制造业", "批发"]


def test_label_map_for_text_labels(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("id,x,Status\n1,2,good\n2,3,bad\n3,4,maybe\n")
    with pytest.raises(
        DataValidationError,
        match=r"g\.csv: label column 'Status': 1 values "
        r"outside \['bad', 'good'\] \(line 4\) \(first: 'maybe'\)",
    ):
        load_party_table(
            path, id_column="id", id_kind="opaque", label="Status", label_map={"good": 0, "bad": 1}
        )
    path.write_text("id,x,Status\n1,2,good\n2,3,bad\n")
    df = load_party_table(
        path, id_column="id", id_kind="opaque", label="Status", label_map={"good": 0, "bad": 1}
    )
    assert df["Status"].tolist() == [0, 1] and df["id"].tolist() == ["1", "2"]


def test_party_schema_types_dates_and_columns(tmp_path: Path) -> None:
    tables = synth.generate(500, 1)
    mr = tables["market_regulation"].copy()
    mr.loc[3, "established_on"] = "2020/01/05"
    mr.to_csv(tmp_path / "market_regulation.csv", index=False)
    with pytest.raises(
        DataValidationError,
        match=r"market_regulation\.csv: column "
        r"'established_on': 1 values that are not ISO dates .* \(line 5\)",
    ):
        load_party_table(
            tmp_path / "market_regulation.csv", id_column="uscc", party="market_regulation"
        )
    tables["tax"].drop(columns=["tax_credit_grade"]).to_csv(tmp_path / "tax.csv", index=False)
    with pytest.raises(
        DataValidationError,
        match=r"tax\.csv: required column\(s\) "
        r"\['tax_credit_grade'\] not found",
    ):
        load_party_table(tmp_path / "tax.csv", id_column="uscc", party="tax")
    # a declared numeric column that is mostly text still fails on its first bad cell
    courts = tables["courts"].astype({"enforcement_cases_24m": object})
    courts.loc[:300, "enforcement_cases_24m"] = "n/a"
    courts.to_csv(tmp_path / "courts.csv", index=False)
    with pytest.raises(
        DataValidationError,
        match=r"courts\.csv: column 'enforcement_cases_24m': "
        r"301 non-numeric values .*first: 'n/a'",
    ):
        load_party_table(tmp_path / "courts.csv", id_column="uscc", party="courts")


def test_bank_party_implies_label(tmp_path: Path) -> None:
    bank = synth.generate(500, 1)["bank"]
    bank.loc[7, synth.LABEL] = 3
    bank.to_csv(tmp_path / "bank.csv", index=False)
    with pytest.raises(
        DataValidationError,
        match=r"label column 'default_12m': 1 values other "
        r"than 0/1 \(line 9\) \(found 3\)",
    ):
        load_party_table(tmp_path / "bank.csv", id_column="uscc", party="bank")


def test_authorizations_allow_one_row_per_bank(tmp_path: Path) -> None:
    auth = synth.generate(2000, 1, banks=("bank_a", "bank_b"))["authorizations"]
    assert auth["uscc"].duplicated().any()
    auth.to_csv(tmp_path / "authorizations.csv", index=False)
    df = load_party_table(tmp_path / "authorizations.csv", id_column="uscc", party="authorizations")
    assert len(df) == len(auth)
    pd.concat([auth, auth.iloc[[5]]]).to_csv(tmp_path / "authorizations.csv", index=False)
    with pytest.raises(DataValidationError, match=r"column 'uscc'\+'bank': 1 duplicate IDs"):
        load_party_table(tmp_path / "authorizations.csv", id_column="uscc", party="authorizations")


def test_authorizations_must_not_expire_before_grant(tmp_path: Path) -> None:
    auth = synth.generate(1000, 1)["authorizations"]
    auth.loc[2, "expires_on"] = "2001-01-01"
    auth.to_csv(tmp_path / "authorizations.csv", index=False)
    with pytest.raises(
        DataValidationError,
        match=r"authorizations\.csv: columns 'granted_on'/"
        r"'expires_on': 1 authorizations expire before they were granted "
        r"\(line 4\)",
    ):
        load_party_table(tmp_path / "authorizations.csv", id_column="uscc", party="authorizations")
