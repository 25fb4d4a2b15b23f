"""The coordinator's driver of ``algorithm = "scorecard"``.

Alignment, federated binning (``federation.scorecard.woe_driver``), ``sc.select``, hetero
LR on the selected WOE columns (``federation.hetero_lr``, same messages and guarantees),
``sc.points`` and ``sc.report``. The coordinator learns the public IV report, per party the
number of kept features, drop reasons and the largest remaining correlation, each party's
points summary, the sum of the hosts' masked points (uniform words: only the guest removes
the masks) and the guest's public metrics and own points table.
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import numpy as np

from crypto.errors import ProtocolError
from features import scorecard as S
from features.disclosure import require_min_cell
from features.metrics import split_sizes
from federation.alignment import align
from federation.config import ExperimentConfig
from federation.hetero_lr.driver import train_aligned
from federation.hetero_lr.params import parse_params as parse_lr_params
from federation.protocol import ProgressFn, ProtocolResult, no_progress
from federation.scorecard.messages import POINTS, REPORT, SCALE, SELECT
from federation.scorecard.params import ScorecardParams, WoeParams, parse_scorecard_params
from federation.scorecard.points import WOE_SOURCE
from federation.scorecard.scale import auto_scaling
from federation.scorecard.woe_driver import WoeOutcome, federated_woe
from federation.transport import Envelope, Payload, Transport


def _align(transport: Transport, config: ExperimentConfig, progress: ProgressFn) -> Any:
    return align(transport, config, progress=progress, commit=True)


def no_alignment(n_aligned: int) -> Any:
    """A stand-in alignment result for parties aligned beforehand (tests, benchmarks)."""
    return SimpleNamespace(n_aligned=n_aligned, exchanges=0)


def _woe_params(config: ExperimentConfig, params: ScorecardParams) -> WoeParams:
    """The binning parameters; the plaintext backend sends plaintext labels unless told."""
    woe_params = params.binning
    if (
        config.experiment.backend == "plaintext"
        and "label_backend" not in woe_params.model_fields_set
    ):
        woe_params = woe_params.model_copy(update={"label_backend": "plaintext"})
    return woe_params


def _select(
    transport: Transport, params: ScorecardParams, parties: list[str]
) -> tuple[dict[str, list[int]], dict[str, Envelope]]:
    sel_pl: Payload = {
        "iv_min": params.iv_min,
        "corr_max": params.corr_max,
        "max_features": params.max_features or 0,
    }
    sr = transport.exchange([Envelope(p, SELECT, sel_pl) for p in parties])
    selection = {p: [int(k) for k in np.asarray(r.payload["kept"])] for p, r in sr.items()}
    return selection, sr


def _fit_scale(transport: Transport, scaling: S.Scaling, guest: str, k: int) -> S.Scaling:
    """``sc.scale`` at the guest: the scale fitted to its validation scores."""
    payload: Payload = {
        "min_score": scaling.min_score,
        "max_score": scaling.max_score,
        "min_cell": k,
    }
    reply = transport.exchange([Envelope(guest, SCALE, payload)])[guest].payload
    return auto_scaling(scaling, reply)


def _points(
    transport: Transport, scaling: S.Scaling, woe_params: WoeParams, guest: str, hosts: list[str]
) -> tuple[dict[str, Any], dict[str, Envelope]]:
    """``sc.points`` at every party, the hosts' masked points summed, ``sc.report``."""
    sp = json.dumps(scaling.to_dict())
    pr = transport.exchange(
        [
            Envelope(p, POINTS, {"scaling": sp, "publish": p in woe_params.publish_feature_names})
            for p in [guest, *hosts]
        ]
    )
    report: Payload = {"scaling": sp}
    for h in hosts:  # masked fixed-point words: the sum wraps mod 2**64
        words = np.asarray(pr[h].payload["pts"], dtype=np.uint64)
        if "pts" in report and words.shape != report["pts"].shape:
            raise ProtocolError(
                f"party {h!r} sent masked points of shape {words.shape}, "
                f"the other hosts {report['pts'].shape}"
            )
        report["pts"] = words.copy() if "pts" not in report else report["pts"] + words
    rr = transport.exchange([Envelope(guest, REPORT, report)])
    return json.loads(str(rr[guest].payload["metrics"])), pr


