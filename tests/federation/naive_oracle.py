"""An independent, deliberately naive leak oracle for message-inspection tests.

``leakcheck`` matches with ``federation.guard``'s own code, so a bug in the guard's
matcher would hide from both. This oracle shares nothing with the guard: it walks every
payload value by hand and looks for

* IDs outside the intersection, by brute force: every run of ID-alphabet characters in a
  str/bytes value (bytes read as latin-1), every window of an ID's length inside it, looked
  up in the set of outside IDs;
* plaintext copies of a party's numeric column or label: a 1-D vector, or a row/column of
  a 2-D array, whose *sorted* values are an affine image (a x + b, a != 0, either sign) of
  the column's sorted values over all its rows or over the intersection — that covers
  scaled, shifted, sign-flipped and permuted copies.

Slow and simple on purpose; the tests use it beside ``leakcheck`` on the same logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from federation.transport import MessageLog

_RUN = re.compile(r"[0-9A-Za-z]{8,}")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes | bytearray | memoryview):
        yield bytes(value).decode("latin-1")
    elif isinstance(value, np.ndarray) and value.dtype.kind in "USO":
        for v in value.ravel().tolist():
            yield from _strings(v)
    elif isinstance(value, np.ndarray) and value.dtype == np.uint8:
        yield value.tobytes().decode("latin-1")
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _vectors(value: Any) -> Iterator[np.ndarray]:
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        yield np.asarray(value, dtype=np.float64)
    elif isinstance(value, np.ndarray) and value.dtype.kind in "iuf" and value.dtype != np.uint8:
        a = value.astype(np.float64)
        if a.ndim == 1:
            yield a
        elif a.ndim == 2:
            yield from a
            yield from a.T


def _affine_copy(vec: np.ndarray, col: np.ndarray) -> bool:
    if vec.size != col.size or vec.size < 3 or not np.all(np.isfinite(vec)):
        return False
    x, y = np.sort(col), np.sort(vec)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return False
    for xs in (x, np.sort(-col)):
        a, b = np.polyfit(xs, y, 1)
        if abs(a) > 0 and np.max(np.abs(a * xs + b - y)) <= 1e-9 * max(1.0, np.max(np.abs(y))):
            return True
    return False


def naive_leaks(
    log: MessageLog,
    parties_raw: Mapping[str, pd.DataFrame],
    intersection_ids: Iterable[Any],
    *,
    id_column: str = "uscc",
) -> list[str]:
    """Every finding as text (message number, field, what); empty when nothing leaked."""
    inter = {str(i) for i in intersection_ids}
    outside: set[str] = set()
    columns: list[tuple[str, np.ndarray]] = []
    for party, df in parties_raw.items():
        ids = df[id_column].astype(str)
        outside |= set(ids) - inter
        in_inter = ids.isin(inter).to_numpy()
        for c in df.columns:
            if c == id_column or not pd.api.types.is_numeric_dtype(df[c]):
                continue
            full = df[c].to_numpy(dtype=np.float64)
            if np.all(np.isfinite(full)):
                columns.append((f"{party}.{c}", full))
            sub = full[in_inter]
            if sub.size and np.all(np.isfinite(sub)):
                columns.append((f"{party}.{c} (intersection)", sub))
    lengths = sorted({len(i) for i in outside})
    findings: list[str] = []
    for n, m in enumerate(log.messages):
        for key, value in m.payload.items():
            where = f"message {n} ({m.direction} {m.party!r}, {m.action!r}) field {key!r}"
            hits = set()
            for text in _strings(value):
                for run in _RUN.findall(text):
                    for k in lengths:
                        hits |= {run[i : i + k] for i in range(len(run) - k + 1)} & outside
            if hits:
                findings.append(f"{where}: {len(hits)} ID(s) outside the intersection")
            for vec in _vectors(value):
                name = next((nm for nm, col in columns if _affine_copy(vec, col)), None)
                if name is not None:
                    findings.append(f"{where}: a plaintext copy of {name}")
                    break
    return findings


__all__ = ["naive_leaks"]
