"""Load-time validation of one party's table.

:func:`load_party_table` reads a CSV at the party and either returns a clean DataFrame or
raises one :class:`~crypto.errors.DataValidationError` whose message names the file, the
column, what is wrong and how many rows (with the first line numbers; line 1 is the header).
It never writes anything.

Encoding: UTF-8 (a byte-order mark is accepted). Files exported as GBK/GB18030 must be
loaded with ``encoding="gbk"`` (the party's ``encoding`` in experiment.toml, CLI
``--encoding gbk``); we do not guess, because a wrong guess silently corrupts Chinese text.

The party's :class:`~features.contract.DataContract` adds the data contract: no ragged
rows, no numbers written as text, no infinite or absurdly large numbers, declared
categorical columns kept as text (:mod:`features.contract`).

Nothing leaves the party: validation is local. Error messages carry file and column
names, counts and line numbers only. The first offending value (an invalid ID, label,
number or date: the party's own data, useful to its own operator) is the error's
``detail``: ``str(exc)`` shows it, :meth:`~crypto.errors.LabError.public_message` does not, and
a party's error reply to the coordinator carries the public message only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from crypto.errors import DataValidationError
from features.contract import (
    DataContract,
    check_encoding,
    check_magnitude,
    check_number_text,
    check_row_widths,
    line_list,
)
from features.synth import AGENCIES, AUTHORIZATION_COLUMNS, party_columns
from features.uscc import classify_usccs

IdKind = Literal["uscc", "opaque"]
NA_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]
"""Cells read as missing."""


def _lines(rows: np.ndarray) -> str:
    """'lines 6, 10, 13' for 0-based data rows (line 1 is the header)."""
    return line_list(np.asarray(rows) + 2)


def _fail(
    name: str, what: str, *, hint: str | None = None, detail: str | None = None
) -> DataValidationError:
    return DataValidationError(f"{name}: {what}", hint=hint, detail=detail)


def _first(value: object) -> str:
    """The error detail quoting the first offending raw value (kept at the party)."""
    return f"first: {value!r}"


def _read_text(path: Path, encoding: str) -> str:
    name = path.name
    if not path.exists():
        raise _fail(name, f"file not found at {path}", hint="Check the path and the file name.")
    if not path.is_file():
        raise _fail(name, f"{path} is not a file")
    check_encoding(encoding)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _fail(
            name, f"cannot read the file: {exc.strerror}", hint="Check the file's permissions."
        ) from None
    if not raw.strip():
        raise _fail(
            name,
            "the file is empty (no header, no rows)",
            hint="Export the table again with a header line and its rows.",
        )
    try:
        return raw.decode(
            "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
        )
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _fail(
            name,
            f"not valid {encoding} text: undecodable byte 0x{raw[exc.start]:02x} at byte "
            f"{exc.start} (line {line})",
            hint="Save the file as UTF-8, or, for a GBK export, set the party's "
            'encoding = "gbk" in the experiment config (`fedlab data validate --encoding gbk`).',
        ) from None


def _parse(text: str, name: str, string_columns: Sequence[str]) -> pd.DataFrame:
    header = next(csv.reader(io.StringIO(text)), [])
    header = [h.strip() for h in header]
    if not any(header):
        raise _fail(name, "the first line is empty; expected a header with column names")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise _fail(name, f"header names column(s) {dupes} more than once")
    if "" in header:
        raise _fail(name, f"header has an unnamed column at position {header.index('') + 1}")
    check_row_widths(text, name)
    dtype = {c: str for c in string_columns if c in header}
    try:
        df = pd.read_csv(
            io.StringIO(text),
            dtype=dtype,
            keep_default_na=False,
            na_values=NA_VALUES,
            skipinitialspace=False,
            float_precision="round_trip",
            index_col=False,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise _fail(
            name,
            f"not a well-formed CSV table: {exc}",
            hint="Every line must have as many fields as the header.",
        ) from None
    df.columns = header
    return df


def _require_rows(df: pd.DataFrame, name: str) -> None:
    if len(df) == 0:
        raise _fail(name, "header only, no data rows", hint="Export the table with its rows.")


def read_table(path: str | Path, *, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a CSV with only the file-level checks of :func:`load_party_table`: the file
    exists, is not empty, decodes, has unique column names, every line is as wide as the
    header and at least one data row follows. For tables without an ID column (public files
    keyed by row number); column checks are the caller's. Raises
    :class:`~crypto.errors.DataValidationError` naming the file."""
    path = Path(path)
    df = _parse(_read_text(path, encoding), path.name, [])  # every line as wide as the header
    _require_rows(df, path.name)
    return df


