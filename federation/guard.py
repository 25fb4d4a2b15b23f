"""Privacy guard: the last check on every reply before it leaves its party.

The runtimes (Flower ClientApp and LocalTransport) call :func:`check_outgoing` on each
handler's reply payload. It raises :class:`~crypto.errors.PrivacyViolationError` (and the reply
is not sent) when a payload value is

1. a plaintext numeric array equal to one of this party's columns (raw or encoded feature,
   or the label) or to a scaled, shifted, sign-flipped or permuted copy of one, over all its
   rows or over its aligned rows (1-D arrays, and each row/column of 2-D arrays);
2. text or bytes holding one of this party's raw IDs (its table's, and those a handler put
   in ``ctx.cache[EXTRA_IDS_KEY]``, e.g. a sample's ID list), except aligned (intersection)
   IDs in a field that the protocol step declared with :func:`declare_plain_ids`.

Ciphertexts are not examined as numbers: arrays of raw bytes (``uint8`` 2-D, ``S``/``V``
dtypes) and ``bytes`` values are only scanned for IDs.

How it compares: an array and a column match when their sorted, centred, unit-variance
values agree within ``1e-5`` (so any affine map ``a*x+b`` with ``a != 0`` and any row
permutation is caught). Constant columns carry nothing and are skipped; arrays shorter than
:data:`MIN_LENGTH` are not compared. What the guard cannot see: subsets of rows other than
all or the aligned ones (e.g. one mini-batch of a column) unless the protocol registers
them in ``ctx.state[ROW_SETS_KEY]`` (name -> positions into the aligned order), non-linear
transforms of a column, integer arrays holding numeric IDs, and short opaque IDs (fewer
than :data:`MIN_SCAN_ID` characters) inside longer text or ciphertext bytes, where they
would match by chance (a whole str value or list element equal to any ID is still caught).

Error replies are screened too (:func:`check_error_text`, called by
:mod:`federation.failures`): their public text must hold no token shaped like a USCC (18
digits and capitals, checked even when the party's table failed to load) and none of the
party's raw IDs; otherwise the message is withheld and only the error's type, code and party
leave.

A party can switch the guard off for plaintext benchmarks with the node config
``privacy-guard = "off"`` (never the coordinator: the setting is the party's own).

Nothing leaves the party here; error messages name the field, the action and the column,
never a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crypto.errors import PrivacyViolationError
from federation.party import PartyContext
from federation.transport import Payload

MIN_LENGTH = 5
"""Arrays with fewer elements are not compared to columns (model parameters, counts)."""

MIN_SCAN_ID = 8
"""IDs at least this long are also searched inside bytes and longer tokens."""

TOLERANCE = 1e-5
USCC_SHAPED = re.compile(r"(?<![0-9A-Za-z])[0-9A-Z]{18}(?![0-9A-Za-z])")
"""An 18-character token of digits and capital letters: shaped like a USCC."""
ROW_SETS_KEY = "guard_row_sets"
EXTRA_IDS_KEY = "guard_extra_ids"
"""``ctx.cache`` key: IDs this party holds besides its table's (a sample's ID list), refused
in replies like the table's own."""
GUARD_NODE_CONFIG = "privacy-guard"

#: Owner: this process; filled when protocol modules are imported. Bound: one entry per
#: protocol action that declares plain-ID fields (a fixed, small set).
_PLAIN_ID_FIELDS: dict[str, frozenset[str]] = {}


def declare_plain_ids(action: str, *fields: str) -> None:
    """Declare that ``action``'s reply may carry aligned (intersection) IDs in ``fields``."""
    _PLAIN_ID_FIELDS[action] = frozenset(fields) | _PLAIN_ID_FIELDS.get(action, frozenset())


# ---------------------------------------------------------------------------------------
# matching arrays against columns


