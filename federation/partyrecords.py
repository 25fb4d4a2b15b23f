"""A party's indicator table computed at the party from its raw records, as of the run's
observation date.

A party's data may be a folder of raw-record tables instead of one table: the files
``records_<table>.csv`` of the tables it keeps (``features.indicators.TABLES``: a bank's
monthly flows and transactions, the tax bureau's filings and statements, social insurance's
and the housing fund's contributions, the utilities' bills, the courts' cases, market
regulation's events, registrations and complaints), and at a bank that trains (the guest)
``labels.csv``: one row per enterprise of the bank's book with its label column. When the
run's setup names registry indicators (``features.indicators.REGISTRY``) as the party's
features, :func:`read_records` validates the party's record files
(``features.validation.load_record_table``) and computes those indicators with
``features.indicators.compute_party`` as of the setup's ``as_of`` (the sample's observation
date): records dated after it are never read, so no later record changes a value.

Which enterprises: at a host every enterprise with a record on or before the date; at the
guest the enterprises of ``labels.csv`` (one with no record gets the indicator's default,
else a missing value). The table then goes through the same alignment, sample and
authorization rules as any table.

Revealed to whom: nothing leaves the party here. The coordinator sends indicator codes and
a date; the records, the computed values and the file names stay at the party. An error
names the party, the file and the column, never a value (values stay in the error's
detail, at the party).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from crypto.errors import DataValidationError
from features.contract import DataContract
from features.indicators import REGISTRY, compute_party, owner_key, tables_of

LABELS_FILE = "labels.csv"
RECORD_PREFIX = "records_"


def record_path(folder: Path, table: str) -> Path:
    """Where a record table lives in a party's folder."""
    return folder / f"{RECORD_PREFIX}{table}.csv"


def folder_fingerprint(folder: Path) -> tuple[str, int, int]:
    """(folder, a digest of every record file's name, mtime and size, their total size):
    changes whenever a record file or the labels are added, removed or rewritten."""
    if not folder.is_dir():
        raise DataValidationError(
            f"{folder.name}: folder not found at {folder}", hint="Check the party's data path."
        )
    h = hashlib.blake2b(digest_size=8)
    total = 0
    files = sorted(folder.glob(f"{RECORD_PREFIX}*.csv")) + [folder / LABELS_FILE]
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        h.update(f"{f.name}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
        total += st.st_size
    return (str(folder), int.from_bytes(h.digest(), "big") >> 1, total)


def _codes(party: str, folder: Path, features: tuple[str, ...]) -> list[str]:
    """The registry indicators the run asks of this party (default: every one whose table
    the folder holds); each must be one of the party's and its table must be there."""
    mine = {i.code for i in REGISTRY.values() if i.owner == owner_key(party)}
    if not features:
        return [c for c in sorted(mine) if record_path(folder, REGISTRY[c].table).is_file()]
    unknown = [f for f in features if f not in REGISTRY]
    if unknown:
        raise DataValidationError(
            f"party {party!r}: its data is a raw-record folder ({folder.name}) and "
            f"{unknown} are not registry indicators",
            hint="Name indicators of the registry (`fedlab lab indicators list --family "
            "registry`), or give the party a table with those columns.",
        )
    foreign = [f for f in features if f not in mine]
    if foreign:
        raise DataValidationError(
            f"party {party!r}: indicator(s) {foreign} are not {owner_key(party)!r}'s",
            hint="Each indicator is computed by its owner.",
        )
    return list(features)


def read_records(
    folder: Path,
    *,
    party: str,
    id_column: str,
    id_kind: str,
    label: str | None,
    as_of: str,
    features: tuple[str, ...],
    contract: DataContract,
) -> pd.DataFrame:
    """This party's indicator table from its record folder, as of ``as_of``: the ID
    column, at the guest the label (from ``labels.csv``) and one column per indicator."""
    from features.validation import IdKind, load_party_table, load_record_table

    if not as_of:
        raise DataValidationError(
            f"party {party!r}: its data is a raw-record folder ({folder.name}) but the run "
            "names no observation date to compute its indicators as of",
            hint="Set [experiment].as_of (the lab sets it from the sample's observation end).",
        )
    codes = _codes(party, folder, features)
    needed = sorted({REGISTRY[c].table for c in codes})
    missing = [record_path(folder, t).name for t in needed if not record_path(folder, t).is_file()]
    if missing or not codes:
        raise DataValidationError(
            f"party {party!r}: {folder.name} lacks the record file(s) "
            f"{missing or [record_path(folder, t).name for t in tables_of(party)]}",
            hint="Export the party's raw records as records_<table>.csv (docs/indicators.md).",
        )
    kind: IdKind = "uscc" if id_kind == "uscc" else "opaque"
    tables = {
        t: load_record_table(
            record_path(folder, t), t, id_column=id_column, id_kind=kind, contract=contract
        )
        for t in needed
    }
    labels = None
    if label is not None:
        labels = load_party_table(
            folder / LABELS_FILE,
            id_column=id_column,
            label=label,
            id_kind=kind,
            contract=contract,
            allow_label_only=True,
        )
    ids = None if labels is None else labels[id_column].to_numpy(dtype=object)
    out = compute_party(party, tables, as_of, codes=codes, ids=ids)
    out = out.rename(columns={"uscc": id_column})
    if labels is not None:
        out = labels.merge(out, on=id_column, how="left", validate="one_to_one")
    return out


__all__ = [
    "LABELS_FILE",
    "RECORD_PREFIX",
    "folder_fingerprint",
    "read_records",
    "record_path",
]
