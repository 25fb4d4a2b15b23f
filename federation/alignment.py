"""Secure sample alignment: ECDH-PSI between the guest and every host, in four exchanges.

What leaves each party, and to whom (message by message in docs/protocols/alignment.md):

1. ``align.setup`` (coordinator -> every party: public run settings). The guest replies with
   its sample IDs blinded by a fresh secret scalar ``kg`` (``H(id)^kg``, 32 bytes each); each
   host replies with its own IDs blinded by its long-term scalar ``kh`` (from its offline
   cache), in a fresh secret order. Blinded points reveal only their count.
2. ``align.reblind``: the coordinator relays the guest's points to every host, which returns
   them blinded again (``H(id)^(kg kh)``, truncated to 12 bytes, in the guest's order); and
   relays every host's points to the guest, which blinds them again and keeps the result.
3. ``align.intersect`` (coordinator -> guest: the hosts' doubly blinded values). The guest
   finds which of its sample IDs each host holds, takes the enterprises held by every host,
   sorts them by ID (the canonical order) and replies with, per host, the intersection size
   and the positions of the intersection in that host's own blinded list. No ID is sent.
4. ``align.commit`` (coordinator -> each host: those positions). The host maps them to its
   rows through its secret order; it learns the intersection, nothing else.

Every party ends with its aligned row order in ``ctx.state`` (see ``federation.partydata``).
The guest's sample is its IDs that hold a valid authorization for this bank on ``as_of``
when ``authorization = "required"``, else all its IDs. ``cardinality_only = true`` in
``[params]`` stops after step 3 with counts only: the coordinator shuffles the guest's points
before step 2 with a permutation it keeps, so the guest learns the sizes of the pairwise and
the joint intersections and nobody learns members.

Secret scalars never leave their party: the guest's per-run scalar lives in a 0600 key file
in its work dir and is deleted once used; a host's scalar is long-term (its blinded set is
cached offline, :class:`crypto.psi.HostBlindCache`).

This module is the coordinator's side (:func:`align`) and the public face; the parties'
handlers are in :mod:`federation.alignment_party` (their names are re-exported here).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crypto.errors import AlignmentError, ProtocolError
from features.disclosure import require_min_cell
from federation.alignment_party import (
    AUTHORIZATIONS_NODE_CONFIG,
    COMMIT,
    COMPARE_WIDTH,
    INTERSECT,
    PSI_DIR_NODE_CONFIG,
    REBLIND,
    SETUP,
    SetupHook,
    apply_commit,
    authorized_ids,
    on_setup,
)
from federation.config import ExperimentConfig, PartySpec
from federation.default_rule import rule_json
from federation.partydata import PartySetup, note_data_warnings
from federation.protocol import ProgressFn, no_progress
from federation.roles import PartyRole
from federation.transport import Envelope, Payload, Transport


@dataclass(frozen=True)
class AlignmentResult:
    """Public outcome of an alignment (what the coordinator learned)."""

    n_aligned: int
    per_host: dict[str, int]  # |guest sample ∩ host|, per host
    seconds: float
    n_sample: int  # the guest's sample size
    exchanges: int
    cardinality_only: bool = False
    #: with ``align(..., commit=False)``: the ``align.commit`` payload per host, for the
    #: caller to piggyback on its own first host message (see :func:`apply_commit`)
    pending_commit: dict[str, Payload] = field(default_factory=dict, repr=False)
    run_id: str = ""
    #: every party's ``align.setup`` reply (blinded points and setup-hook fields)
    setup_replies: dict[str, Payload] = field(default_factory=dict, repr=False)

    def metrics(self) -> dict[str, Any]:
        return {
            "n_aligned": self.n_aligned,
            "n_sample": self.n_sample,
            "intersection_per_host": dict(self.per_host),
            "align_seconds": round(self.seconds, 3),
            "align_exchanges": self.exchanges,
            "cardinality_only": self.cardinality_only,
        }


# ---------------------------------------------------------------------------------------
# coordinator side


def setup_payloads(
    config: ExperimentConfig, run_id: str, *, with_label: bool = True
) -> dict[str, Payload]:
    """The ``align.setup`` payload for every party (public settings only).

    ``with_label=False`` (scoring new enterprises): the guest's table need not hold the label.
    """
    exp = config.experiment
    as_of = exp.as_of or ""  # required with an authorizations file (federation.config)
    id_kind = str(
        config.params.get("id_kind") or ("uscc" if exp.id_column.lower() == "uscc" else "opaque")
    )
    cardinality = bool(config.params.get("cardinality_only", False))
    out: dict[str, Payload] = {}
    for p in config.parties:
        sample = sample_settings(p) if p.role == PartyRole.GUEST and with_label else {}
        s = PartySetup(
            run_id=run_id,
            role=p.role.value,
            id_column=exp.id_column,
            id_kind=id_kind,
            label=(p.label or "") if p.role == PartyRole.GUEST and with_label else "",
            features=tuple((exp.features or {}).get(p.name, ())),
            seed=int(exp.seed),
            authorization=exp.authorization,
            as_of=as_of,
            authorizations=str(p.authorizations or "") if p.role == PartyRole.GUEST else "",
            cardinality_only=cardinality,
            contract=p.contract(),
            **sample,
            min_cell=config.min_cell,
            audit_receipt=p.audit_receipt or "",
            run_authorization=p.run_authorization or "",
        )
        out[p.name] = s.to_payload()
    return out


def sample_settings(p: PartySpec) -> dict[str, str]:
    """The guest's sample settings of its ``setup`` (ID-list location at the guest, the
    date column, the window and the out-of-time cut as ISO dates, the default rule as JSON;
    "" where not set)."""

    def iso(d: dt.date | None) -> str:
        return d.isoformat() if d else ""

    return {
        "sample_ids": str(p.sample_ids or ""),
        "date_column": p.date_column,
        "observation_start": iso(p.observation_start),
        "observation_end": iso(p.observation_end),
        "validation_from": iso(p.validation_from),
        "default_rule": rule_json(p.default_rule),
    }


def _wire_rows(reply: Envelope, key: str, width: int) -> np.ndarray:
    arr = np.asarray(reply.payload.get(key))
    if arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != width:
        raise ProtocolError(
            f"party {reply.party!r}: {reply.action!r} reply field {key!r} is "
            f"not a list of {width}-byte values"
        )
    return arr


def _setup_step(
    transport: Transport,
    config: ExperimentConfig,
    run_id: str,
    *,
    setup_extra: Mapping[str, Payload] | None,
    with_label: bool,
) -> dict[str, Envelope]:
    """Step 1: every party's ``align.setup``; their replies."""
    guest = config.guest.name
    hosts = [h.name for h in config.hosts]
    setups = setup_payloads(config, run_id, with_label=with_label)
    for p, extra in (setup_extra or {}).items():
        setups[p] = {**extra, **setups[p]}
    replies = transport.exchange([Envelope(p, SETUP, setups[p]) for p in [guest, *hosts]])
    if int(replies[guest].payload.get("n_sample", 0)) == 0:
        auth = replies[guest].payload.get("authorizations") or config.guest.authorizations
        raise AlignmentError(
            f"guest {guest!r} has no enterprise with an authorization for {guest!r} valid on "
            f"{setups[guest]['as_of']} in its authorizations file "
            f"{Path(str(auth)).name!r}; nothing can be aligned",
            hint="Check the file's bank, granted_on and expires_on columns and the "
            "experiment's as_of date.",
        )
    return replies


