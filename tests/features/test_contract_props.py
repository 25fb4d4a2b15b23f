"""Property tests for the party's CSV loader: random tables with ragged rows, numbers with
thousands separators, huge and infinite magnitudes, UTF-8 and GBK text. The loader either
returns exactly the numbers of the file or raises the coded DataValidationError whose
public message quotes no cell; never another exception."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.contract import DEFAULT_MAX_ABS, DataContract
from features.validation import NA_VALUES, load_party_table
from lab.errors import DataValidationError

_moderate = st.floats(-1e12, 1e12, allow_nan=False).map(repr) | st.integers(-(10**12), 10**12).map(
    str
)
_extreme = st.floats(allow_nan=False, allow_infinity=True).map(repr) | st.sampled_from(
    ["inf", "-inf", "1e308", "-1e308", "1e400", "1e15", "1.0000001e15", str(10**20)]
)
_number = st.one_of(*[_moderate] * 9, _extreme)
_grouped = st.integers(1000, 10**9).map(lambda n: f"{n:,}") | st.floats(1000, 1e9).map(
    lambda x: f"{x:,.2f}"
)
_text = st.text(st.sampled_from(list("abcxyz 制造业批发零售,\"'")), min_size=1, max_size=6)
_cell = st.one_of(_number, _number, _grouped, _text, st.just(""))


@st.composite
def _table(draw: st.DrawFn) -> tuple[list[str], list[list[str]], str]:
    n_cols = draw(st.integers(1, 4))
    header = ["id", *(f"c{j}" for j in range(n_cols))]
    # a column leans to one kind of cell, as real columns do
    kinds = [draw(st.sampled_from([_number, _grouped, _text, _cell])) for _ in range(n_cols)]
    rows = []
    ragged = draw(st.sampled_from([False, False, False, True]))
    for i in range(draw(st.integers(1, 8))):
        row = [f"r{i}", *(draw(k) for k in kinds)]
        shape = draw(st.sampled_from(["ok", "ok", "short", "long"])) if ragged else "ok"
        if shape == "short":
            row = row[: draw(st.integers(1, len(row) - 1))]
        elif shape == "long":
            row = row + [draw(_cell) for _ in range(draw(st.integers(1, 2)))]
        rows.append(row)
    return header, rows, draw(st.sampled_from(["utf-8", "gbk"]))


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _check_loaded(df: pd.DataFrame, header: list[str], rows: list[list[str]]) -> None:
    """What loaded is exactly what the file says."""
    assert all(len(r) == len(header) for r in rows)  # a ragged file never loads
    assert list(df.columns) == header and len(df) == len(rows)
    assert df["id"].tolist() == [r[0] for r in rows]
    for j, c in enumerate(header[1:], start=1):
        cells = [r[j] for r in rows]
        col = df[c]
        if pd.api.types.is_numeric_dtype(col):
            for cell, got in zip(cells, col.to_numpy(dtype=float, na_value=np.nan), strict=True):
                if cell.strip() in NA_VALUES:
                    assert math.isnan(got)
                else:
                    assert got == float(cell), (cell, got)  # exactly the file's number
                    assert abs(got) <= DEFAULT_MAX_ABS
        else:
            present = [x for x in cells if x not in NA_VALUES]
            assert [x for x in col.tolist() if isinstance(x, str)] == present


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(_table())
def test_loader_loads_exactly_the_numbers_or_raises_the_coded_error(
    tmp_path: Path, table: tuple[list[str], list[list[str]], str]
) -> None:
    header, rows, encoding = table
    path = tmp_path / "party.csv"
    path.write_bytes(_csv(header, rows).encode(encoding))
    try:
        df = load_party_table(
            path, id_column="id", id_kind="opaque", contract=DataContract(encoding=encoding)
        )
    except DataValidationError as exc:
        public = exc.public_message()
        assert exc.code == "FEDLAB-200" and public.startswith("party.csv: ") and exc.hint
        quoted = {x for r in rows for x in r[1:] if len(x) >= 4} - {*header, "line", "lines"}
        assert not [x for x in quoted if x in public], public  # no cell crosses
        return
    _check_loaded(df, header, rows)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_grouped, min_size=1, max_size=6), st.sampled_from(["utf-8", "gbk"]))
def test_a_column_of_separated_numbers_is_always_refused(
    tmp_path: Path, cells: list[str], encoding: str
) -> None:
    path = tmp_path / "party.csv"
    rows = [[f"r{i}", c] for i, c in enumerate(cells)]
    path.write_bytes(_csv(["id", "amount"], rows).encode(encoding))
    try:
        load_party_table(
            path, id_column="id", id_kind="opaque", contract=DataContract(encoding=encoding)
        )
    except DataValidationError as exc:
        assert "column 'amount'" in exc.public_message()
        assert "numbers written as text" in exc.public_message() or "non-numeric" in str(exc)
        return
    # only a column whose every cell is a plain number may load ("1000" has no separator)
    assert all("," not in c for c in cells)
