"""Party-side data access: the party's validated table and its rows in the aligned order.

Every protocol reads its party's data through this module:

* :func:`setup_party` stores the run's public settings (ID column, label, feature list,
  seed, authorization mode, ...) from the coordinator's ``setup`` message in ``ctx.state``;
* :func:`load_table` reads and validates the party's file (``ctx.data_path``) and keeps it
  in an in-process cache keyed by path, modification time and size. The table never enters
  ``ctx.state`` (which the runtime persists to disk between messages). A party whose data
  is a folder of raw records computes the setup's registry indicators from them here, as of
  the setup's ``as_of`` (:mod:`federation.partyrecords`);
* after alignment, :func:`aligned_table` / :func:`aligned_matrix` give this party's rows
  in the agreed order (row ``i`` is the same enterprise at every party).

The setup carries the party's data contract (:class:`features.contract.DataContract`:
encoding, bounds, categorical columns, what to do with constant columns) from its
``[[parties]]`` table; every read of the party's files here applies it.
:func:`data_warnings` are the public facts a party reports about its table (names of
constant or all-missing feature columns, row counts), never a value.

Nothing leaves the party here: these functions only read local files and local state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crypto.errors import DataValidationError, ProtocolError
from features.contract import DataContract, column_warnings
from features.disclosure import DEFAULT_MIN_CELL, party_min_cell
from federation.cache import BoundedLRU
from federation.default_rule import apply_rule, rule_json
from federation.party import PartyContext
from federation.partyrecords import folder_fingerprint, read_records
from federation.receipts import keep_receipt
from federation.roles import PartyRole
from federation.run_auth import check_run_authorization
from federation.transport import MessageLog, Payload

if TYPE_CHECKING:
    from features.encoding import PartyMatrix

SETUP_KEY = "setup"
DATA_WARNINGS_KEY = "data_warnings"
ALIGNMENT_KEY = "alignment"
_CACHE_SIZE = 8


@dataclass(frozen=True)
class PartySetup:
    """Public settings of one run, as one party receives them in the ``setup`` message."""

    run_id: str
    role: str
    id_column: str
    id_kind: str = "opaque"  # "uscc" | "opaque"
    label: str = ""  # guest only
    features: tuple[str, ...] = ()  # () = every column besides the ID and the label
    seed: int = 0
    authorization: str = "none"  # "required" | "none"
    as_of: str = ""  # ISO date for authorization validity
    authorizations: str = ""  # guest only: the authorization table (its own file)
    cardinality_only: bool = False
    contract: DataContract = DataContract()  # the party's data contract
    # guest only, training: the sample (federation.population); locations are the guest's
    sample_ids: str = ""  # the sample's ID list ("" : every row of the table)
    date_column: str = "observation_date"  # observation date, in the ID list else the table
    observation_start: str = ""  # ISO dates of the observation window ("" : open)
    observation_end: str = ""
    validation_from: str = ""  # out-of-time validation from this ISO date ("" : random)
    # guest only: what counts as default (federation.default_rule JSON; "" : label is 0/1)
    default_rule: str = ""
    #: the platform's receipt of the audit chain head for this run (kept: federation.receipts)
    audit_receipt: str = ""
    #: the platform's signed authorization for this party (checked: federation.run_auth)
    run_authorization: str = ""

    @property
    def has_sample(self) -> bool:
        """Whether the setup restricts the guest's rows (an ID list or a window)."""
        return bool(
            self.sample_ids
            or self.observation_start
            or self.observation_end
            or self.validation_from
        )

    #: the run's k (features.disclosure); a party raises it to its own (:func:`party_k`)
    min_cell: int = DEFAULT_MIN_CELL

    def to_payload(self) -> Payload:
        d = asdict(self)
        d["features"] = list(self.features)
        if not d["features"]:
            del d["features"]  # an empty list has no element type on the wire
        d["contract"] = self.contract.to_json()
        return d

    @classmethod
    def from_payload(cls, payload: Payload) -> PartySetup:
        known = {k: payload[k] for k in cls.__dataclass_fields__ if k in payload}
        known["features"] = tuple(str(f) for f in known.get("features", ()) or ())
        known["seed"] = int(known.get("seed", 0))
        known["cardinality_only"] = bool(known.get("cardinality_only", False))
        contract = known.get("contract")
        known["contract"] = DataContract.from_json(str(contract)) if contract else DataContract()
        known["min_cell"] = int(known.get("min_cell", DEFAULT_MIN_CELL))
        missing = [k for k in ("run_id", "role", "id_column") if k not in known]
        if missing:
            raise ProtocolError(f"setup message lacks {missing}")
        return cls(**known)