def _check_ids(
    df: pd.DataFrame, name: str, id_column: str, id_kind: IdKind, *, also_key: str | None = None
) -> pd.Series:
    """Empty, malformed and duplicate IDs. With ``also_key`` (authorization tables, one row
    per enterprise and bank), duplicates are checked on the pair (ID, ``also_key``)."""
    ids = df[id_column]
    empty = ids.isna().to_numpy() | (ids.fillna("").astype(str).str.strip() == "").to_numpy()
    if empty.any():
        rows = np.flatnonzero(empty)
        raise _fail(name, f"column {id_column!r}: {rows.shape[0]} empty IDs {_lines(rows)}")
    ids = ids.astype(str)
    if id_kind == "uscc":
        well_formed, check_ok = classify_usccs(ids.to_numpy(dtype=object))
        if not well_formed.all():
            rows = np.flatnonzero(~well_formed)
            raise _fail(
                name,
                f"column {id_column!r}: {rows.shape[0]} malformed USCCs (need 18 characters "
                f"from 0-9 and A-Y without I O Z S V, upper case) {_lines(rows)}",
                hint="Correct the IDs, or use --id-kind opaque if this column is not a USCC.",
                detail=_first(ids.iloc[rows[0]]),
            )
        if not check_ok.all():
            rows = np.flatnonzero(~check_ok)
            raise _fail(
                name,
                f"column {id_column!r}: {rows.shape[0]} USCCs with a wrong check character "
                f"{_lines(rows)}",
                hint="The 18th character must match GB 32100-2015; the ID was mistyped.",
                detail=_first(ids.iloc[rows[0]]),
            )
    key = ids if also_key is None else ids + "\x00" + df[also_key].fillna("").astype(str)
    dup = key.duplicated(keep="first").to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        cols = repr(id_column) if also_key is None else f"{id_column!r}+{also_key!r}"
        raise _fail(
            name,
            f"column {cols}: {rows.shape[0]} duplicate IDs {_lines(rows)}",
            hint="Each ID must appear once; remove or merge the repeated rows.",
        )
    return ids


def _check_label(
    df: pd.DataFrame, name: str, label: str, label_map: Mapping[object, int] | None
) -> pd.Series:
    col = df[label]
    missing = col.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)
        raise _fail(
            name,
            f"label column {label!r}: {rows.shape[0]} missing values {_lines(rows)}",
            hint="Every sample needs a label; drop unlabeled rows.",
        )
    if label_map is not None:
        mapped = col.map(lambda v: label_map.get(v, label_map.get(str(v).strip())))
        bad = mapped.isna().to_numpy()
        if bad.any():
            rows = np.flatnonzero(bad)
            raise _fail(
                name,
                f"label column {label!r}: {rows.shape[0]} values outside "
                f"{sorted(map(str, label_map))} {_lines(rows)}",
                detail=_first(col.iloc[rows[0]]),
            )
        return mapped.astype(np.int8)
    num = pd.to_numeric(col, errors="coerce")
    bad = ~np.isin(num.to_numpy(dtype=float, na_value=np.nan), (0.0, 1.0))
    if bad.any():
        rows = np.flatnonzero(bad)
        values = sorted({str(v) for v in col.iloc[rows].tolist()})[:5]
        raise _fail(
            name,
            f"label column {label!r}: {rows.shape[0]} values other than 0/1 {_lines(rows)}",
            hint="The label must be 0 (good) or 1 (bad/default).",
            detail=f"found {', '.join(values)}",
        )
    return num.astype(np.int8)


def _check_numeric(
    df: pd.DataFrame, name: str, columns: Sequence[str], declared: bool, contract: DataContract
) -> None:
    """Coerce numeric columns in place; an undeclared text column with mostly numbers is
    treated as numeric with bad cells, one with mostly numbers written as text is refused.
    Every numeric column is held to the contract's bounds."""
    for c in columns:
        col = df[c]
        if pd.api.types.is_bool_dtype(col):
            df[c] = col.astype(np.int8)
            continue
        if pd.api.types.is_numeric_dtype(col):
            vals = col.to_numpy(dtype=float, na_value=np.nan)
        else:
            present = col.notna().to_numpy()
            num = pd.to_numeric(col, errors="coerce")
            bad = present & num.isna().to_numpy()
            if not declared and bad.sum() > 0.5 * max(present.sum(), 1):
                check_number_text(col, name, c, present & ~bad, present)
                continue  # a text (categorical) column
            if bad.any():
                rows = np.flatnonzero(bad)
                raise _fail(
                    name,
                    f"column {c!r}: {rows.shape[0]} non-numeric values in a "
                    f"numeric column {_lines(rows)}",
                    hint="Remove units and thousands separators; leave missing cells empty.",
                    detail=_first(col.iloc[rows[0]]),
                )
            df[c] = num
            vals = num.to_numpy(dtype=float, na_value=np.nan)
        check_magnitude(vals, name, c, contract.bound(c))


