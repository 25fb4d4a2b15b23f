"""The coordinator's driver of hetero LR: alignment, set-up, training, evaluation.

The coordinator generates the key pair and is the only party that can decrypt. It relays
the parties' X25519 public keys (guest to hosts, hosts to guest), the guest's validation
row positions and masked vectors; it learns the public counts (aligned, training and
validation rows, batches), the loss per epoch and the guest's public metrics (AUC, KS,
min-cell curves). Every party saves its own model piece; no weight reaches the coordinator.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from crypto.errors import ProtocolError
from features.disclosure import require_min_cell
from features.metrics import CURVE_KEYS, split_sizes
from federation.alignment import align
from federation.config import ExperimentConfig
from federation.hetero_lr.batches import batch_sizes, mask_bound, n_batches
from federation.hetero_lr.messages import FINISH, HOST_STEP, INIT, InitReply, InitRequest
from federation.hetero_lr.params import LrParams, parse_params
from federation.hetero_lr.training import Run, sum_arrays, train_exact, train_taylor
from federation.protocol import (
    Exchanger,
    ProgressFn,
    ProtocolResult,
    no_progress,
    require_parties,
)
from federation.transport import Envelope, Payload, Transport


def _align(transport: Transport, config: ExperimentConfig, progress: ProgressFn) -> Any:
    """PSI alignment; the hosts' commit is left for ``lr.init`` to carry (one exchange less)."""
    return align(transport, config, progress=progress, commit=False)


def drive(
    transport: Transport, config: ExperimentConfig, *, progress: ProgressFn = no_progress
) -> ProtocolResult:
    """Run alignment and hetero LR training/evaluation; every party saves its own piece."""
    progress("phase", {"phase": "alignment"})
    t = time.perf_counter()
    aligned = _align(transport, config, progress)
    seconds = {"alignment": time.perf_counter() - t}
    return train_aligned(
        transport,
        config,
        progress=progress,
        seconds=seconds,
        n_aligned=getattr(aligned, "n_aligned", None),
        pending_commit=getattr(aligned, "pending_commit", None),
        align_exchanges=int(getattr(aligned, "exchanges", 0)),
    )


@dataclass
class _Setup:
    """What ``lr.init`` established: the run and its public counts."""

    run: Run
    n_aligned: int
    n_train: int
    n_valid: int


def _setup(
    transport: Transport,
    config: ExperimentConfig,
    params: LrParams,
    progress: ProgressFn,
    n_aligned: int | None,
    pending_commit: dict[str, Payload] | None,
    matrix_source: str | None,
) -> _Setup:
    """Key generation and ``lr.init`` at every party (hosts' alignment commits ride on it)."""
    backend_name = config.experiment.backend
    guest, hosts = config.guest.name, [h.name for h in config.hosts]
    ex = Exchanger(transport)
    keys = params.backend(backend_name).keygen()
    init = InitRequest(
        backend=backend_name,
        public=keys.public_bytes,
        seed=int(config.experiment.seed),
        params=params.model_dump_json(),
        mask_bound=mask_bound(backend_name, len(hosts)),
        source=matrix_source,
    )
    commits = pending_commit or {}
    raw = ex([Envelope(p, INIT, init.to_payload(commits.get(p))) for p in [guest, *hosts]])
    replies = {p: InitReply.from_payload(r.payload) for p, r in raw.items()}
    rows = {p: r.n_rows for p, r in replies.items()}
    if len(set(rows.values())) != 1:
        raise ProtocolError(
            f"parties disagree on the number of aligned rows: {rows}",
            hint="Re-run the alignment; every party must hold the same rows.",
        )
    g0 = replies[guest]
    if g0.valid_idx is None:
        raise ProtocolError(f"guest {guest!r} sent no validation rows in its {INIT!r} reply")
    run = Run(
        ex=ex,
        keys=keys,
        backend=backend_name,
        guest=guest,
        hosts=hosts,
        params=params,
        nb=n_batches(g0.n_train, params.batch_size),
        sizes=batch_sizes(g0.n_train, params.batch_size),
        valid_idx=g0.valid_idx,
        guest_dh=g0.dh_pub,
        host_dh=[replies[h].dh_pub for h in hosts],
        progress=progress,
    )
    n = rows[guest] if n_aligned is None else int(n_aligned)
    require_min_cell(
        {"n_aligned": n, "n_train": g0.n_train, "n_valid": g0.n_valid},
        config.min_cell,
        where="hetero LR set-up",
    )
    return _Setup(run, n, g0.n_train, g0.n_valid)