def setup_party(ctx: PartyContext, payload: Payload) -> PartySetup:
    """Validate the coordinator's setup against this party and remember it in ``ctx.state``.

    A new setup forgets any earlier alignment of this party (a new run starts over).
    """
    setup = PartySetup.from_payload(payload)
    if setup.role != ctx.role.value:
        raise ProtocolError(
            f"party {ctx.name!r} is a {ctx.role.value} here but the setup calls it a {setup.role}"
        )
    if ctx.role == PartyRole.HOST and setup.label:
        raise ProtocolError(
            f"party {ctx.name!r} is a host but was sent the label column "
            f"{setup.label!r}; only the guest holds the label"
        )
    if ctx.role == PartyRole.HOST and (setup.has_sample or setup.default_rule):
        raise ProtocolError(
            f"party {ctx.name!r} is a host but was sent the guest's sample settings; "
            "only the guest holds the sample"
        )
    if ctx.data_path is None:
        raise DataValidationError(
            f"party {ctx.name!r} has no data file configured",
            hint="Name the party's `data` in its node config.",
        )
    check_run_authorization(
        ctx,
        setup.run_authorization,
        role=setup.role,
        columns=setup.features,
        label=setup.label,
        run_id=setup.run_id,
    )
    keep_receipt(ctx, setup.audit_receipt)
    ctx.state[SETUP_KEY] = setup
    ctx.state.pop(ALIGNMENT_KEY, None)
    return setup


def party_setup(ctx: PartyContext) -> PartySetup:
    """This run's setup at this party (raises when the setup message has not come yet)."""
    setup = ctx.state.get(SETUP_KEY)
    if not isinstance(setup, PartySetup):
        raise ProtocolError(f"party {ctx.name!r} got a protocol message before its setup")
    return setup


def party_k(ctx: PartyContext, requested: int | None = None) -> int:
    """k at this party for this run: the platform's, raised by the party's node config
    ``min-cell``, by the run's setup (when it came) and by ``requested``; a k the coordinator
    sends can only raise the party's own, never lower it."""
    setup = ctx.state.get(SETUP_KEY)
    run_k = setup.min_cell if isinstance(setup, PartySetup) else None
    return max(party_min_cell(ctx.node_config, run_k), int(requested or 0))


# ---------------------------------------------------------------------------------------
# the table, cached per process

#: Owner: this process (the party or parties it serves); key: the file's path, mtime and
#: size with the reading's settings; bound: :data:`_CACHE_SIZE` tables, least recently used dropped
#: first; :func:`clear_cache` empties it. A dropped table is read from the file again.
_TABLES: BoundedLRU[tuple[Any, ...], pd.DataFrame] = BoundedLRU(_CACHE_SIZE)
#: Owner: this process; key: a table's fingerprint, columns and contract; value: its
#: column warnings (public facts). Bound: :data:`_CACHE_SIZE` entries, like the tables.
_WARNINGS: BoundedLRU[tuple[Any, ...], tuple[str, ...]] = BoundedLRU(_CACHE_SIZE)


def file_fingerprint(path: Path) -> tuple[str, int, int]:
    """(path, mtime in ns, size): changes whenever the file is rewritten. A party's
    raw-record folder: :func:`federation.partyrecords.folder_fingerprint`."""
    if Path(path).is_dir():
        return folder_fingerprint(Path(path))
    try:
        st = path.stat()
    except OSError:
        raise DataValidationError(
            f"{path.name}: file not found at {path}", hint="Check the party's data path."
        ) from None
    return (str(path), st.st_mtime_ns, st.st_size)


def _cached(key: tuple[Any, ...], build: Any) -> pd.DataFrame:
    df = _TABLES.get(key)
    if df is None:
        df = build()
        _TABLES.put(key, df)
    return df