def _check_dates(df: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    for c in columns:
        col = df[c]
        parsed = pd.to_datetime(col, format="%Y-%m-%d", errors="coerce")
        bad = col.notna().to_numpy() & parsed.isna().to_numpy()
        if bad.any():
            rows = np.flatnonzero(bad)
            raise _fail(
                name,
                f"column {c!r}: {rows.shape[0]} values that are not ISO dates "
                f"YYYY-MM-DD {_lines(rows)}",
                detail=_first(col.iloc[rows[0]]),
            )


def _schema(party: str | None) -> tuple[list[str], list[str], list[str], list[str]]:
    """(required, numeric, date, text) columns of a known synthetic party."""
    if party is None:
        return [], [], [], []
    cols = AUTHORIZATION_COLUMNS if party == "authorizations" else party_columns(party)
    required = [c.name for c in cols if c.kind != "id"]
    numeric = [c.name for c in cols if c.kind in ("int", "float", "label")]
    dates = [c.name for c in cols if c.kind == "date"]
    text = [c.name for c in cols if c.kind in ("category", "date")]
    return required, numeric, dates, text


def _require_columns(
    df: pd.DataFrame, name: str, id_column: str, label: str | None, wanted: Sequence[str]
) -> None:
    """The ID column, the label (when given) and every ``wanted`` column are present."""
    if id_column not in df.columns:
        raise _fail(
            name,
            f"ID column {id_column!r} not found; columns are {list(df.columns)}",
            hint="Pass the right --id-column.",
        )
    if label is not None and label not in df.columns:
        raise _fail(name, f"label column {label!r} not found; columns are {list(df.columns)}")
    missing_cols = [c for c in dict.fromkeys(wanted) if c not in df.columns]
    if missing_cols:
        raise _fail(
            name, f"required column(s) {missing_cols} not found; columns are {list(df.columns)}"
        )


def load_party_table(
    path: str | Path,
    *,
    id_column: str,
    label: str | None = None,
    id_kind: IdKind = "uscc",
    required_columns: Sequence[str] | None = None,
    party: str | None = None,
    label_map: Mapping[object, int] | None = None,
    encoding: str | None = None,
    contract: DataContract | None = None,
    allow_label_only: bool = False,
) -> pd.DataFrame:
    """Read and validate one party's CSV; return it with clean dtypes.

    - ``id_column`` must exist, hold no empty and no duplicate IDs; with ``id_kind="uscc"``
      every ID must be a well-formed USCC with the right check character. IDs are returned
      as ``str``.
    - ``label`` (guest only) must exist and hold only 0/1 (or keys of ``label_map``); it is
      returned as ``int8``.
    - ``required_columns`` must exist. ``party`` names a synthetic party ("bank", "tax", …,
      "authorizations", or any bank name): its documented columns become required and typed
      (numbers numeric, dates ISO).
    - Columns that hold mostly numbers must hold only numbers (the first bad cell is the
      error's ``detail``); mostly numbers written as text (``44,704.75``) are refused.
    - ``contract`` (default :class:`~features.contract.DataContract`): every line as wide
      as the header; numbers finite and within the column's bound; its ``categorical``
      columns kept as text; its ``encoding`` unless ``encoding`` is given.
    - At least one feature column (not the ID, not the label) must remain, unless
      ``allow_label_only`` (a bank's ``labels.csv`` beside its raw records).

    Raises :class:`~crypto.errors.DataValidationError` on the first problem found.
    """
    path = Path(path)
    name = path.name
    if id_kind not in ("uscc", "opaque"):
        raise DataValidationError(f"id_kind must be 'uscc' or 'opaque', got {id_kind!r}")
    req, numeric, dates, text = _schema(party)
    if party is not None and label is None and party not in (*AGENCIES, "authorizations"):
        label = "default_12m"
    contract = contract or DataContract()
    text = [*text, *contract.categorical]
    text_cols = [c for c in text if c != label]
    df = _parse(_read_text(path, encoding or contract.encoding), name, [id_column, *text_cols])
    _require_columns(df, name, id_column, label, [*req, *(required_columns or [])])
    _require_rows(df, name)
    features = [c for c in df.columns if c not in (id_column, label)]
    if party == "authorizations":
        features = [c for c in features if c != "bank"]
    if not features and party != "authorizations" and not (allow_label_only and label):
        raise _fail(
            name,
            f"no feature columns: only {list(df.columns)}",
            hint="A party table needs at least one column besides the ID and label.",
        )
    df[id_column] = _check_ids(
        df, name, id_column, id_kind, also_key="bank" if party == "authorizations" else None
    )
    if label is not None:
        df[label] = _check_label(df, name, label, label_map)
    _check_columns(df, name, features, (numeric, text, dates), contract)
    if party == "authorizations":
        _check_grants(df, name)
    return df


def _check_columns(
    df: pd.DataFrame,
    name: str,
    features: Sequence[str],
    kinds: tuple[Sequence[str], Sequence[str], Sequence[str]],
    contract: DataContract,
) -> None:
    """Type the feature columns in place: (numeric, text, date) columns of the schema."""
    numeric, text, dates = kinds
    declared = set(numeric) - set(contract.categorical)
    _check_numeric(df, name, [c for c in features if c in declared], True, contract)
    undeclared = [c for c in features if c not in declared and c not in text]
    _check_numeric(df, name, undeclared, False, contract)
    _check_dates(df, name, dates)


def load_record_table(
    path: str | Path,
    table: str,
    *,
    id_column: str = "uscc",
    id_kind: IdKind = "uscc",
    contract: DataContract | None = None,
) -> pd.DataFrame:
    """Read and validate one raw-record table (``records_<table>.csv``, the tables of
    ``features.indicators.TABLES``): many rows per enterprise, so IDs repeat, but none is
    empty or malformed; every documented column is present; dates are ISO dates, numbers
    are numbers within the contract's bounds (never numbers written as text), codes stay
    text; every line is as wide as the header. Raises
    :class:`~crypto.errors.DataValidationError` naming the file and the column."""
    from features.indicators.spec import TABLES

    path = Path(path)
    name = path.name
    spec = TABLES.get(table)
    if spec is None:
        raise DataValidationError(
            f"{name}: {table!r} is not a raw-record table",
            hint=f"The record tables are {sorted(TABLES)} (docs/indicators.md).",
        )
    contract = contract or DataContract()
    text_cols = [id_column, *spec.text_columns, *spec.date_columns]
    df = _parse(_read_text(path, contract.encoding), name, text_cols)
    wanted = [c for c in spec.columns if c != "uscc"]
    _require_columns(df, name, id_column, None, wanted)
    _require_rows(df, name)
    ids = df[id_column]
    empty = ids.isna().to_numpy() | (ids.fillna("").astype(str).str.strip() == "").to_numpy()
    if empty.any():
        rows = np.flatnonzero(empty)
        raise _fail(name, f"column {id_column!r}: {rows.shape[0]} empty IDs {_lines(rows)}")
    if id_kind == "uscc":
        distinct = pd.Series(ids.astype(str).unique())
        _check_ids(pd.DataFrame({id_column: distinct}), name, id_column, "uscc")
    df[id_column] = ids.astype(str)
    _check_numeric(df, name, list(spec.numeric_columns), True, contract)
    _check_dates(df, name, list(spec.date_columns))
    if id_column != "uscc":
        df = df.rename(columns={id_column: "uscc"})
    return df


def _check_grants(df: pd.DataFrame, name: str) -> None:
    bad = (df["expires_on"] < df["granted_on"]).to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)
        raise _fail(
            name,
            f"columns 'granted_on'/'expires_on': {rows.shape[0]} "
            f"authorizations expire before they were granted {_lines(rows)}",
        )


def summarize(df: pd.DataFrame, *, id_column: str) -> pd.DataFrame:
    """Aggregates only: per column its type, missing share and distinct count."""
    rows = []
    for c in df.columns:
        col = df[c]
        kind = (
            "id"
            if c == id_column
            else ("numeric" if pd.api.types.is_numeric_dtype(col) else "text")
        )
        rows.append(
            {
                "column": c,
                "type": kind,
                "missing_share": float(col.isna().mean()),
                "distinct": int(col.nunique(dropna=True)),
            }
        )
    return pd.DataFrame(rows)


__all__ = [
    "IdKind",
    "NA_VALUES",
    "load_party_table",
    "load_record_table",
    "read_table",
    "summarize",
]
