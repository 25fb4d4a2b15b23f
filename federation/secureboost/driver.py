"""The coordinator's side of SecureBoost training: it relays every message, holds no key
and no record.

The coordinator sees every message (it carries them): the guest's public key and layout,
the ciphertexts and packed sums, the split requests and bit-masks (hence the partition of
the aligned rows into tree nodes), and the guest's public metrics. It chooses each tree's
column sample itself. It learns no gradient, no threshold and no label.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crypto.errors import ConfigError, ProtocolError
from features.disclosure import require_min_cell
from features.metrics import CURVE_KEYS, split_sizes
from federation.alignment import align
from federation.config import ExperimentConfig
from federation.protocol import ProgressFn, ProtocolResult, no_progress, require_parties
from federation.secureboost.messages import (
    APPLY,
    COMMIT,
    FINISH,
    HIST,
    HOST_INIT,
    LEVEL,
    SETUP,
    STAGE,
    TREE_BEGIN,
    TREE_END,
    HostHistograms,
    Masks,
    PayloadExchange,
)
from federation.secureboost.params import SecureBoostParams, parse_params
from federation.transport import Envelope, Payload, Transport


def _align(transport: Transport, config: ExperimentConfig, progress: ProgressFn) -> Any:
    return align(transport, config, progress=progress)


def _col_sample(n: int, frac: float, rng: np.random.Generator) -> np.ndarray:
    if frac >= 1.0 or n == 0:
        return np.arange(n, dtype=np.int64)
    k = max(1, int(round(frac * n)))
    return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)


@dataclass
class _Run:
    """One training run at the coordinator: who takes part, and the running counters."""

    transport: Transport
    params: SecureBoostParams
    backend: str
    seed: int
    guest: str
    hosts: list[str]
    ex: PayloadExchange
    progress: ProgressFn
    min_cell: int
    phase: dict[str, float] = field(
        default_factory=lambda: {
            "encrypt": 0.0,
            "host_histograms": 0.0,
            "guest_splits": 0.0,
            "decrypt": 0.0,
        }
    )

    @property
    def parties(self) -> list[str]:
        return [self.guest, *self.hosts]


@dataclass(frozen=True)
class _Setup:
    guest_reply: Payload
    n_aligned: int
    n_feat: dict[str, int]
    host_names: dict[str, list[str]]  # hosts that published their feature names
    valid_idx: np.ndarray


@dataclass
class _Tree:
    """One tree being built: its column samples, participating hosts and last level."""

    tree: int
    cols: dict[str, np.ndarray]
    use_hosts: list[str]
    begin: Payload
    pending: dict[str, np.ndarray] = field(default_factory=dict)  # host -> split requests
    guest_masks: Masks = field(default_factory=Masks.none)
    split_nodes: list[int] = field(default_factory=list)


@dataclass
class _Trained:
    losses: list[float]
    best_n: int
    train_bytes: int


def _setup_phase(run: _Run) -> _Setup:
    """``sb.setup`` at every party, then the guest's key and layout to the hosts."""
    ex, guest, hosts, params = run.ex, run.guest, run.hosts, run.params
    base = {"params": params.model_dump_json(), "backend": run.backend, "seed": run.seed}
    g0 = ex([Envelope(guest, SETUP, dict(base))])[guest]
    n_aligned = int(g0["n_rows"])
    hs = ex(
        [
            Envelope(h, SETUP, {**base, "publish_names": h in params.publish_feature_names})
            for h in hosts
        ]
    )
    for h in hosts:
        if int(hs[h]["n_rows"]) != n_aligned:
            raise ProtocolError(
                f"party {h!r} holds {hs[h]['n_rows']} aligned rows, the guest {n_aligned}",
                hint="Re-run the alignment.",
            )
    n_feat = {guest: int(g0["n_features"]), **{h: int(hs[h]["n_features"]) for h in hosts}}
    names = {h: [str(x) for x in hs[h]["feature_names"]] for h in hosts if "feature_names" in hs[h]}
    valid_idx = np.asarray(g0["valid_idx"], dtype=np.int64)
    counts = {"n_aligned": n_aligned, "n_train": int(g0["n_train"])}
    if valid_idx.size:
        counts["n_valid"] = int(valid_idx.size)
    require_min_cell(counts, run.min_cell, where="SecureBoost set-up")
    init = {"public": g0["public"], "layout": g0["layout"], "valid_idx": valid_idx}
    ex([Envelope(h, HOST_INIT, dict(init)) for h in hosts])
    return _Setup(g0, n_aligned, n_feat, names, valid_idx)


def _apply_owners(run: _Run, tw: _Tree, last: bool) -> dict[str, Masks]:
    """Owners apply their splits first so that every host gets every mask (with a single
    participating host this rides on its ``sb.hist``)."""
    owners = [h for h in tw.use_hosts if h in tw.pending]
    if not owners or not (len(tw.use_hosts) > 1 or last):
        return {}
    rep = run.ex([Envelope(h, APPLY, {"split": tw.pending[h]}) for h in owners])
    return {h: Masks.from_payload(rep[h], "m.") for h in owners}


