"""The coordinator's side of federated WOE/IV binning and PSI.

The coordinator relays, in four exchanges (``woe.bin``, ``woe.sums``, ``woe.merge``,
``woe.apply``): public parameters; the guest's public key and encrypted labels to each
host; every host's encrypted per-bin sums, counts, opaque feature ids, kinds and missing
bins to the guest; merge instructions (and, with ``share_woe``, WOE values) back to each
host. It learns ciphertexts, per-bin counts of host features, merge instructions and IVs:
the public report of :class:`WoeOutcome`. ``woe.psi`` returns only a PSI per feature.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crypto.errors import ProtocolError
from federation.config import ExperimentConfig
from federation.protocol import Exchanger, ProgressFn, no_progress
from federation.scorecard.messages import APPLY, BIN, MERGE, PSI, SUMS
from federation.scorecard.params import WoeParams
from federation.transport import Envelope, Payload, Transport


@dataclass
class WoeOutcome:
    """Public result of a federated binning: IV per feature and bin counts, by party."""

    report: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    exchanges: int = 0
    n_rows: int = 0


def _bin(ex: Exchanger, guest: str, hosts: list[str], params: WoeParams) -> dict[str, Envelope]:
    """``woe.bin`` at every party; checks that they hold the same number of rows."""
    pj = params.model_dump_json()
    r1 = ex(
        [Envelope(guest, BIN, {"params": pj})]
        + [
            Envelope(h, BIN, {"params": pj, "publish": h in params.publish_feature_names})
            for h in hosts
        ]
    )
    rows = {p: int(r.payload["n_rows"]) for p, r in r1.items()}
    if len(set(rows.values())) != 1:
        raise ProtocolError(
            f"parties disagree on the number of aligned rows: {rows}",
            hint="Re-run the alignment; every party must hold the same rows.",
        )
    return r1


def _merge_payload(hosts: list[str], r1: dict[str, Envelope], r2: dict[str, Envelope]) -> Payload:
    """``woe.merge`` for the guest: every host's sums, counts, ids, kinds, missing bins."""
    mp: Payload = {"hosts": hosts}
    for h in hosts:
        p, b = r2[h].payload, r1[h].payload
        mp.update(
            {
                f"sums.{h}": p["sums"] if isinstance(p["sums"], np.ndarray) else bytes(p["sums"]),
                f"counts.{h}": np.asarray(p["counts"], dtype=np.int64),
                f"n_bins.{h}": np.asarray(p["n_bins"], dtype=np.int64),
                f"names.{h}": [str(x) for x in b["names"]],
                f"kinds.{h}": [str(x) for x in b["kinds"]],
                f"missing.{h}": np.asarray(b["missing"], dtype=np.int64),
            }
        )
    return mp


def _apply_requests(hosts: list[str], r3: Payload) -> list[Envelope]:
    reqs = []
    for h in hosts:
        pl: Payload = {
            "groups": np.asarray(r3[f"groups.{h}"], dtype=np.int64),
            "iv": np.asarray(r3[f"iv.{h}"], dtype=np.float64),
        }
        if f"woe.{h}" in r3:
            pl["woe"] = np.asarray(r3[f"woe.{h}"], dtype=np.float64)
        reqs.append(Envelope(h, APPLY, pl))
    return reqs


def _report(
    guest: str, hosts: list[str], g1: Payload, r1: dict[str, Envelope], r3: Payload, r4: Any
) -> dict[str, list[dict[str, Any]]]:
    """The public IV report: id, IV and number of bins of every party's features."""
    n_feat = int(g1["n_features"])
    g_iv = np.asarray(r3["iv"], dtype=np.float64)
    g_bins = np.asarray(r3["n_bins"], dtype=np.int64)
    report = {
        guest: [
            {"id": f"{guest}:f{j}", "iv": float(g_iv[j]), "n_bins": int(g_bins[j])}
            for j in range(n_feat)
        ]
    }
    for h in hosts:
        names = [str(x) for x in r1[h].payload["names"]]
        iv = np.asarray(r3[f"iv.{h}"], dtype=np.float64)
        nb = np.asarray(r4[h].payload["n_bins"], dtype=np.int64)
        report[h] = [
            {"id": names[j], "iv": float(iv[j]), "n_bins": int(nb[j])} for j in range(len(names))
        ]
    return report


def federated_woe(
    transport: Transport,
    config: ExperimentConfig,
    params: WoeParams,
    *,
    progress: ProgressFn = no_progress,
) -> WoeOutcome:
    """Bin every party's features and compute WOE/IV of host features on the guest's labels
    (parties must be aligned already). Returns the public IV report."""
    guest = config.guest.name
    hosts = [h.name for h in config.hosts]
    out = WoeOutcome()
    ex = Exchanger(transport)
    t = time.perf_counter()
    r1 = _bin(ex, guest, hosts, params)
    g1 = r1[guest].payload
    out.n_rows = int(g1["n_rows"])
    out.seconds["bin"] = time.perf_counter() - t
    progress("woe", {"step": "bin", "n_rows": out.n_rows})

    t = time.perf_counter()
    if "labels" in g1:
        lab: Payload = {"labels": np.asarray(g1["labels"])}
    else:
        lab = {"public_key": bytes(g1["public_key"]), "enc_labels": bytes(g1["enc_labels"])}
    r2 = ex([Envelope(h, SUMS, lab) for h in hosts])
    out.seconds["sums"] = time.perf_counter() - t
    progress("woe", {"step": "sums"})

    t = time.perf_counter()
    r3 = ex([Envelope(guest, MERGE, _merge_payload(hosts, r1, r2))])[guest].payload
    out.seconds["merge"] = time.perf_counter() - t

    t = time.perf_counter()
    r4 = ex(_apply_requests(hosts, r3))
    out.seconds["apply"] = time.perf_counter() - t
    out.exchanges = 4
    out.report = _report(guest, hosts, g1, r1, r3, r4)
    progress("woe", {"step": "done", "seconds": round(sum(out.seconds.values()), 3)})
    return out


def federated_psi(transport: Transport, actual: dict[str, str]) -> dict[str, list[float]]:
    """PSI per feature at every named party (party -> its table at the second date)."""
    ex = Exchanger(transport)
    replies = ex([Envelope(p, PSI, {"actual": path}) for p, path in actual.items()])
    return {p: [float(v) for v in np.asarray(r.payload["psi"])] for p, r in replies.items()}


__all__ = ["WoeOutcome", "federated_psi", "federated_woe"]
