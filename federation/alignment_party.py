"""Secure sample alignment, party side: the handlers of ``align.*`` at the guest and hosts.

The coordinator's side and the protocol's description are in :mod:`federation.alignment`.
What each party's handler sends back, and to whom it goes (via the coordinator):

* ``align.setup``: the guest, its sample IDs (its sample's ID list ∩ observation window ∩
  valid authorizations, :mod:`federation.population`) blinded by a fresh secret scalar ``kg``
  (``H(id)^kg``, 32 bytes each) and the sample's size; a host, its own IDs blinded by its
  long-term scalar ``kh`` (from its offline cache), in a fresh secret order. Blinded points
  reveal only their count. A party whose table has constant or all-missing feature
  columns adds ``data_warnings``: those columns' names and its table's row count, no value
  (:func:`federation.partydata.data_warnings`; metrics.json shows them). A guest whose
  training sample holds one label class refuses here, naming the count, not the class.
  Setup hooks (:func:`on_setup`) may add public fields;
* ``align.reblind``: a host returns the guest's points blinded again (``H(id)^(kg kh)``,
  truncated to 12 bytes, in the guest's order); the guest blinds every host's points again,
  keeps them and replies ``ok``;
* ``align.intersect`` (guest only): per host, the intersection size and the positions of
  the intersection in that host's own blinded list (with ``cardinality_only``, the counts
  only). No ID is sent. A training run's (label set) intersection below the guest's k is
  refused here (``MinimumCellError``), before any host is told its rows;
* ``align.commit`` (host only): the host maps the positions to its rows through its secret
  order and replies with their number; it learns the intersection, nothing else.

Secret scalars never leave their party: the guest's per-run scalar lives in a 0600 key file
in its work dir and is deleted once used; a host's scalar is long-term (its blinded set is
cached offline, :class:`crypto.psi.HostBlindCache`). Every party ends with its aligned row
order in ``ctx.state`` (:func:`federation.partydata.store_alignment`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crypto import psi
from crypto.errors import ConfigError, ProtocolError
from features.contract import DataContract, check_label_classes
from features.disclosure import require_min_cell
from federation.party import PartyContext, register
from federation.partydata import (
    PartySetup,
    load_table,
    party_k,
    party_setup,
    read_validated,
    setup_party,
    store_alignment,
    warnings_field,
)
from federation.population import population_warnings, sample_rows
from federation.roles import PartyRole
from federation.transport import Payload

SETUP = "align.setup"
REBLIND = "align.reblind"
INTERSECT = "align.intersect"
COMMIT = "align.commit"

PSI_DIR_NODE_CONFIG = "psi-cache-dir"
AUTHORIZATIONS_NODE_CONFIG = "authorizations"
_STATE = "psi"
#: bytes of a doubly blinded value as compared (truncated)
COMPARE_WIDTH = psi.COMPARE_BYTES
_W = COMPARE_WIDTH


# ---------------------------------------------------------------------------------------
# wire helpers


def _to_wire(packed: bytes, width: int) -> np.ndarray:
    return np.frombuffer(packed, dtype=np.uint8).reshape(-1, width).copy()


def _from_wire(value: Any, width: int, what: str, party: str) -> bytes:
    arr = np.asarray(value)
    if arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != width:
        raise ProtocolError(
            f"{what} from/for party {party!r} is not a list of {width}-byte "
            f"values (got {arr.dtype} {arr.shape})"
        )
    return arr.tobytes()


def _points(packed: bytes, width: int) -> list[bytes]:
    return psi.unpack_points(packed, width)


# ---------------------------------------------------------------------------------------
# party side


def _psi_dir(ctx: PartyContext, *, long_term: bool = False) -> Path | None:
    """Where this party keeps its PSI keys, on its own disk: the node config's
    ``psi-cache-dir``; else on a SuperNode its work dir (the host's long-term key and
    cache, which outlive runs) or this run's folder there (the guest's key of one run);
    else (simulation) the party-private folder, removed when the run ends. None: in memory
    only (the local runtime: one process, whose output folder is the platform's, where no
    party's key belongs)."""
    configured = ctx.node_config.get(PSI_DIR_NODE_CONFIG)
    if configured:
        d = Path(str(configured))
    elif ctx.home is not None:
        d = (ctx.home if long_term else ctx.work_dir) / "psi"
    elif ctx.private is not None:
        d = Path(ctx.private) / "psi"
    else:
        return None
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


_GUEST_KEY, _HOST_KEY = "psi.guest-key.", "psi.host-key"  # ctx.cache keys (memory only)


def _save_guest_key(ctx: PartyContext, run_id: str, key: psi.PsiKey) -> None:
    d = _psi_dir(ctx)
    if d is None:
        ctx.cache[_GUEST_KEY + run_id] = key
    else:
        key.save(d / f"guest-{run_id}.key")


def _pop_guest_key(ctx: PartyContext, run_id: str) -> psi.PsiKey | None:
    """The guest's PSI key of run ``run_id``, removed from wherever it was kept."""
    d = _psi_dir(ctx)
    if d is None:
        got = ctx.cache.pop(_GUEST_KEY + run_id, None)
        return got if isinstance(got, psi.PsiKey) else None
    path = d / f"guest-{run_id}.key"
    if not path.is_file():
        return None
    try:
        return psi.PsiKey.load(path)
    finally:
        path.unlink(missing_ok=True)


def _host_key(ctx: PartyContext) -> psi.PsiKey:
    d = _psi_dir(ctx, long_term=True)
    if d is None:
        got = ctx.cache.get(_HOST_KEY)
        if not isinstance(got, psi.PsiKey):
            got = ctx.cache[_HOST_KEY] = psi.PsiKey.generate()
        return got
    path = d / "host.key"
    if path.is_file():
        return psi.PsiKey.load(path)
    key = psi.PsiKey.generate()
    key.save(path)
    return key


def _host_cache(ctx: PartyContext) -> psi.HostBlindCache | None:
    d = _psi_dir(ctx, long_term=True)
    return None if d is None else psi.HostBlindCache(d / "host_blinded.bin")


def _as_of(setup: PartySetup) -> pd.Timestamp:
    """The run's observation date (no default: a run must not depend on the day it runs)."""
    if not setup.as_of:
        raise ConfigError(
            "authorization = 'required' but the run names no observation date (as_of)",
            hint='Set [experiment] as_of = "YYYY-MM-DD" in the experiment config.',
        )
    try:
        return pd.Timestamp(dt.date.fromisoformat(setup.as_of))
    except ValueError:
        raise ConfigError(f"as_of date {setup.as_of!r} is not an ISO date (YYYY-MM-DD)") from None


def authorized_ids(ctx: PartyContext, setup: PartySetup) -> tuple[set[str], str]:
    """IDs holding an authorization for this bank (``ctx.name``) valid on ``as_of``.

    Valid: ``granted_on <= as_of <= expires_on`` (a missing date is not valid). Returns the
    set and the authorization file's name (for messages).
    """
    raw = ctx.node_config.get(AUTHORIZATIONS_NODE_CONFIG) or setup.authorizations
    if not raw:
        raise ConfigError(
            f"guest {ctx.name!r}: authorization = 'required' but no "
            "authorizations file is configured",
            hint="Name `authorizations` for the guest in the experiment config.",
        )
    path = Path(str(raw))
    auth = read_validated(
        path,
        id_column=setup.id_column,
        label=None,
        id_kind=setup.id_kind,
        party="authorizations",
        contract=DataContract(encoding=setup.contract.encoding),  # the party's encoding
    )
    as_of = _as_of(setup)
    granted = pd.to_datetime(auth["granted_on"], errors="coerce")
    expires = pd.to_datetime(auth["expires_on"], errors="coerce")
    ok = (auth["bank"].astype(str) == ctx.name) & (granted <= as_of) & (expires >= as_of)
    return set(auth.loc[ok.to_numpy(), setup.id_column].astype(str)), path.name


SetupHook = Callable[[PartyContext, Payload], Payload]
_SETUP_HOOKS: list[SetupHook] = []


def on_setup(hook: SetupHook) -> SetupHook:
    """Register ``hook(ctx, setup_payload) -> extra reply fields``, run at every party after
    its ``align.setup`` (a protocol that needs something from every party before its first
    own message, e.g. a key-agreement public key, piggybacks it here). Hooks see the
    ``setup_extra`` fields the coordinator passed to :func:`align`."""
    if hook not in _SETUP_HOOKS:
        _SETUP_HOOKS.append(hook)
    return hook


def _run_hooks(ctx: PartyContext, payload: Payload, reply: Payload) -> Payload:
    for hook in _SETUP_HOOKS:
        extra = hook(ctx, payload)
        clash = set(extra) & set(reply)
        if clash:
            raise ProtocolError(f"setup hook fields {sorted(clash)} clash with alignment's")
        reply.update(extra)
    return reply


@register(SETUP)
def _setup(ctx: PartyContext, payload: Payload) -> Payload:
    setup = setup_party(ctx, payload)
    psi_reply = _setup_psi(ctx, setup)
    reply = {**psi_reply, **warnings_field(ctx, population_warnings(ctx))}
    return _run_hooks(ctx, payload, reply)


def _setup_psi(ctx: PartyContext, setup: PartySetup) -> Payload:
    df = load_table(ctx)
    ids = df[setup.id_column].astype(str).to_numpy(dtype=object)
    if ctx.role == PartyRole.GUEST:
        in_sample = sample_rows(ctx, setup, df)  # the sample's ID list ∩ its window
        if setup.authorization == "required":
            allowed, auth_file = authorized_ids(ctx, setup)
            rows = in_sample[
                np.fromiter((ids[r] in allowed for r in in_sample), bool, count=in_sample.size)
            ]
        elif setup.authorization == "none":
            rows, auth_file = in_sample, ""
        else:
            raise ConfigError(f"unknown authorization mode {setup.authorization!r}")
        ctx.state[_STATE] = {"sample_rows": rows}
        if setup.label:  # training: the sample must hold goods and bads
            check_label_classes(
                df[setup.label].to_numpy()[rows],
                Path(str(ctx.data_path)).name,
                setup.label,
                "sample rows",
            )
        if rows.size == 0:
            return {"n_sample": 0, "authorizations": auth_file}
        key = psi.PsiKey.generate()
        _save_guest_key(ctx, setup.run_id, key)
        a = psi.blind(key, ids[rows].tolist())
        return {"n_sample": int(rows.size), "points": _to_wire(psi.pack_points(a), 32)}
    offer = psi.host_offer(_host_key(ctx), ids.tolist(), cache=_host_cache(ctx))
    ctx.state[_STATE] = {"perm": np.asarray(offer.perm, dtype=np.int64)}
    return {"n": len(offer.b), "points": _to_wire(psi.pack_points(offer.b), 32)}


@register(REBLIND)
def _reblind(ctx: PartyContext, payload: Payload) -> Payload:
    setup = party_setup(ctx)
    st = ctx.state.get(_STATE)
    if st is None:
        raise ProtocolError(f"party {ctx.name!r}: {REBLIND!r} before {SETUP!r}")
    if ctx.role == PartyRole.HOST:
        a = _points(_from_wire(payload["points"], 32, "guest points", ctx.name), 32)
        ab = psi.truncate(psi.reblind(_host_key(ctx), a))
        return {"points": _to_wire(b"".join(ab), _W)}
    hosts = [str(h) for h in payload["hosts"]]
    key = _pop_guest_key(ctx, setup.run_id)
    if key is None:
        raise ProtocolError(
            f"guest {ctx.name!r}: its PSI key for this run is gone",
            hint="Start the alignment again.",
        )
    ba: dict[str, bytes] = {}
    for h in hosts:
        b = _points(_from_wire(payload[f"b_{h}"], 32, "host points", h), 32)
        ba[h] = b"".join(psi.truncate(psi.reblind(key, b)))
    st["ba"] = ba
    return {"ok": True}


def _intersect_cardinality(
    hosts: list[str], ab: dict[str, list[bytes]], ba: dict[str, bytes]
) -> Payload:
    out: Payload = {}
    joint: np.ndarray | None = None
    for h in hosts:
        theirs = set(_points(ba[h], _W))
        mask = np.fromiter((v in theirs for v in ab[h]), dtype=bool, count=len(ab[h]))
        out[f"count_{h}"] = int(mask.sum())
        joint = mask if joint is None else joint & mask
    out["n_aligned"] = int(joint.sum()) if joint is not None else 0
    return out


def _checked(ctx: PartyContext, setup: PartySetup, out: Payload) -> Payload:
    """A training run's (label set) joint intersection below this guest's k is refused
    here, before any host is told its rows; scoring (no label) publishes no aggregate."""
    n = int(out["n_aligned"])
    if setup.label and n > 0:
        require_min_cell({"n_aligned": n}, party_k(ctx), where=f"guest {ctx.name!r} alignment")
    return out


@register(INTERSECT)
def _intersect(ctx: PartyContext, payload: Payload) -> Payload:
    setup = party_setup(ctx)
    st = ctx.state.get(_STATE) or {}
    if ctx.role != PartyRole.GUEST or "ba" not in st:
        raise ProtocolError(f"party {ctx.name!r}: unexpected {INTERSECT!r}")
    hosts = [str(h) for h in payload["hosts"]]
    ab = {
        h: _points(_from_wire(payload[f"ab_{h}"], _W, "doubly blinded values", h), _W)
        for h in hosts
    }
    ba: dict[str, bytes] = st.pop("ba")
    if setup.cardinality_only:
        ctx.state.pop(_STATE, None)
        return _checked(ctx, setup, _intersect_cardinality(hosts, ab, ba))
    ids = load_table(ctx)[setup.id_column].astype(str).to_numpy(dtype=object)
    sample_rows: np.ndarray = st["sample_rows"]
    sample = ids[sample_rows].tolist()
    found: dict[str, dict[str, int]] = {}
    for h in hosts:
        h_ids, h_idx = psi.intersect_guest(sample, ab[h], _points(ba[h], _W))
        found[h] = dict(zip(h_ids, h_idx, strict=False))
    common = sorted(set.intersection(*(set(f) for f in found.values()))) if found else []
    out: Payload = {f"count_{h}": len(found[h]) for h in hosts}
    out["n_aligned"] = len(common)
    _checked(ctx, setup, out)
    if common:
        pos = dict(zip(sample, sample_rows.tolist(), strict=False))
        store_alignment(
            ctx, np.fromiter((pos[i] for i in common), dtype=np.int64, count=len(common))
        )
        for h in hosts:
            out[f"idx_{h}"] = np.fromiter(
                (found[h][i] for i in common), dtype=np.int64, count=len(common)
            )
    ctx.state.pop(_STATE, None)
    return out


def apply_commit(ctx: PartyContext, payload: Payload) -> int:
    """Host side of ``align.commit``: store the aligned rows; returns their number.

    Other protocols call this when the coordinator piggybacked the commit (``idx``) on
    their own first host message.
    """
    setup = party_setup(ctx)
    st = ctx.state.get(_STATE) or {}
    if ctx.role != PartyRole.HOST or "perm" not in st:
        raise ProtocolError(
            f"party {ctx.name!r}: alignment commit without a PSI offer",
            hint="Run the alignment again.",
        )
    perm: np.ndarray = st["perm"]
    idx = np.asarray(payload["idx"], dtype=np.int64).ravel()
    if idx.size == 0 or idx.min() < 0 or idx.max() >= perm.shape[0]:
        raise ProtocolError(
            f"host {ctx.name!r}: alignment positions out of range for its "
            f"{perm.shape[0]} blinded IDs"
        )
    rows = perm[idx]
    ids = load_table(ctx)[setup.id_column].astype(str).to_numpy(dtype=object)[rows]
    if not all(a < b for a, b in zip(ids[:-1], ids[1:], strict=False)):
        raise ProtocolError(
            f"host {ctx.name!r}: the aligned IDs are not in strictly "
            "increasing order; the guest's positions do not fit this run"
        )
    store_alignment(ctx, rows)
    ctx.state.pop(_STATE, None)
    return int(rows.shape[0])


@register(COMMIT)
def _commit(ctx: PartyContext, payload: Payload) -> Payload:
    return {"n_aligned": apply_commit(ctx, payload)}


__all__ = [
    "AUTHORIZATIONS_NODE_CONFIG",
    "COMMIT",
    "COMPARE_WIDTH",
    "INTERSECT",
    "PSI_DIR_NODE_CONFIG",
    "REBLIND",
    "SETUP",
    "SetupHook",
    "apply_commit",
    "authorized_ids",
    "on_setup",
]