def _signature(values: np.ndarray) -> np.ndarray | None:
    """Sorted, centred, unit-variance values; None when constant or too short."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[~np.isnan(v)]
    if v.shape[0] < MIN_LENGTH:
        return None
    v = np.sort(v)
    sd = v.std()
    if not np.isfinite(sd) or sd <= 1e-12 * max(1.0, float(np.abs(v).max())):
        return None
    return (v - v.mean()) / sd


@dataclass
class ColumnIndex:
    """Signatures of sensitive columns, grouped by length, for fast comparison."""

    _by_len: dict[int, tuple[np.ndarray, list[str]]] = field(default_factory=dict)
    _pending: dict[int, list[tuple[str, np.ndarray]]] = field(default_factory=dict)

    def add(self, name: str, values: np.ndarray) -> None:
        """Add a column (NaNs are dropped; its length is the count of the rest)."""
        sig = _signature(values)
        if sig is not None:
            self._pending.setdefault(sig.shape[0], []).append((name, sig))

    def add_with_imputations(self, name: str, values: np.ndarray) -> None:
        """Add a column and, when it has NaNs, its mean- and median-imputed versions."""
        v = np.asarray(values, dtype=np.float64)
        self.add(name, v)
        nan = np.isnan(v)
        if nan.any() and not nan.all():
            for fill in (np.nanmean(v), np.nanmedian(v), 0.0):
                self.add(name, np.where(nan, fill, v))

    def _table(self, n: int) -> tuple[np.ndarray, list[str]] | None:
        if n in self._pending:
            new = self._pending.pop(n)
            old_m, old_names = self._by_len.get(n, (np.empty((0, n)), []))
            self._by_len[n] = (
                np.vstack([old_m, *[s[None, :] for _, s in new]]),
                old_names + [name for name, _ in new],
            )
        return self._by_len.get(n)

    def lengths(self) -> set[int]:
        return set(self._by_len) | set(self._pending)

    def match(self, values: np.ndarray) -> str | None:
        """The name of a column that ``values`` is an affine/permuted copy of, or None."""
        sig = _signature(values)
        if sig is None:
            return None
        table = self._table(sig.shape[0])
        if table is None:
            return None
        m, names = table
        for s in (sig, -sig[::-1]):
            hit = np.flatnonzero(np.abs(m - s).max(axis=1) <= TOLERANCE)
            if hit.size:
                return names[int(hit[0])]
        return None


def numeric_vectors(value: Any, lengths: set[int]) -> Iterable[np.ndarray]:
    """The vectors of a payload value worth comparing with columns (by non-NaN length)."""
    if isinstance(value, list):
        if len(value) in lengths and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        ):
            yield np.asarray(value, dtype=np.float64)
        return
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf" or value.size == 0:
        return
    if value.dtype.kind == "u" and value.dtype.itemsize == 1 and value.ndim >= 2:
        return  # packed ciphertext / point bytes
    arr = value.reshape(value.shape[0], -1) if value.ndim > 2 else value
    if arr.ndim <= 1:
        n = arr.size - (int(np.isnan(arr).sum()) if arr.dtype.kind == "f" else 0)
        if n in lengths:
            yield arr
        return
    present = ~np.isnan(arr) if arr.dtype.kind == "f" else np.ones(arr.shape, dtype=bool)
    for j in np.flatnonzero(np.isin(present.sum(axis=0), list(lengths))):
        yield arr[:, j]
    for i in np.flatnonzero(np.isin(present.sum(axis=1), list(lengths))):
        yield arr[i, :]


# ---------------------------------------------------------------------------------------
# finding IDs in text and bytes


@dataclass
class IdScanner:
    """Finds members of a set of IDs in str/bytes values.

    A whole str value (or list element) is compared with every ID; IDs of at least
    :data:`MIN_SCAN_ID` characters are also searched inside longer text and inside bytes
    (as runs of the IDs' own characters, so random ciphertext bytes rarely need a look).
    """

    ids: frozenset[str]
    _long_lengths: tuple[int, ...] = ()
    _runs: re.Pattern[str] | None = None

    _byte_alphabet: np.ndarray | None = None

    def __post_init__(self) -> None:
        long_ids = [i for i in self.ids if len(i) >= MIN_SCAN_ID]
        self._long_lengths = tuple(sorted({len(i) for i in long_ids}))
        if long_ids:
            alphabet = sorted(set("".join(long_ids)))
            chars = "".join(re.escape(c) for c in alphabet)
            self._runs = re.compile(f"[{chars}]{{{MIN_SCAN_ID},}}")
            if all(ord(c) < 256 for c in alphabet):
                table = np.zeros(256, dtype=bool)
                table[[ord(c) for c in alphabet]] = True
                self._byte_alphabet = table

    def _match_runs(self, runs: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for run in runs:
            if run in self.ids:
                found.add(run)
            for n in self._long_lengths:
                if len(run) > n:
                    found.update(
                        w
                        for w in (run[i : i + n] for i in range(len(run) - n + 1))
                        if w in self.ids
                    )
        return found

    def _in_text(self, text: str, *, exact: bool) -> set[str]:
        found: set[str] = set()
        if exact and text in self.ids:
            found.add(text)
        if self._runs is None:
            return found
        return found | self._match_runs(self._runs.findall(text))

    def _in_bytes(self, data: bytes) -> set[str]:
        """IDs inside ``data`` (as latin-1 text): the same result as :meth:`_in_text`.

        Long byte strings (ciphertexts: a few MB per message) are first screened with numpy:
        every run of at least MIN_SCAN_ID alphabet bytes holds two neighbouring positions
        ``p, p + s`` (``s = MIN_SCAN_ID // 2``, ``p`` a multiple of ``s``) with everything
        between them in the alphabet, so only those rare places go to the regex."""
        table = self._byte_alphabet
        if table is None or self._runs is None or len(data) < 4096:
            return self._in_text(data.decode("latin-1"), exact=False)
        s = MIN_SCAN_ID // 2
        a = np.frombuffer(data, dtype=np.uint8)
        sampled = table[a[::s]]
        cand = np.flatnonzero(sampled[:-1] & sampled[1:]) * s
        for k in range(1, s):
            if not cand.size:
                break
            cand = cand[table[a[cand + k]]]
        if not cand.size:
            return set()
        # the maximal runs through the surviving places, merged, then the regex on each
        n = len(data)
        spans: list[tuple[int, int]] = []
        for p in cand.tolist():
            if spans and p <= spans[-1][1]:
                continue
            lo, hi = p, p + s
            while lo > 0 and table[a[lo - 1]]:
                lo -= 1
            while hi < n and table[a[hi]]:
                hi += 1
            spans.append((lo, hi))
        return self._match_runs(
            run for lo, hi in spans for run in self._runs.findall(data[lo:hi].decode("latin-1"))
        )

    def _find(self, value: Any) -> set[str]:
        if isinstance(value, str):
            return self._in_text(value, exact=True)
        if isinstance(value, (bytes, bytearray)):
            b = bytes(value)
            found = self._in_bytes(b)
            if len(b) <= 256:
                try:
                    text = b.decode("utf-8")
                except UnicodeDecodeError:
                    return found
                if text in self.ids:
                    found.add(text)
            return found
        if isinstance(value, (list, tuple)):
            out: set[str] = set()
            for v in value:
                if isinstance(v, (str, bytes, bytearray)):
                    out |= self._find(v)
            return out
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "UO":
                return self._find(
                    [v for v in value.ravel().tolist() if isinstance(v, (str, bytes, bytearray))]
                )
            if value.dtype.kind in "SV" or (value.dtype.kind in "iu" and value.dtype.itemsize == 1):
                return self._in_bytes(value.tobytes())
        return set()

    def count(self, value: Any) -> int:
        """How many distinct IDs of the set ``value`` holds."""
        if not self.ids:
            return 0
        return len(self._find(value))


# ---------------------------------------------------------------------------------------
# what one party may not send


@dataclass
class PartyProfile:
    """A party's sensitive columns and IDs, as the guard compares against them."""

    columns: ColumnIndex
    all_ids: frozenset[str]
    aligned_ids: frozenset[str]
    outside: IdScanner = field(init=False)
    everything: IdScanner = field(init=False)

    def __post_init__(self) -> None:
        self.outside = IdScanner(self.all_ids - self.aligned_ids)
        self.everything = IdScanner(self.all_ids)


def column_index(
    tables: Mapping[str, tuple[pd.DataFrame, str]],
    row_sets: Mapping[str, Sequence[Any]] | None = None,
) -> ColumnIndex:
    """Index every numeric, encoded and label column of ``tables`` (name -> (frame, id
    column)), over all rows and over each row set (name -> IDs)."""
    from features.encoding import party_matrix

    index = ColumnIndex()
    for party, (df, id_col) in tables.items():
        variants = {"all rows": df}
        ids = df[id_col].astype(str).to_numpy(dtype=object)
        for set_name, set_ids in (row_sets or {}).items():
            wanted = {str(i) for i in set_ids}
            # a plain set lookup: pandas' isin on Arrow strings is ~20x slower here
            variants[set_name] = df[np.fromiter((i in wanted for i in ids), bool, len(ids))]
        for vname, sub in variants.items():
            if len(sub) < MIN_LENGTH:
                continue
            for col in sub.columns:
                if col == id_col:
                    continue
                s = sub[col]
                if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
                    index.add_with_imputations(
                        f"{party}.{col} ({vname})", s.to_numpy(dtype=np.float64, na_value=np.nan)
                    )
            try:
                pm = party_matrix(sub, id_column=id_col)
            except Exception:  # noqa: BLE001 - encoding is a best-effort extra here
                continue
            for j, fname in enumerate(pm.feature_names):
                index.add(f"{party}.{fname} ({vname}, encoded)", pm.X[:, j])
    return index


#: Owner: this process; per party name it serves, the profile last built and the key it was
#: built for (data file fingerprint, setup, aligned rows, row sets, extra IDs). Bound: one
#: profile per party name: the local and simulation runtimes serve several parties from one
#: process, so clearing everything would rebuild on every message.
_PROFILES: dict[str, tuple[tuple[Any, ...], PartyProfile]] = {}


def _profile(ctx: PartyContext) -> PartyProfile | None:
    from federation.partydata import (
        SETUP_KEY,
        PartySetup,
        aligned_rows,
        file_fingerprint,
        is_aligned,
        load_table,
    )

    setup = ctx.state.get(SETUP_KEY)
    if not isinstance(setup, PartySetup) or ctx.data_path is None:
        return None
    rows = aligned_rows(ctx) if is_aligned(ctx) else np.empty(0, dtype=np.int64)
    extra = ctx.state.get(ROW_SETS_KEY) or {}
    extra_ids = frozenset(ctx.cache.get(EXTRA_IDS_KEY) or ())
    key = (
        ctx.name,
        file_fingerprint(ctx.data_path),
        setup,
        rows.tobytes(),
        tuple((k, np.asarray(v).tobytes()) for k, v in sorted(extra.items())),
        extra_ids,
    )
    cached = _PROFILES.get(ctx.name)
    if cached is not None and cached[0] == key:
        return cached[1]
    df = load_table(ctx)
    ids = df[setup.id_column].astype(str).to_numpy(dtype=object)
    aligned = ids[rows]
    row_sets: dict[str, Sequence[Any]] = {}
    if rows.size:
        row_sets["aligned rows"] = aligned
        for name, pos in extra.items():
            row_sets[f"aligned rows: {name}"] = aligned[np.asarray(pos, dtype=np.int64)]
    prof = PartyProfile(
        column_index({ctx.name: (df, setup.id_column)}, row_sets),
        frozenset(ids.tolist()) | extra_ids,
        frozenset(aligned.tolist()),
    )
    _PROFILES[ctx.name] = (key, prof)  # one per party: replaces its previous profile
    return prof


def find_leaks(
    payload: Payload, profile: PartyProfile, plain_id_fields: frozenset[str] = frozenset()
) -> list[str]:
    """Human-readable findings (field and column names, counts; never values)."""
    findings: list[str] = []
    lengths = profile.columns.lengths()
    for key, value in payload.items():
        for vec in numeric_vectors(value, lengths):
            hit = profile.columns.match(vec)
            if hit is not None:
                findings.append(
                    f"field {key!r} is a plaintext copy (up to scale, shift and "
                    f"order) of column {hit}"
                )
                break
        scanner = profile.outside if key in plain_id_fields else profile.everything
        n = scanner.count(value)
        if n:
            what = "outside the intersection" if key in plain_id_fields else "in plain text"
            findings.append(f"field {key!r} carries {n} raw ID(s) {what}")
    return findings


def check_outgoing(ctx: PartyContext, payload: Payload, action: str | None = None) -> None:
    """Raise :class:`PrivacyViolationError` when ``payload`` would leak this party's data.

    ``action`` names the protocol step, so fields declared with :func:`declare_plain_ids`
    may carry aligned IDs. Cheap when the payload holds only scalars and ciphertext bytes;
    the party's column signatures are built once per run and process.
    """
    if not payload or _guard_off(ctx):
        return
    if not any(
        isinstance(v, (np.ndarray, list, tuple, str, bytes, bytearray)) for v in payload.values()
    ):
        return
    profile = _profile(ctx)
    if profile is None:
        return
    allowed = _PLAIN_ID_FIELDS.get(action or "", frozenset())
    findings = find_leaks(payload, profile, allowed)
    if findings:
        raise PrivacyViolationError(
            f"party {ctx.name!r}: the reply to {action or 'a request'!r} was stopped: "
            + "; ".join(findings)
        )


def _guard_off(ctx: PartyContext) -> bool:
    return str(ctx.node_config.get(GUARD_NODE_CONFIG, "on")).lower() == "off"


def check_error_text(
    ctx: PartyContext | None, texts: Mapping[str, str], action: str | None = None
) -> None:
    """Raise :class:`PrivacyViolationError` when the text of an error reply holds an ID.

    ``texts`` are the reply's text fields (message, hint). Refused: a USCC-shaped token
    (:data:`USCC_SHAPED`, whatever the party's state) and, when the party's profile can be
    built (its setup has come and its table loads), any of its raw IDs, as
    :func:`check_outgoing` finds them in str values.
    """
    if ctx is not None and _guard_off(ctx):
        return
    findings = [
        f"field {key!r} holds {len(USCC_SHAPED.findall(text))} USCC-shaped token(s)"
        for key, text in texts.items()
        if USCC_SHAPED.search(text)
    ]
    profile = None
    if ctx is not None:
        try:
            profile = _profile(ctx)
        except Exception:  # noqa: BLE001 - the table itself failed to load: nothing to compare
            profile = None
    if profile is not None:
        findings += find_leaks(dict(texts), profile)
    if findings:
        party = ctx.name if ctx is not None else "?"
        raise PrivacyViolationError(
            f"party {party!r}: the error reply to {action or 'a request'!r} was stopped: "
            + "; ".join(findings)
        )


__all__ = [
    "ColumnIndex",
    "EXTRA_IDS_KEY",
    "GUARD_NODE_CONFIG",
    "IdScanner",
    "MIN_LENGTH",
    "MIN_SCAN_ID",
    "PartyProfile",
    "ROW_SETS_KEY",
    "USCC_SHAPED",
    "check_error_text",
    "check_outgoing",
    "numeric_vectors",
    "column_index",
    "declare_plain_ids",
    "find_leaks",
]
