"""Data contracts: what one party's table must satisfy beyond parsing, and its settings.

A :class:`DataContract` holds one party's settings from its ``[[parties]]`` table in
experiment.toml (``encoding``, ``max_abs``, ``bounds``, ``on_constant``, ``categorical``);
:func:`features.validation.load_party_table` applies it while reading the party's CSV.
The checks here refuse, with a :class:`~crypto.errors.DataValidationError`:

* ragged rows: a line with fewer or more fields than the header (never NaN-filled);
* numbers written as text: a column whose cells are mostly numbers but written with
  thousands separators, currency signs or units (``44,704.75``), unless the column is
  declared categorical;
* non-finite values and absurd magnitudes: ``|x|`` above the column's bound
  (``bounds[column]``, else ``max_abs``, default :data:`DEFAULT_MAX_ABS`);
* constant and all-missing feature columns when ``on_constant = "refuse"`` (else they are
  reported as warnings, :func:`column_warnings`, which the run writes to its metrics);
* a label with one class only (:func:`check_label_classes`).

Nothing leaves the party: the checks are local. Messages and warnings name the file, the
column, line numbers (the first :data:`MAX_LINES_SHOWN`) and counts, never a cell's value,
so they may travel in a party's error reply or in the run's metrics.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from crypto.errors import ConfigError, DataValidationError

DEFAULT_MAX_ABS = 1e15
"""Default bound on ``|x|`` of every numeric cell (larger values are refused)."""
MAX_LINES_SHOWN = 5
OnConstant = Literal["warn", "refuse"]

#: numbers written for people: thousands separators (1,234.5 / 1.234,5 / 1 234 / 1'234;
#: full-width comma too), an optional currency sign before and a percent sign or a Chinese
#: amount unit after
_GROUPED = r"\d{1,3}(?:(?:[,，]\d{3})+(?:\.\d+)?|(?:\.\d{3})+,\d+|(?:[ '’]\d{3})+(?:[.,]\d+)?)"
_PLAIN = r"(?:\d+(?:[.,]\d*)?|[.,]\d+)"
_NUMBER_TEXT = re.compile(
    rf"^[+\-]?[¥￥$€£]?\s*(?:{_GROUPED}|{_PLAIN})\s*(?:%|元|万元|亿元|万|亿)?$"
)


def line_list(lines: Sequence[int] | np.ndarray) -> str:
    """'(lines 6, 10, 13, … 4 more)' for 1-based file line numbers."""
    arr = np.asarray(lines)
    n = int(arr.shape[0])
    shown = ", ".join(str(int(x)) for x in arr[:MAX_LINES_SHOWN])
    more = f", … {n - MAX_LINES_SHOWN} more" if n > MAX_LINES_SHOWN else ""
    return f"({'line' if n == 1 else 'lines'} {shown}{more})"


@dataclass(frozen=True)
class DataContract:
    """One party's data settings (hashable: a cache key of the loaded table).

    ``bounds`` is a sorted tuple of (column, bound) pairs; :meth:`from_settings` builds it
    from a mapping. ``categorical`` columns are kept as text (never numeric checks).
    """

    encoding: str = "utf-8"
    max_abs: float = DEFAULT_MAX_ABS
    bounds: tuple[tuple[str, float], ...] = ()
    on_constant: OnConstant = "warn"
    categorical: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_encoding(self.encoding)
        for what, value in [("max_abs", self.max_abs), *self.bounds]:
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(
                    f"data contract: bound of {what!r} must be a finite number > 0",
                    hint="Fix the party's `max_abs` / `bounds` in the experiment config.",
                )
        if self.on_constant not in ("warn", "refuse"):
            raise ConfigError(
                f"data contract: on_constant must be 'warn' or 'refuse', not {self.on_constant!r}"
            )

    @classmethod
    def from_settings(
        cls,
        *,
        encoding: str = "utf-8",
        max_abs: float = DEFAULT_MAX_ABS,
        bounds: Mapping[str, float] | None = None,
        on_constant: OnConstant = "warn",
        categorical: Sequence[str] = (),
    ) -> DataContract:
        return cls(
            encoding=encoding,
            max_abs=float(max_abs),
            bounds=tuple(sorted((str(k), float(v)) for k, v in (bounds or {}).items())),
            on_constant=on_constant,
            categorical=tuple(dict.fromkeys(str(c) for c in categorical)),
        )

    def bound(self, column: str) -> float:
        """The largest ``|x|`` allowed in ``column``."""
        return dict(self.bounds).get(column, self.max_abs)

    def to_json(self) -> str:
        """The contract as one JSON text (a setup message field; public settings only)."""
        return json.dumps(
            {
                "encoding": self.encoding,
                "max_abs": self.max_abs,
                "bounds": dict(self.bounds),
                "on_constant": self.on_constant,
                "categorical": list(self.categorical),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> DataContract:
        """Inverse of :meth:`to_json`; a malformed text raises :class:`ConfigError`."""
        try:
            raw: Any = json.loads(text)
            if not isinstance(raw, dict):
                raise TypeError("not an object")
            return cls.from_settings(**raw)
        except ConfigError:
            raise
        except (TypeError, ValueError, AttributeError):
            raise ConfigError(
                "the setup message's data contract is malformed",
                hint="Coordinator and parties must run the same lab version.",
            ) from None


def check_encoding(encoding: str) -> str:
    """``encoding`` when Python knows it, else :class:`ConfigError`."""
    try:
        codecs.lookup(str(encoding))
    except (LookupError, ValueError, TypeError):
        raise ConfigError(
            f"unknown text encoding {encoding!r}",
            hint="Use a Python codec name, e.g. utf-8, gbk or gb18030.",
        ) from None
    return str(encoding)


def _fail(name: str, what: str, hint: str) -> DataValidationError:
    return DataValidationError(f"{name}: {what}", hint=hint)


# ---------------------------------------------------------------------------------------
# file-level: every row as wide as the header


def check_row_widths(text: str, name: str) -> None:
    """Refuse lines with fewer or more fields than the header (blank lines are skipped).

    Line numbers are the file's own (a quoted field may span lines: its first line counts).
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    short: list[int] = []
    long: list[int] = []
    width = -1
    start = 1
    try:
        for record in reader:
            if record:
                if width < 0:
                    width = len(record)
                elif len(record) != width:
                    (short if len(record) < width else long).append(start)
            start = reader.line_num + 1
    except csv.Error:
        raise _fail(
            name,
            f"not a well-formed CSV table near line {start}",
            hint="Export the table again as CSV (comma-separated, quoted text).",
        ) from None
    if short or long:
        lines = sorted(short + long)
        raise _fail(
            name,
            f"{len(lines)} rows with another number of fields than the header's {width} "
            f"({len(short)} short, {len(long)} long) {line_list(lines)}",
            hint="Every line must have as many fields as the header; quote text that "
            "holds commas, and fill or drop incomplete rows in the file.",
        )