def read_validated(
    path: Path,
    *,
    id_column: str,
    label: str | None,
    id_kind: str,
    party: str | None = None,
    contract: DataContract | None = None,
) -> pd.DataFrame:
    """``load_party_table`` with the in-process cache (do not modify the returned frame)."""
    from features.validation import load_party_table

    contract = contract or DataContract()
    key = (*file_fingerprint(path), id_column, label, id_kind, party, contract)

    def build() -> pd.DataFrame:
        return load_party_table(
            path,
            id_column=id_column,
            label=label,
            id_kind=id_kind,  # type: ignore[arg-type]  # checked by the loader itself
            party=party,
            contract=contract,
        )

    return _cached(key, build)


def _label(ctx: PartyContext, setup: PartySetup) -> str | None:
    return (setup.label or None) if ctx.role == PartyRole.GUEST else None


def _records(path: Path, party: str, setup: PartySetup, label: str | None) -> pd.DataFrame:
    """A raw-record folder's indicator table as of the setup's date (cached)."""
    key = (
        *folder_fingerprint(path),
        "records",
        party,
        setup.id_column,
        label,
        setup.id_kind,
        setup.as_of,
        setup.features,
        setup.contract,
    )
    return _cached(
        key,
        lambda: read_records(
            path,
            party=party,
            id_column=setup.id_column,
            id_kind=setup.id_kind,
            label=label,
            as_of=setup.as_of,
            features=setup.features,
            contract=setup.contract,
        ),
    )


def _labelled(path: Path, setup: PartySetup, label: str | None, party: str) -> pd.DataFrame:
    """The validated table (a raw-record folder: its indicators computed here, as of the
    setup's date); at the guest with a default rule other than label_is_binary, its label
    column replaced by the 0/1 label the rule makes of it (here, at the bank)."""
    rule = rule_json(setup.default_rule) if label else ""  # validated here, at the bank
    if path.is_dir():
        df = _records(path, party, setup, None if rule else label)
    else:
        df = read_validated(
            path,
            id_column=setup.id_column,
            label=None if rule else label,
            id_kind=setup.id_kind,
            contract=setup.contract,
        )
    if not rule or label is None:
        return df
    key = (*file_fingerprint(path), "default_rule", label, rule, setup.id_kind, setup.contract)
    return _cached(key, lambda: df.assign(**{label: apply_rule(df, label, rule, path.name)}))


def load_table(ctx: PartyContext) -> pd.DataFrame:
    """This party's validated table: the ID column, the label (guest) and the features.
    A party whose data is a raw-record folder computes the setup's registry indicators
    from it here, as of the setup's date (:mod:`federation.partyrecords`).

    At the guest the label is the sample's default rule applied to its label column
    (:mod:`federation.default_rule`). Restricted to the setup's feature list when it names
    one. Cached in this process by path + mtime + size; callers must not modify the
    returned frame.
    """
    setup = party_setup(ctx)
    assert ctx.data_path is not None  # checked in setup_party
    label = _label(ctx, setup)
    path = Path(ctx.data_path)
    df = _labelled(path, setup, label, ctx.name)
    if setup.features:
        missing = [f for f in setup.features if f not in df.columns]
        if missing:
            raise DataValidationError(
                f"party {ctx.name!r}: feature column(s) {missing} named in the experiment are "
                f"not in {path.name}; its columns are {list(df.columns)}",
                hint="Fix [experiment].features in the experiment config.",
            )
        cols = [setup.id_column, *([label] if label else []), *setup.features]
        rule = setup.default_rule if label else ""  # the label a rule made of the column
        key = (
            *file_fingerprint(path),
            "features",
            tuple(cols),
            setup.id_kind,
            setup.contract,
            rule,
        )
        df = _cached(key, lambda: df[cols].copy())
    _table_warnings(path, df, setup, label)
    return df


def _table_warnings(
    path: Path, df: pd.DataFrame, setup: PartySetup, label: str | None
) -> tuple[str, ...]:
    """Constant / all-missing feature columns of ``df``: refused (the contract's
    ``on_constant = "refuse"``) or warned about, remembered per table."""
    key = (*file_fingerprint(path), "warnings", tuple(df.columns), setup.contract)
    found = _WARNINGS.get(key)
    if found is None:
        features = [c for c in df.columns if c not in (setup.id_column, label)]
        found = tuple(column_warnings(df, path.name, features, setup.contract))
        _WARNINGS.put(key, found)
    return found


def data_warnings(ctx: PartyContext) -> list[str]:
    """This party's public warnings about its table: constant and all-missing feature
    columns, by name and row count (no value)."""
    df = load_table(ctx)
    setup = party_setup(ctx)
    assert ctx.data_path is not None
    return list(_table_warnings(Path(ctx.data_path), df, setup, _label(ctx, setup)))


