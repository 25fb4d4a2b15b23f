"""The data contract at the party's loader: each case is refused with one coded error that
names file, column, lines and counts and never the offending value."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import DataContract, check_label_classes, column_warnings
from features.validation import load_party_table
from lab.errors import ConfigError, DataValidationError

HEADER = "id,income,grade\n"


def _load(tmp_path: Path, text: str, **kwargs: object) -> pd.DataFrame:
    path = tmp_path / "tax.csv"
    path.write_bytes(text.encode(str(kwargs.pop("file_encoding", "utf-8"))))
    return load_party_table(path, id_column="id", id_kind="opaque", **kwargs)  # type: ignore[arg-type]


def _refused(tmp_path: Path, text: str, pattern: str, secret: str, **kwargs: object) -> None:
    with pytest.raises(DataValidationError) as info:
        _load(tmp_path, text, **kwargs)
    public = info.value.public_message()
    assert info.value.code == "FEDLAB-200"
    assert re.search(pattern, public), public
    assert info.value.hint
    assert secret not in str(info.value), str(info.value)  # not even in the local detail


# ---------------------------------------------------------------------------------------
# ragged rows


def test_short_rows_are_refused_not_nan_filled(tmp_path: Path) -> None:
    text = HEADER + "a,1.5,A\nb,2.5\nc,3.5,B\nd\n"
    _refused(
        tmp_path,
        text,
        r"^tax\.csv: 2 rows with another number of fields than the header's 3 "
        r"\(2 short, 0 long\) \(lines 3, 5\)$",
        "2.5",
    )


def test_long_rows_are_refused_with_their_lines(tmp_path: Path) -> None:
    # every data row one field too long: pandas alone would shift the columns silently
    text = HEADER + "a,1.5,A,x\nb,2.5,B,y\n"
    _refused(tmp_path, text, r"2 rows .* \(0 short, 2 long\) \(lines 2, 3\)$", "1.5")


def test_quoted_commas_and_multiline_fields_are_not_ragged(tmp_path: Path) -> None:
    df = _load(tmp_path, HEADER + 'a,1.5,"A, or B"\nb,2.5,"two\nlines"\n\nc,3,C\n')
    assert df["grade"].tolist() == ["A, or B", "two\nlines", "C"]


def test_ragged_line_numbers_count_physical_lines(tmp_path: Path) -> None:
    text = HEADER + 'a,1.5,"two\nlines"\nb,2.5\n'
    _refused(tmp_path, text, r"\(1 short, 0 long\) \(line 4\)$", "2.5")


# ---------------------------------------------------------------------------------------
# numbers written as text


def test_thousands_separators_are_refused_with_a_hint(tmp_path: Path) -> None:
    text = 'id,income\na,"44,704.75"\nb,"1,200"\nc,"12,345,678.9"\nd,17\n'
    with pytest.raises(DataValidationError) as info:
        _load(tmp_path, text)
    public = info.value.public_message()
    assert public == (
        "tax.csv: column 'income': 3 numbers written as text (thousands separators, "
        "currency signs or units) (lines 2, 3, 4)"
    )
    assert "categorical" in str(info.value.hint) and "44,704.75" not in str(info.value)


@pytest.mark.parametrize(
    "cells", [["¥1,000", "¥2,500"], ["1.234,5", "2.000,25"], ["12%", "7.5%"], ["3万元", "4万"]]
)
def test_other_numbers_for_people_are_refused(tmp_path: Path, cells: list[str]) -> None:
    text = "id,income\n" + "".join(f'{i},"{c}"\n' for i, c in enumerate(cells))
    _refused(tmp_path, text, r"column 'income': 2 numbers written as text", cells[0])


def test_a_declared_categorical_column_stays_text(tmp_path: Path) -> None:
    text = 'id,code,x\na,"1,200",1\nb,"1,300",2\nc,007,3\n'
    df = _load(tmp_path, text, contract=DataContract(categorical=("code",)))
    assert df["code"].tolist() == ["1,200", "1,300", "007"]


def test_real_text_columns_still_load(tmp_path: Path) -> None:
    df = _load(tmp_path, "id,region,x\na,north,1\nb,south,2\nc,2024-01-05,3\n")
    assert df["region"].tolist() == ["north", "south", "2024-01-05"]


# ---------------------------------------------------------------------------------------
# magnitudes


@pytest.mark.parametrize("cell", ["1e308", "-1e308", "2.5e16", "99999999999999999999"])
def test_absurd_magnitudes_are_refused(tmp_path: Path, cell: str) -> None:
    text = f"id,income\na,1.5\nb,{cell}\nc,3\n"
    _refused(
        tmp_path, text, r"column 'income': 1 values with magnitude above 1e\+15 \(line 3\)$", cell
    )


@pytest.mark.parametrize("cell", ["inf", "-inf", "1e400"])
def test_infinite_values_are_refused(tmp_path: Path, cell: str) -> None:
    # the value as a detail would quote it
    _refused(tmp_path, f"id,income\na,1\nb,{cell}\n", r"1 infinite values \(line 3\)$", f"'{cell}'")


def test_bounds_are_per_column(tmp_path: Path) -> None:
    text = "id,assets,debt\na,3e16,1\nb,4e16,2\n"
    contract = DataContract.from_settings(bounds={"assets": 1e18})
    df = _load(tmp_path, text, contract=contract)
    assert df["assets"].tolist() == [3e16, 4e16]
    _refused(
        tmp_path,
        "id,assets,debt\na,1,3e16\n",
        r"column 'debt': 1 values with magnitude above 1e\+15",
        "3e16",
        contract=contract,
    )
    small = DataContract.from_settings(bounds={"debt": 10})
    _refused(
        tmp_path, "id,debt\na,1\nb,11\n", r"magnitude above 10 \(line 3\)", "11", contract=small
    )


def test_bad_bounds_are_config_errors() -> None:
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ConfigError):
            DataContract.from_settings(max_abs=bad)
        with pytest.raises(ConfigError):
            DataContract.from_settings(bounds={"x": bad})


# ---------------------------------------------------------------------------------------
# constant and all-missing columns


def test_constant_and_empty_columns_are_named_in_warnings(tmp_path: Path) -> None:
    text = "id,flat,empty,x,partly\na,5,,1,\nb,5,,2,5\nc,5,,3,5\n"
    df = _load(tmp_path, text)
    found = column_warnings(df, "tax.csv", ["flat", "empty", "x", "partly"], DataContract())
    assert found == [
        "tax.csv: column(s) ['empty']: all 3 cells missing",
        "tax.csv: column(s) ['flat']: one value in all 3 rows (constant)",
    ]
    with pytest.raises(DataValidationError) as info:
        column_warnings(df, "tax.csv", ["flat", "empty", "x"], DataContract(on_constant="refuse"))
    assert info.value.public_message() == (
        "tax.csv: column(s) ['empty']: all 3 cells missing; "
        "column(s) ['flat']: one value in all 3 rows (constant)"
    )


def test_one_class_label_is_refused_without_naming_the_class() -> None:
    with pytest.raises(DataValidationError) as info:
        check_label_classes(np.ones(40, dtype=np.int8), "bank.csv", "default_12m", "rows")
    assert info.value.public_message() == (
        "bank.csv: label column 'default_12m': all 40 rows hold the same class"
    )
    check_label_classes(np.array([0, 1, 0]), "bank.csv", "default_12m", "rows")


# ---------------------------------------------------------------------------------------
# encodings


def test_gbk_file_loads_through_the_contract(tmp_path: Path) -> None:
    text = "id,行业,x\na,制造业,1\nb,批发,2\n"
    df = _load(tmp_path, text, file_encoding="gbk", contract=DataContract(encoding="gbk"))
    assert df["行业"].tolist() == ["制造业", "批发"]
    with pytest.raises(DataValidationError, match=r"not valid utf-8 text") as info:
        _load(tmp_path, text, file_encoding="gbk")
    assert 'encoding = "gbk"' in str(info.value.hint)


def test_unknown_encoding_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown text encoding 'klingon'"):
        DataContract(encoding="klingon")
    with pytest.raises(ConfigError, match="unknown text encoding"):
        _load(tmp_path, "id,x\na,1\n", encoding="klingon")


def test_contract_json_round_trip_and_malformed_text() -> None:
    c = DataContract.from_settings(
        encoding="gbk",
        max_abs=1e9,
        bounds={"b": 2.0, "a": 1.0},
        on_constant="refuse",
        categorical=["code"],
    )
    assert DataContract.from_json(c.to_json()) == c
    for bad in ("", "[]", "{", '{"colour": 1}', '{"max_abs": "x"}', '{"bounds": 3}'):
        with pytest.raises(ConfigError):
            DataContract.from_json(bad)