def _reblind_step(
    transport: Transport,
    guest: str,
    hosts: list[str],
    a: np.ndarray,
    b: dict[str, np.ndarray],
    n_sample: int,
) -> dict[str, np.ndarray]:
    """Step 2: the hosts blind the guest's points again, the guest the hosts' points."""
    req = [Envelope(h, REBLIND, {"points": a}) for h in hosts]
    guest_req: Payload = {"hosts": hosts, **{f"b_{h}": b[h] for h in hosts}}
    replies = transport.exchange([Envelope(guest, REBLIND, guest_req), *req])
    ab = {h: _wire_rows(replies[h], "points", COMPARE_WIDTH) for h in hosts}
    for h in hosts:
        if ab[h].shape[0] != n_sample:
            raise ProtocolError(
                f"host {h!r} returned {ab[h].shape[0]} doubly blinded values for {n_sample} sent"
            )
    return ab


def _empty_intersection(
    guest: str, hosts: list[str], n_sample: int, per_host: dict[str, int]
) -> AlignmentError:
    """The error of an empty intersection, naming the hosts that share nothing."""
    empty = [h for h in hosts if per_host[h] == 0]
    if empty:
        return AlignmentError(
            f"the guest {guest!r}'s sample of {n_sample} enterprises has no enterprise in "
            f"common with host(s) {empty}",
            hint="Check that the parties use the same ID column and ID format.",
        )
    return AlignmentError(
        f"no enterprise of the guest {guest!r}'s sample is held by all "
        f"hosts {hosts} (per host: {per_host})",
        hint="Drop a host with little coverage, or widen the sample.",
    )