def _host_histograms(
    run: _Run, tw: _Tree, level: int, host_masks: dict[str, Masks], applied: set[str]
) -> dict[str, Payload]:
    """``sb.hist`` at every participating host: the other parties' masks in, its own masks
    (of pending splits not applied yet) and this level's encrypted histograms out."""
    reqs = []
    for h in tw.use_hosts:
        pl: Payload = {"level": level, "tree": tw.tree, "split_nodes": list(tw.split_nodes)}
        if level == 0:
            pl.update(gh=tw.begin["gh"], active=tw.begin["active"], cols=tw.cols[h])
        else:
            others = [m for o, m in host_masks.items() if o != h]
            pl.update(Masks.merge([tw.guest_masks, *others]).to_payload("m."))
            if h in tw.pending and h not in applied:
                pl["split"] = tw.pending[h]
        reqs.append(Envelope(h, HIST, pl))
    t_h = time.perf_counter()
    rep = run.ex(reqs)
    run.phase["host_histograms"] += time.perf_counter() - t_h
    for h in tw.use_hosts:
        if h in tw.pending and h not in host_masks:
            host_masks[h] = Masks.from_payload(rep[h], "m.")
    return {h: rep[h] for h in tw.use_hosts}


def _guest_level(
    run: _Run, tw: _Tree, level: int, host_masks: dict[str, Masks], hists: dict[str, Payload]
) -> None:
    """``sb.level`` at the guest: the hosts' masks and histograms in, its splits out."""
    gp: Payload = {"hosts": sorted(set(host_masks) | set(hists)), "level": level}
    for h, m in host_masks.items():
        gp.update(m.to_payload(f"{h}.m."))
    for h, hp in hists.items():
        gp.update(HostHistograms.from_payload(hp).to_payload(f"{h}."))
        if level == 0:
            gp[f"{h}.cols"] = tw.cols[h]
    t_g = time.perf_counter()
    gr = run.ex([Envelope(run.guest, LEVEL, gp)])[run.guest]
    run.phase["guest_splits"] += time.perf_counter() - t_g
    run.phase["decrypt"] += float(gr.get("decrypt_seconds", 0.0))
    tw.split_nodes = [int(x) for x in gr["split_nodes"]]
    tw.guest_masks = Masks.from_payload(gr, "g.")
    tw.pending = {
        h: np.asarray(gr[f"{h}.split"], dtype=np.int64) for h in tw.use_hosts if f"{h}.split" in gr
    }


def _end_tree(run: _Run, host_masks: dict[str, Masks]) -> Payload:
    gp: Payload = {"hosts": list(host_masks)}
    for h, m in host_masks.items():
        gp.update(m.to_payload(f"{h}.m."))
    return run.ex([Envelope(run.guest, TREE_END, gp)])[run.guest]


def _build_tree(run: _Run, tw: _Tree) -> Payload:
    """The levels of one tree; returns the guest's ``sb.tree_end`` reply."""
    for level in range(run.params.max_depth + 1):
        last = level == run.params.max_depth
        host_masks: dict[str, Masks] = {}
        if tw.use_hosts and level > 0:
            host_masks = _apply_owners(run, tw, last)
        applied = set(host_masks)
        hists: dict[str, Payload] = {}
        if tw.use_hosts and not last:
            hists = _host_histograms(run, tw, level, host_masks, applied)
        if last:
            return _end_tree(run, host_masks)
        _guest_level(run, tw, level, host_masks, hists)
        if not tw.split_nodes:
            # every open node became a leaf: close the tree without the other levels
            return _end_tree(run, {})
    raise ProtocolError("SecureBoost tree ended without sb.tree_end")  # not reached


def _train_phase(run: _Run, setup: _Setup) -> _Trained:
    """Every tree: the guest's encrypted rows, then the levels."""
    params, guest = run.params, run.guest
    rng = np.random.default_rng([run.seed, 11])
    losses: list[float] = []
    best_n = 0
    bytes_start = sum(m.nbytes for m in run.transport.log.messages)
    for tree in range(params.n_trees):
        cols = {p: _col_sample(setup.n_feat[p], params.colsample, rng) for p in run.parties}
        use_hosts = [
            h for h in run.hosts if tree >= params.guest_only_first_trees and cols[h].size > 0
        ]
        begin = {"tree": tree, "guest_cols": cols[guest], "encrypt": bool(use_hosts)}
        b = run.ex([Envelope(guest, TREE_BEGIN, begin)])[guest]
        run.phase["encrypt"] += float(b.get("encrypt_seconds", 0.0))
        end = _build_tree(run, _Tree(tree, cols, use_hosts, b))
        losses.append(float(end["loss"]))
        best_n = int(end["best_n"]) if params.early_stopping_rounds else len(losses)
        run.progress("tree", {"tree": tree, "loss": end["loss"]})
        if end["stop"]:
            break
    train_bytes = sum(m.nbytes for m in run.transport.log.messages) - bytes_start
    return _Trained(losses, best_n, train_bytes)