def _metrics(
    config: ExperimentConfig,
    parts: dict[str, Any],
    selection: dict[str, list[int]],
    sr: dict[str, Envelope],
    seconds: dict[str, float],
) -> dict[str, Any]:
    woe: WoeOutcome = parts["woe"]
    lm, sm, scaling = parts["lr"], parts["report"], parts["scaling"]
    iv_report = {
        p: [{**f, "selected": j in set(selection[p])} for j, f in enumerate(feats)]
        for p, feats in woe.report.items()
    }
    return {
        "algorithm": "scorecard",
        "backend": config.experiment.backend,
        "auc": lm["auc"],
        "ks": lm["ks"],
        **sm,
        "n_aligned": lm["n_aligned"],
        "n_train": lm["n_train"],
        "n_valid": lm["n_valid"],
        "loss": lm["loss"],
        "epochs": lm["epochs"],
        "iv_report": iv_report,
        "selection": {
            p: {
                "kept": len(k),
                "dropped": json.loads(str(sr[p].payload["dropped"])),
                "max_corr": float(sr[p].payload["max_corr"]),
            }
            for p, k in selection.items()
        },
        "points_report": {p: json.loads(str(r.payload["summary"])) for p, r in parts["pr"].items()},
        "scaling": scaling.to_dict(),
        "scaling_mode": "auto" if parts["auto_scale"] else "fixed",
        "exchanges": parts["align_exchanges"]
        + woe.exchanges
        + 1
        + int(lm["lr_exchanges"])
        + int(parts["auto_scale"])
        + 2,
        "seconds": {
            **{k: round(v, 4) for k, v in seconds.items()},
            **{f"lr_{k}": v for k, v in lm["seconds"].items()},
        },
    }


def drive(
    transport: Transport, config: ExperimentConfig, *, progress: ProgressFn = no_progress
) -> ProtocolResult:
    """Alignment, federated binning, selection, hetero LR on WOE and points scaling."""
    params = parse_scorecard_params(config.params)
    woe_params = _woe_params(config, params)
    guest = config.guest.name
    hosts = [h.name for h in config.hosts]
    seconds: dict[str, float] = {}

    t = time.perf_counter()
    aligned = _align(transport, config, progress)
    seconds["align"] = time.perf_counter() - t
    n = getattr(aligned, "n_aligned", None)
    if n is not None:  # the LR's split follows from n: refuse before any binning message
        fraction = parse_lr_params(dict(params.lr)).valid_fraction
        require_min_cell(split_sizes(int(n), fraction), config.min_cell, where="scorecard")
    t = time.perf_counter()
    woe = federated_woe(transport, config, woe_params, progress=progress)
    seconds["woe"] = time.perf_counter() - t
    t = time.perf_counter()
    selection, sr = _select(transport, params, [guest, *hosts])
    seconds["select"] = time.perf_counter() - t
    progress("scorecard.select", {p: len(k) for p, k in selection.items()})

    lr_config = config.model_copy(update={"params": params.lr.model_dump()})
    lr = train_aligned(
        transport,
        lr_config,
        progress=progress,
        n_aligned=getattr(aligned, "n_aligned", None),
        matrix_source=WOE_SOURCE,
    )
    t = time.perf_counter()
    scaling = params.points_scale()
    if params.auto_scale:
        scaling = _fit_scale(transport, scaling, guest, config.min_cell)
    sm, pr = _points(transport, scaling, woe_params, guest, hosts)
    seconds["points"] = time.perf_counter() - t
    progress("scorecard.grades", {"table": sm["grade_table"]})

    parts = {
        "woe": woe,
        "lr": lr.metrics,
        "report": sm,
        "scaling": scaling,
        "pr": pr,
        "align_exchanges": int(getattr(aligned, "exchanges", 0)),
        "auto_scale": params.auto_scale,
    }
    metrics = _metrics(config, parts, selection, sr, seconds)
    summary = {
        "algorithm": "scorecard",
        "backend": config.experiment.backend,
        "parties": {
            p: {"role": "guest" if p == guest else "host", "n_features": len(selection[p])}
            for p in [guest, *hosts]
        },
    }
    return ProtocolResult(metrics=metrics, model_summary=summary)


__all__ = ["drive", "no_alignment"]