# ---------------------------------------------------------------------------------------
# the aligned order


@dataclass(frozen=True)
class AlignedRows:
    """Where this party's aligned rows are: positions into its validated table."""

    rows: np.ndarray  # int64 positions into load_table(ctx), in the agreed order
    fingerprint: tuple[str, int, int]


def store_alignment(ctx: PartyContext, rows: np.ndarray) -> None:
    """Remember this party's aligned row order (positions into its table) in ``ctx.state``."""
    assert ctx.data_path is not None
    ctx.state[ALIGNMENT_KEY] = AlignedRows(
        np.asarray(rows, dtype=np.int64).copy(), file_fingerprint(Path(ctx.data_path))
    )


def aligned_rows(ctx: PartyContext) -> np.ndarray:
    """Positions of the aligned rows in :func:`load_table` (the agreed order)."""
    al = ctx.state.get(ALIGNMENT_KEY)
    if not isinstance(al, AlignedRows):
        raise ProtocolError(
            f"party {ctx.name!r} has not been aligned in this run",
            hint="Run the alignment protocol first.",
        )
    assert ctx.data_path is not None
    if file_fingerprint(Path(ctx.data_path)) != al.fingerprint:
        raise ProtocolError(
            f"party {ctx.name!r}: its data file changed since alignment",
            hint="Run the experiment again on unchanged data.",
        )
    return al.rows


def is_aligned(ctx: PartyContext) -> bool:
    return isinstance(ctx.state.get(ALIGNMENT_KEY), AlignedRows)


def aligned_table(ctx: PartyContext) -> pd.DataFrame:
    """This party's rows in the agreed aligned order (index 0..n-1)."""
    return load_table(ctx).iloc[aligned_rows(ctx)].reset_index(drop=True)


def aligned_ids(ctx: PartyContext) -> np.ndarray:
    """The aligned IDs (the intersection, in the agreed order): the party's own values."""
    setup = party_setup(ctx)
    return load_table(ctx)[setup.id_column].to_numpy(dtype=object)[aligned_rows(ctx)]


def aligned_matrix(ctx: PartyContext, **encode: Any) -> PartyMatrix:
    """:func:`features.encoding.party_matrix` of the aligned table (``y`` at the guest).

    ``encode`` is passed to ``party_matrix`` (``categorical=``, ``max_onehot=``, ...).
    """
    from features.encoding import party_matrix

    setup = party_setup(ctx)
    label = _label(ctx, setup)
    return party_matrix(aligned_table(ctx), id_column=setup.id_column, label=label, **encode)


def warnings_field(ctx: PartyContext, extra: Sequence[str] = ()) -> Payload:
    """``{"data_warnings": JSON list}`` for a reply when this party has warnings (its
    table's and ``extra``), else {}."""
    found = [*data_warnings(ctx), *extra]
    return {DATA_WARNINGS_KEY: json.dumps(found, ensure_ascii=False)} if found else {}


def note_data_warnings(log: MessageLog, replies: Mapping[str, Payload]) -> None:
    """Coordinator side: file the parties' ``data_warnings`` reply fields in the run's log
    (metrics.json shows them)."""
    for party, payload in replies.items():
        raw = payload.get(DATA_WARNINGS_KEY)
        if not raw:
            continue
        try:
            found = json.loads(str(raw))
        except ValueError:
            raise ProtocolError(f"party {party!r}: its data warnings are not a JSON list") from None
        if not isinstance(found, list):
            raise ProtocolError(f"party {party!r}: its data warnings are not a JSON list")
        log.warn(party, [str(w) for w in found])


def clear_cache() -> None:
    """Forget every cached table (tests)."""
    _TABLES.clear()
    _WARNINGS.clear()


__all__ = [
    "ALIGNMENT_KEY",
    "AlignedRows",
    "DATA_WARNINGS_KEY",
    "PartySetup",
    "SETUP_KEY",
    "aligned_ids",
    "aligned_matrix",
    "aligned_rows",
    "aligned_table",
    "clear_cache",
    "data_warnings",
    "file_fingerprint",
    "is_aligned",
    "load_table",
    "note_data_warnings",
    "party_k",
    "party_setup",
    "read_validated",
    "setup_party",
    "store_alignment",
    "warnings_field",
]