def _save_phase(run: _Run, best_n: int) -> dict[str, Any]:
    """The guest's metrics of the kept trees; every party stages then commits its piece."""
    ex, guest = run.ex, run.guest
    fin = ex([Envelope(guest, FINISH, {"n_trees": best_n})])[guest]
    gm: dict[str, Any] = json.loads(str(fin["metrics"]))
    st_rep = ex([Envelope(guest, STAGE, {"n_trees": best_n, "metrics": json.dumps(gm)})])
    keep = {h: [int(x) for x in st_rep[guest].get(f"{h}.keep", [])] for h in run.hosts}
    ex([Envelope(h, STAGE, {"keep": keep[h]}) for h in run.hosts])
    ex([Envelope(p, COMMIT, {}) for p in run.parties])
    return gm


def _importance(raw: dict[str, Any], host_names: dict[str, list[str]]) -> dict[str, Any]:
    """Per party: feature -> split count and total gain; host features as ``party:index``
    unless the host published its names."""
    out: dict[str, Any] = {}
    for party, feats in raw.items():
        names = host_names.get(party)
        d = {}
        for key, v in feats.items():
            if names is not None and key.startswith(f"{party}:"):
                idx = int(key.split(":", 1)[1])
                key = names[idx] if 0 <= idx < len(names) else key
            d[key] = v
        out[party] = d
    return out


def _result(
    run: _Run,
    setup: _Setup,
    trained: _Trained,
    gm: dict[str, Any],
    n_aligned: int,
    seconds: dict[str, float],
) -> ProtocolResult:
    seconds.update({k: round(v, 4) for k, v in run.phase.items()})
    best_n = trained.best_n
    metrics: dict[str, Any] = {
        "algorithm": "secureboost",
        "backend": run.backend,
        "auc": gm["auc"],
        "ks": gm["ks"],
        "train_auc": gm["train_auc"],
        "n_aligned": n_aligned,
        "n_train": int(setup.guest_reply["n_train"]),
        "n_valid": int(setup.valid_idx.size),
        **{k: gm[k] for k in CURVE_KEYS if k in gm},
        "trees": best_n,
        "trees_built": len(trained.losses),
        "loss": trained.losses,
        "exchanges": run.ex.count,
        "bytes_per_tree": int(trained.train_bytes / max(1, len(trained.losses))),
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "feature_importance": _importance(gm.get("importance", {}), setup.host_names),
    }
    summary = {
        "algorithm": "secureboost",
        "backend": run.backend,
        "trees": best_n,
        "parties": {
            p: {"role": "guest" if p == run.guest else "host", "n_features": setup.n_feat[p]}
            for p in run.parties
        },
    }
    return ProtocolResult(metrics=metrics, model_summary=summary)


def drive(
    transport: Transport, config: ExperimentConfig, *, progress: ProgressFn = no_progress
) -> ProtocolResult:
    """Run alignment and SecureBoost training; every party saves its own model piece."""
    params = parse_params(config.params)
    backend = config.experiment.backend
    if backend not in ("paillier", "plaintext"):
        raise ConfigError(
            f"secureboost runs with backend 'paillier' (or 'plaintext' for tests), not {backend!r}",
            hint="Set [experiment].backend.",
        )
    guest, hosts = config.guest.name, [h.name for h in config.hosts]
    require_parties(transport, [guest, *hosts])
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    aligned = _align(transport, config, progress)
    seconds["align"] = time.perf_counter() - t0
    n = getattr(aligned, "n_aligned", None)
    if n is not None:  # the split's sizes follow from n: refuse before sb.setup
        sizes = split_sizes(int(n), params.validation_fraction)
        require_min_cell(sizes, config.min_cell, where="SecureBoost")
    run = _Run(
        transport=transport,
        params=params,
        backend=backend,
        seed=int(config.experiment.seed),
        guest=guest,
        hosts=hosts,
        ex=PayloadExchange(transport),
        progress=progress,
        min_cell=config.min_cell,
    )
    t = time.perf_counter()
    setup = _setup_phase(run)
    seconds["setup"] = time.perf_counter() - t
    progress(
        "sb.setup",
        {
            "n_aligned": setup.n_aligned,
            "n_train": int(setup.guest_reply["n_train"]),
            "n_valid": int(setup.valid_idx.size),
            "backend": backend,
        },
    )
    t_train = time.perf_counter()
    trained = _train_phase(run, setup)
    seconds["train"] = time.perf_counter() - t_train
    t = time.perf_counter()
    gm = _save_phase(run, trained.best_n)
    seconds["save"] = time.perf_counter() - t
    n_aligned = int(getattr(aligned, "n_aligned", setup.n_aligned))
    result = _result(run, setup, trained, gm, n_aligned, seconds)
    progress("sb.done", {"auc": gm["auc"], "ks": gm["ks"], "trees": trained.best_n})
    return result


__all__ = ["drive"]