def _evaluate(run: Run) -> tuple[dict[str, Any], dict[str, Envelope]]:
    """The hosts' last gradient step and validation scores; ``lr.finish`` at every party.
    Returns the guest's public metrics and the finish replies."""
    ex, guest, hosts = run.ex, run.guest, run.hosts
    finish: dict[str, Payload] = {p: {} for p in [guest, *hosts]}
    if not run.stopped:
        # last epoch: hosts apply their last gradient and report validation scores
        last = run.epochs_run - 1
        hr = ex(
            [
                Envelope(
                    h,
                    HOST_STEP,
                    {"grad": run.grads.pop(h), "report_valid": True, "valid_epoch": last},
                )
                for h in hosts
            ]
        )
        finish[guest] = {
            "grad": run.grads.pop(guest),
            "valid_epoch": last,
            "valid": sum_arrays([hr[h].payload["valid"] for h in hosts]),
        }
    fr = ex([Envelope(p, FINISH, pl) for p, pl in finish.items()])
    return json.loads(str(fr[guest].payload["metrics"])), fr


def _metrics(
    s: _Setup, gm: dict[str, Any], seconds: dict[str, float], exchanges: dict[str, int]
) -> dict[str, Any]:
    run = s.run
    return {
        "algorithm": "hetero_lr",
        "backend": run.backend,
        "sigmoid": run.params.sigmoid,
        "auc": gm["auc"],
        "ks": gm["ks"],
        "n_aligned": s.n_aligned,
        "n_train": s.n_train,
        "n_valid": s.n_valid,
        **{k: gm[k] for k in CURVE_KEYS if k in gm},
        "loss": gm["loss"],
        "epochs": int(gm["epochs"]),
        "early_stopped": run.stopped,
        "batches_per_epoch": run.nb,
        "exchanges": run.ex.count + exchanges["align"],
        "lr_exchanges": run.ex.count,
        "train_exchanges": exchanges["train"],
        "exchanges_per_epoch": 3 * run.nb,
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
    }


def _summary(run: Run, fr: dict[str, Envelope]) -> dict[str, Any]:
    return {
        "algorithm": "hetero_lr",
        "backend": run.backend,
        "parties": {
            p: {
                "role": "guest" if p == run.guest else "host",
                "n_features": int(r.payload["n_features"]),
            }
            for p, r in fr.items()
        },
    }


def train_aligned(
    transport: Transport,
    config: ExperimentConfig,
    *,
    progress: ProgressFn = no_progress,
    seconds: dict[str, float] | None = None,
    n_aligned: int | None = None,
    pending_commit: dict[str, Payload] | None = None,
    align_exchanges: int = 0,
    matrix_source: str | None = None,
) -> ProtocolResult:
    """Hetero LR on parties that are already aligned (``drive`` without the alignment).

    ``pending_commit`` (host -> ``align.commit`` payload) rides on the hosts' ``lr.init``.
    ``matrix_source`` names a source registered with ``register_matrix_source`` at every
    party (default: each party's aligned table).
    """
    params = parse_params(config.params)
    require_parties(transport, [config.guest.name, *[h.name for h in config.hosts]])
    if n_aligned is not None:  # the split's sizes follow from n: refuse before lr.init
        require_min_cell(
            split_sizes(n_aligned, params.valid_fraction), config.min_cell, where="hetero LR"
        )
    seconds = dict(seconds or {})

    progress("phase", {"phase": "setup"})
    t = time.perf_counter()
    s = _setup(transport, config, params, progress, n_aligned, pending_commit, matrix_source)
    run = s.run
    seconds["setup"] = time.perf_counter() - t
    if params.precompute_epochs:
        t = time.perf_counter()
        run.keys.precompute(s.n_train * params.precompute_epochs)
        seconds["offline"] = time.perf_counter() - t
    progress(
        "lr.setup",
        {
            "n_aligned": s.n_aligned,
            "n_train": s.n_train,
            "n_valid": s.n_valid,
            "batches_per_epoch": run.nb,
            "backend": run.backend,
            "sigmoid": params.sigmoid,
        },
    )

    progress("phase", {"phase": "train"})
    t = time.perf_counter()
    start = run.ex.count
    (train_exact if params.sigmoid == "exact" else train_taylor)(run)
    exchanges = {"train": run.ex.count - start, "align": align_exchanges}
    seconds["train"] = time.perf_counter() - t

    progress("phase", {"phase": "evaluate"})
    t = time.perf_counter()
    gm, fr = _evaluate(run)
    seconds["evaluate"] = time.perf_counter() - t
    if not run.stopped:
        progress("epoch", {"epoch": run.epochs_run, "loss": gm["loss"][-1]})
    metrics = _metrics(s, gm, seconds, exchanges)
    progress("lr.done", {"auc": gm["auc"], "ks": gm["ks"], "epochs": metrics["epochs"]})
    return ProtocolResult(metrics=metrics, model_summary=_summary(run, fr))


__all__ = ["drive", "train_aligned"]
