"""Message inspection for protocol tests: did any captured payload leak raw data?

Usage (any protocol's test)::

    transport = LocalTransport(parties, keep_payloads=True)
    ... run the protocol ...
    assert_no_leak(transport.log, {"bank": bank_df, "tax": tax_df}, intersection_ids)

Every payload in the log (requests and replies, after the same encoding as on the wire) is
checked for

* a plaintext numeric array (1-D, or a row/column of a 2-D array, or a list of numbers)
  equal to any party's column (raw numeric, locally encoded, or the label), or to a scaled,
  shifted, sign-flipped or permuted copy of one, over all its rows or over the intersection;
* any ID outside the intersection in a str/bytes value (whole values; IDs of 8 characters
  or more also inside longer text and inside bytes/uint8 arrays).

The matching logic is ``federation.guard``'s (the party-side guard uses the same code);
:func:`assert_no_leak` also runs ``naive_oracle``, which shares no code with the guard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from naive_oracle import naive_leaks

from federation.guard import IdScanner, column_index, numeric_vectors
from federation.transport import MessageLog


def _id_column(df: pd.DataFrame, id_column: str | None) -> str:
    if id_column is not None:
        return id_column
    for c in ("uscc", "id", "ID"):
        if c in df.columns:
            return c
    return str(df.columns[0])


def find_message_leaks(
    log: MessageLog,
    parties_raw: Mapping[str, pd.DataFrame],
    intersection_ids: Iterable[Any],
    *,
    id_column: str | None = None,
    row_sets: Mapping[str, Sequence[Any]] | None = None,
) -> list[str]:
    """Every finding as text: message number, direction, party, action, field, what."""
    if log.messages and not log.keep_payloads:
        raise AssertionError("the message log kept no payloads: use keep_payloads=True")
    inter = {str(i) for i in intersection_ids}
    tables = {p: (df, _id_column(df, id_column)) for p, df in parties_raw.items()}
    sets: dict[str, Sequence[Any]] = {"intersection": sorted(inter), **(row_sets or {})}
    index = column_index(tables, sets)
    all_ids: set[str] = set()
    for df, col in tables.values():
        all_ids |= set(df[col].astype(str))
    scanner = IdScanner(frozenset(all_ids - inter))
    lengths = index.lengths()

    findings: list[str] = []
    for n, m in enumerate(log.messages):
        where = f"message {n} ({m.direction} {m.party!r}, {m.action!r})"
        for key, value in m.payload.items():
            for vec in numeric_vectors(value, lengths):
                hit = index.match(vec)
                if hit is not None:
                    findings.append(f"{where}: field {key!r} is a plaintext copy of {hit}")
                    break
            k = scanner.count(value)
            if k:
                findings.append(f"{where}: field {key!r} holds {k} ID(s) outside the intersection")
    return findings


def assert_no_leak(
    log: MessageLog,
    parties_raw: Mapping[str, pd.DataFrame],
    intersection_ids: Iterable[Any],
    *,
    id_column: str | None = None,
    row_sets: Mapping[str, Sequence[Any]] | None = None,
) -> None:
    """Fail (AssertionError listing every finding) when any captured payload leaks.

    ``id_column``: the ID column of every table (default: ``uscc``, ``id`` or the first
    column). ``row_sets``: extra row subsets (name -> IDs) whose columns must not appear
    either, e.g. the training rows.
    """
    inter = [str(i) for i in intersection_ids]
    findings = find_message_leaks(log, parties_raw, inter, id_column=id_column, row_sets=row_sets)
    for party, df in parties_raw.items():  # the independent oracle, party by party
        findings += naive_leaks(log, {party: df}, inter, id_column=_id_column(df, id_column))
    if findings:
        raise AssertionError(
            f"{len(findings)} leak(s) in the captured messages:\n  " + "\n  ".join(findings[:50])
        )


__all__ = ["assert_no_leak", "find_message_leaks"]
