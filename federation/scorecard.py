"""``algorithm = "scorecard"``: federated binning, selection, hetero LR on WOE, points.

Steps (message by message in docs/protocols/woe_scorecard.md):

1. alignment (``federation.alignment``);
2. federated WOE/IV (``federation.woe``): guest bins its own columns with optimal monotonic
   binning, hosts bin theirs without labels; the guest learns per-bin counts of host bins
   and decides merges; a host learns the WOE of its own merged bins;
3. ``sc.select`` (coordinator -> every party: IV and correlation thresholds): each party
   keeps features by IV and drops one of every pair of its *own* WOE columns correlated
   above ``corr_max`` (computed locally); replies the indices it kept and a report (reasons,
   largest remaining correlation). Correlation across parties is never computed;
4. hetero LR (``federation.hetero_lr``) on each party's WOE-transformed selected columns:
   same messages and guarantees as that protocol;
5. ``sc.points`` (coordinator -> every party: the public points scale): each party turns its
   own LR weights into a points table per bin and keeps it (``scorecard.json`` in its work
   dir, with each feature's binning so that ``fedlab score`` can bin new rows the same
   way: bin edges and points never leave it). A host sends the sum of its points on the
   guest's validation rows masked with its guest-host pairwise key (the coordinator adds
   the masked vectors; only the guest can remove the masks, and it learns the sum over
   hosts, as in hetero LR's validation scores); the host also sends a public summary
   (per feature: id, number of bins, points range);
6. ``sc.report`` (coordinator -> guest: the masked sum): the guest forms the scores of its
   validation rows and returns public metrics: AUC, KS, grade distribution, ROC points,
   lift table and score histogram (aggregates of at least ``min_cell`` enterprises per
   step, group and shown bin: :func:`score_curves`), and its *own* points table (its
   columns' bins and points, and the base points: :func:`bank_points`) for the bank's model
   version. The coordinator learns these; no host's bins or points are in them.

A joint score is the sum of every party's points (``features.scorecard``).
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crypto.errors import ConfigError, ProtocolError
from crypto.fixedpoint import from_ring64, to_ring64
from features import scorecard as S
from features import woe as W
from features.metrics import DEFAULT_MIN_CELL, curve_aggregates, ks, score_histogram
from federation import hetero_lr
from federation import woe as FW
from federation.config import ExperimentConfig
from federation.party import PartyContext, register
from federation.protocol import ProgressFn, ProtocolResult, no_progress
from federation.roles import PartyRole
from federation.transport import Envelope, Payload, Transport

SELECT, POINTS, REPORT = "sc.select", "sc.points", "sc.report"
WOE_SOURCE = "scorecard.woe"  # the matrix source hetero LR trains on (the WOE columns)
_PTS = 4  # pairwise-mask purpose (hetero_lr uses 1-3)
PTS_FRAC_BITS = 32
"""Host points travel as 64-bit fixed point (resolution 2**-32) under uint64 masks: the
masks cancel exactly, so enterprises with equal points keep equal scores (no float
residue decides a tie)."""


class ScorecardParams(BaseModel):
    """``[params]`` of a scorecard experiment (binning keys as in ``WoeParams``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    binning: FW.WoeParams = Field(default_factory=FW.WoeParams)
    iv_min: float = Field(0.02, ge=0)
    corr_max: float = Field(0.7, gt=0, le=1)
    max_features: int | None = Field(None, ge=1, description="per party")
    base_score: float = 600.0
    base_odds: float = Field(15.0, gt=0)
    pdo: float = Field(40.0, gt=0)
    min_score: float = 400.0
    max_score: float = 700.0
    lr: dict[str, Any] = Field(default_factory=dict)

    def scaling(self) -> S.Scaling:
        return S.Scaling(self.base_score, self.base_odds, self.pdo, self.min_score, self.max_score)


_WOE_KEYS = set(FW.WoeParams.model_fields)


def parse_scorecard_params(raw: dict[str, Any]) -> ScorecardParams:
    """Binning keys (``n_fine_bins``, ``max_bins``, ``min_bin_size``, ...) sit at the top
    of ``[params]`` or in ``[params.binning]`` (the lab's ``binning.max_bins``); LR keys
    under ``[params.lr]``; ``key_bits`` applies to both."""
    raw = dict(raw)
    section = raw.pop("binning", None) or {}
    if not isinstance(section, dict):
        raise ConfigError(
            f"invalid scorecard [params]: binning must be a section "
            f"([params.binning]), got {type(section).__name__}"
        )
    binning = {k: raw.pop(k) for k in list(raw) if k in _WOE_KEYS}
    both = sorted(set(section) & set(binning))
    if both:
        raise ConfigError(
            f"invalid scorecard [params]: {both} given both at the top of "
            "[params] and in [params.binning]",
            hint="Give each key once.",
        )
    binning = {**section, **binning}
    if "key_bits" in binning:
        raw.setdefault("lr", {})
        raw["lr"] = {"key_bits": binning["key_bits"], **raw["lr"]}
    try:
        p = ScorecardParams.model_validate({**raw, "binning": binning})
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid scorecard [params]: {errs}") from None
    hetero_lr.parse_params(p.lr)  # fail early on bad LR keys
    p.scaling()
    return p


# ---------------------------------------------------------------------------------------
# party side


def woe_lr_matrix(ctx: PartyContext) -> Any:
    """The selected WOE columns as a ``PartyMatrix`` (what hetero LR trains on)."""
    from features.encoding import PartyMatrix

    sel = ctx.state[FW.STATE_KEY]["selected"]
    X, names = FW.woe_matrix_of(ctx, sel)
    _, y = FW.party_columns(ctx)
    return PartyMatrix(np.arange(X.shape[0]).astype(str).astype(object), X, names, y)


hetero_lr.register_matrix_source(WOE_SOURCE, woe_lr_matrix)


@register(SELECT)
def _select(ctx: PartyContext, payload: Payload) -> Payload:
    st = FW._st(ctx)
    iv = [float(v) for v in st["iv"]]
    X, _ = FW.woe_matrix_of(ctx)
    max_f = int(payload["max_features"]) if int(payload.get("max_features", 0)) > 0 else None
    sel = W.select_features(
        iv,
        X,
        iv_min=float(payload["iv_min"]),
        corr_max=float(payload["corr_max"]),
        max_features=max_f,
    )
    kept = sel.kept or [int(np.argmax(iv))]  # hetero LR needs a column at every party
    st["selected"] = kept
    corr = 0.0
    varying = [k for k in kept if X[:, k].std() > 0]  # a constant column correlates with none
    if len(varying) > 1:
        c = np.corrcoef(X[:, varying], rowvar=False)
        corr = float(np.max(np.abs(c - np.eye(len(varying)))))
    return {
        "kept": np.asarray(kept, dtype=np.int64),
        "dropped": json.dumps({str(k): v for k, v in sel.dropped.items()}),
        "max_corr": corr,
    }


def _lr_state(ctx: PartyContext) -> hetero_lr.LrPartyState:
    st = hetero_lr.find_state(ctx)
    if st is None:
        raise ProtocolError(f"party {ctx.name!r}: {POINTS!r} before the LR was trained")
    return st


def _points_table(ctx: PartyContext, scaling: S.Scaling) -> tuple[S.PointsTable, np.ndarray]:
    """This party's points table and its points summed over features for every row."""
    st, lr = FW._st(ctx), _lr_state(ctx)
    sel = st["selected"]
    bins, woes = FW.binnings(ctx), FW.woe_values(ctx)
    names = st["features"]
    feats = []
    for k, j in enumerate(sel):
        pts = S.feature_points(
            woes[j], float(lr.w[k]), float(lr.mean[k]), float(lr.scale[k]), scaling
        )
        feats.append(
            S.FeaturePoints(
                names[j],
                bins[j].labels(),
                list(map(float, woes[j])),
                [float(p) for p in pts],
                bins[j].to_dict(),
            )
        )
    guest = ctx.role == PartyRole.GUEST
    base = S.base_points(float(lr.b), scaling) if guest else 0.0
    table = S.PointsTable(ctx.name, ctx.role.value, scaling.to_dict(), feats, base)
    # the training rows are scored by the same code as new rows (``fedlab score``)
    return table, table.row_points(FW._table(ctx))


@register(POINTS)
def _points(ctx: PartyContext, payload: Payload) -> Payload:
    scaling = S.Scaling.from_dict(json.loads(str(payload["scaling"])))
    table, total = _points_table(ctx, scaling)
    S.save_points(ctx.work_dir, table)
    lr = _lr_state(ctx)
    valid = np.asarray(lr.valid, dtype=np.int64)
    publish = bool(payload.get("publish", False))
    ids = [
        f.name if publish or ctx.role == PartyRole.GUEST else f"{ctx.name}:f{j}"
        for f, j in zip(table.features, FW._st(ctx)["selected"], strict=False)
    ]
    out: Payload = {"summary": json.dumps(table.summary(ids))}
    if ctx.role == PartyRole.GUEST:
        FW._st(ctx)["valid_points"] = total[valid]
    else:
        pair = lr.pair("guest")
        out["pts"] = to_ring64(total[valid], PTS_FRAC_BITS) + pair.uint64(_PTS, 0, 0, valid.size)
    return out


@register(REPORT)
def _report(ctx: PartyContext, payload: Payload) -> Payload:
    from sklearn.metrics import roc_auc_score

    st, lr = FW._st(ctx), _lr_state(ctx)
    scaling = S.Scaling.from_dict(json.loads(str(payload["scaling"])))
    valid = np.asarray(lr.valid, dtype=np.int64)
    words = np.array(payload.get("pts", np.zeros(valid.size, dtype=np.uint64)), dtype=np.uint64)
    if words.shape != (valid.size,):
        raise ProtocolError(
            f"sc.report: the hosts' masked points have shape {words.shape}, "
            f"expected ({valid.size},) validation rows"
        )
    for h in lr.pair_keys:
        words -= lr.pair(h).uint64(_PTS, 0, 0, valid.size)  # wraps mod 2**64
    raw = st.pop("valid_points") + from_ring64(words, PTS_FRAC_BITS)
    scores = scaling.clip(raw)
    _, y = FW.party_columns(ctx)
    assert y is not None
    yv = y[valid]
    rows = S.grade_table(scores, scaling, yv, min_cell=DEFAULT_MIN_CELL)
    metrics = {
        "score_auc": float(roc_auc_score(yv, -scores)),
        "score_ks": ks(yv, -scores),
        "score_min": float(scores.min()),
        "score_max": float(scores.max()),
        "score_mean": float(scores.mean()),
        "clipped_share": float(np.mean((raw < scaling.min_score) | (raw > scaling.max_score))),
        "grades": [r.__dict__ for r in rows],
        "grade_table": S.format_grade_table(rows, scaling),
        **score_curves(yv, scores),
        **bank_points(S.load_points(ctx.work_dir)),
    }
    return {"metrics": json.dumps(metrics)}


def score_curves(y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """ROC points, lift table, score histogram and positive count of the validation scores,
    as ``features.metrics.curve_aggregates`` makes them for every algorithm (each ROC step,
    lift group and shown histogram bin covers at least ``min_cell`` enterprises; nothing
    when either class has fewer). A low score means high risk: the ROC and the lift rank
    by ``-score`` (riskiest first, as ``score_auc``); the lift groups' score bounds and the
    histogram are on the points scale."""
    agg = curve_aggregates(y, -scores)
    if agg:
        agg["lift"] = [
            {**r, "min_score": -r["max_score"], "max_score": -r["min_score"]} for r in agg["lift"]
        ]
        agg["score_hist"] = score_histogram(scores)
    return agg


POINTS_PREFIX, POINTS_BASE = "points.", "points_base"


def bank_points(table: S.PointsTable) -> dict[str, float]:
    """The guest bank's own points table as model-library metrics: ``points_base`` and
    ``points.<column>.<n> <bin>`` per bin of each of its selected features, ``n`` the bin's
    number from 1, zero-padded so that sorted keys (metrics.json is written sorted) keep
    the bins in order.

    Only the guest calls this, on its own table: its columns, its bin descriptions (edges or
    categories of its own data) and its points. It reaches the coordinator in the guest's
    ``sc.report`` reply and the bank's model version; a host's table never leaves the host.
    """
    out: dict[str, float] = {POINTS_BASE: float(table.base)}
    for f in table.features:
        width = len(str(len(f.bins)))
        for i, (label, pts) in enumerate(zip(f.bins, f.points, strict=True), start=1):
            out[f"{POINTS_PREFIX}{f.name}.{i:0{width}d} {label}"] = float(pts)
    return out


# ---------------------------------------------------------------------------------------
# coordinator side


def _align(transport: Transport, config: ExperimentConfig, progress: ProgressFn) -> Any:
    from federation.alignment import align

    return align(transport, config, progress=progress, commit=True)


def drive(
    transport: Transport, config: ExperimentConfig, *, progress: ProgressFn = no_progress
) -> ProtocolResult:
    """Alignment, federated binning, selection, hetero LR on WOE and points scaling."""
    params = parse_scorecard_params(config.params)
    woe_params = params.binning
    if (
        config.experiment.backend == "plaintext"
        and "label_backend" not in woe_params.model_fields_set
    ):
        woe_params = woe_params.model_copy(update={"label_backend": "plaintext"})
    guest = config.guest.name
    hosts = [h.name for h in config.hosts]
    seconds: dict[str, float] = {}

    t = time.perf_counter()
    aligned = _align(transport, config, progress)
    seconds["align"] = time.perf_counter() - t

    t = time.perf_counter()
    woe = FW.federated_woe(transport, config, woe_params, progress=progress)
    seconds["woe"] = time.perf_counter() - t

    t = time.perf_counter()
    sel_pl: Payload = {
        "iv_min": params.iv_min,
        "corr_max": params.corr_max,
        "max_features": params.max_features or 0,
    }
    sr = transport.exchange([Envelope(p, SELECT, sel_pl) for p in [guest, *hosts]])
    selection = {p: [int(k) for k in np.asarray(r.payload["kept"])] for p, r in sr.items()}
    seconds["select"] = time.perf_counter() - t
    progress("scorecard.select", {p: len(k) for p, k in selection.items()})

    lr_config = config.model_copy(update={"params": dict(params.lr)})
    lr = hetero_lr.train_aligned(
        transport,
        lr_config,
        progress=progress,
        n_aligned=getattr(aligned, "n_aligned", None),
        matrix_source=WOE_SOURCE,
    )

    t = time.perf_counter()
    scaling = params.scaling()
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
    sm = json.loads(str(rr[guest].payload["metrics"]))
    seconds["points"] = time.perf_counter() - t
    progress("scorecard.grades", {"table": sm["grade_table"]})

    iv_report = {}
    for p, feats in woe.report.items():
        kept = set(selection[p])
        iv_report[p] = [{**f, "selected": j in kept} for j, f in enumerate(feats)]
    points_report = {p: json.loads(str(r.payload["summary"])) for p, r in pr.items()}
    lm = lr.metrics
    metrics: dict[str, Any] = {
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
        "points_report": points_report,
        "scaling": scaling.to_dict(),
        "exchanges": int(getattr(aligned, "exchanges", 0))
        + woe.exchanges
        + 1
        + int(lm["lr_exchanges"])
        + 2,
        "seconds": {
            **{k: round(v, 4) for k, v in seconds.items()},
            **{f"lr_{k}": v for k, v in lm["seconds"].items()},
        },
    }
    summary = {
        "algorithm": "scorecard",
        "backend": config.experiment.backend,
        "parties": {
            p: {"role": "guest" if p == guest else "host", "n_features": len(selection[p])}
            for p in [guest, *hosts]
        },
    }
    return ProtocolResult(metrics=metrics, model_summary=summary)


def no_alignment(n_aligned: int) -> Any:
    """A stand-in alignment result for parties aligned beforehand (tests, benchmarks)."""
    return SimpleNamespace(n_aligned=n_aligned, exchanges=0)


__all__ = [
    "POINTS",
    "POINTS_BASE",
    "POINTS_PREFIX",
    "REPORT",
    "SELECT",
    "WOE_SOURCE",
    "ScorecardParams",
    "bank_points",
    "drive",
    "no_alignment",
    "parse_scorecard_params",
    "score_curves",
    "woe_lr_matrix",
]