# ---------------------------------------------------------------------------------------
# column-level


def number_text(col: pd.Series) -> np.ndarray:
    """Which cells hold numbers written as text (separators, currency, units, decimal
    comma) that ``pd.to_numeric`` does not read."""
    s = col.astype("string").str.strip()
    return s.str.fullmatch(_NUMBER_TEXT).fillna(False).to_numpy(dtype=bool)


def check_number_text(
    col: pd.Series, name: str, column: str, parsed: np.ndarray, present: np.ndarray
) -> None:
    """Refuse a text column that is mostly numbers written for people (``44,704.75``).

    ``parsed``: cells ``pd.to_numeric`` read; ``present``: non-missing cells.
    """
    texty = present & ~parsed & number_text(col)
    if not texty.any() or (parsed | texty).sum() * 2 <= present.sum():
        return
    rows = np.flatnonzero(texty)
    raise _fail(
        name,
        f"column {column!r}: {rows.shape[0]} numbers written as text (thousands "
        f"separators, currency signs or units) {line_list(rows + 2)}",
        hint="Write plain numbers in the file (1234.5, not 1,234.5), or, if the "
        "column is a code and not an amount, declare it in the party's `categorical` list "
        "(`fedlab data validate --categorical COLUMN`).",
    )


def check_magnitude(vals: np.ndarray, name: str, column: str, bound: float) -> None:
    """Refuse infinite cells and cells with ``|x| > bound``."""
    with np.errstate(invalid="ignore"):
        inf = np.isinf(vals)
        big = np.isfinite(vals) & (np.abs(vals) > bound)
    if inf.any():
        rows = np.flatnonzero(inf)
        raise _fail(
            name,
            f"column {column!r}: {rows.shape[0]} infinite values {line_list(rows + 2)}",
            hint="Leave unknown cells empty; infinite values cannot be scaled.",
        )
    if big.any():
        rows = np.flatnonzero(big)
        raise _fail(
            name,
            f"column {column!r}: {rows.shape[0]} values with magnitude above {bound:g} "
            f"{line_list(rows + 2)}",
            hint="Fix the values in the file (a unit or export error?), or raise the "
            "column's bound in the party's `bounds` in the experiment config.",
        )


def column_warnings(
    df: pd.DataFrame, name: str, features: Sequence[str], contract: DataContract
) -> list[str]:
    """Warnings for constant and all-missing feature columns (public facts: names and
    counts); with ``on_constant = "refuse"`` the first finding is an error instead."""
    empty, constant = [], []
    for c in features:
        col = df[c]
        n_present = int(col.notna().sum())
        if n_present == 0:
            empty.append(c)
        elif n_present == len(col) and col.nunique(dropna=True) == 1:
            constant.append(c)
    out = []
    if empty:
        out.append(f"{name}: column(s) {empty}: all {len(df)} cells missing")
    if constant:
        out.append(f"{name}: column(s) {constant}: one value in all {len(df)} rows (constant)")
    if out and contract.on_constant == "refuse":
        raise _fail(
            name,
            "; ".join(o.removeprefix(f"{name}: ") for o in out),
            hint="Drop these columns from the file or from [experiment].features, or set "
            'the party\'s on_constant = "warn".',
        )
    return out


def check_label_classes(y: pd.Series | np.ndarray, name: str, label: str, what: str) -> None:
    """Refuse a 0/1 label that holds only one class (``what``: 'rows', 'sample rows')."""
    arr = np.asarray(y)
    if arr.size and np.unique(arr).size < 2:
        raise DataValidationError(
            f"{name}: label column {label!r}: all {arr.size} {what} hold the same class",
            hint="A model needs both goods (0) and bads (1); check the label's export "
            "or widen the sample.",
            detail=f"class {arr.flat[0]!r}",
        )


__all__ = [
    "DEFAULT_MAX_ABS",
    "DataContract",
    "MAX_LINES_SHOWN",
    "OnConstant",
    "check_encoding",
    "check_label_classes",
    "check_magnitude",
    "check_number_text",
    "check_row_widths",
    "column_warnings",
    "line_list",
    "number_text",
]