def _commit_step(
    transport: Transport, hosts: list[str], pending: dict[str, Payload], n_aligned: int
) -> None:
    """Step 4: every host stores its aligned rows; their count must be the guest's."""
    replies = transport.exchange([Envelope(h, COMMIT, pending[h]) for h in hosts])
    for h in hosts:
        if int(replies[h].payload["n_aligned"]) != n_aligned:
            raise ProtocolError(
                f"host {h!r} aligned {replies[h].payload['n_aligned']} rows, the guest {n_aligned}"
            )


def align(
    transport: Transport,
    config: ExperimentConfig,
    *,
    progress: ProgressFn = no_progress,
    commit: bool = True,
    setup_extra: Mapping[str, Payload] | None = None,
    with_label: bool = True,
) -> AlignmentResult:
    """Align the guest's sample with every host; every party keeps its aligned row order.

    With ``commit=False`` the hosts are not yet told their rows: the result's
    ``pending_commit`` holds each host's ``align.commit`` payload for the caller to send
    along with its own next host message (the handler calls :func:`apply_commit`).
    ``setup_extra`` (party -> fields) is added to that party's setup message for the hooks
    registered with :func:`on_setup`; their reply fields are in ``setup_replies``.

    Raises :class:`AlignmentError` when the guest has no authorized IDs or the intersection
    is empty (naming the guest's authorization file or the hosts), and, for a training run
    (``with_label``), :class:`MinimumCellError` when the intersection holds fewer than the
    run's k enterprises (the guest refuses first, before any host is told its rows).
    """
    t0 = time.perf_counter()
    guest = config.guest.name
    hosts = [h.name for h in config.hosts]
    run_id = uuid.uuid4().hex
    cardinality = bool(config.params.get("cardinality_only", False))
    replies = _setup_step(transport, config, run_id, setup_extra=setup_extra, with_label=with_label)
    n_ex = 1
    n_sample = int(replies[guest].payload.get("n_sample", 0))
    setup_replies = {p: dict(r.payload) for p, r in replies.items()}
    note_data_warnings(transport.log, setup_replies)
    a = _wire_rows(replies[guest], "points", 32)
    b = {h: _wire_rows(replies[h], "points", 32) for h in hosts}
    host_sizes = {h: int(v.shape[0]) for h, v in b.items()}
    progress("align", {"step": "setup", "n_sample": n_sample, "host_sizes": host_sizes})

    if cardinality:  # a permutation only the coordinator knows: the guest cannot map back
        a = a[np.random.default_rng(secrets.randbits(128)).permutation(a.shape[0])]
    ab = _reblind_step(transport, guest, hosts, a, b, n_sample)
    n_ex += 1
    progress("align", {"step": "reblind"})

    replies = transport.exchange(
        [Envelope(guest, INTERSECT, {"hosts": hosts, **{f"ab_{h}": ab[h] for h in hosts}})]
    )
    n_ex += 1
    out = replies[guest].payload
    per_host = {h: int(out[f"count_{h}"]) for h in hosts}
    n_aligned = int(out["n_aligned"])
    progress("align", {"step": "intersect", "n_aligned": n_aligned, "per_host": per_host})
    if n_aligned == 0:
        raise _empty_intersection(guest, hosts, n_sample, per_host)
    if with_label:  # a training run: no host learns an intersection smaller than k
        require_min_cell({"n_aligned": n_aligned}, config.min_cell, where="alignment")
    pending: dict[str, Payload] = {}
    if not cardinality:
        pending = {h: {"idx": np.asarray(out[f"idx_{h}"], dtype=np.int64)} for h in hosts}
        if commit:
            _commit_step(transport, hosts, pending, n_aligned)
            n_ex += 1
            pending = {}
    seconds = time.perf_counter() - t0
    progress("align", {"step": "done", "n_aligned": n_aligned, "seconds": round(seconds, 3)})
    return AlignmentResult(
        n_aligned=n_aligned,
        per_host=per_host,
        seconds=seconds,
        n_sample=n_sample,
        exchanges=n_ex,
        cardinality_only=cardinality,
        pending_commit=pending,
        run_id=run_id,
        setup_replies=setup_replies,
    )


__all__ = [
    "AUTHORIZATIONS_NODE_CONFIG",
    "AlignmentResult",
    "COMMIT",
    "INTERSECT",
    "PSI_DIR_NODE_CONFIG",
    "REBLIND",
    "SETUP",
    "SetupHook",
    "align",
    "apply_commit",
    "authorized_ids",
    "on_setup",
    "sample_settings",
    "setup_payloads",
]
