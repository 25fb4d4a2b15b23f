"""Evaluation metrics a bank's risk team reads, as aggregates safe to leave the guest.

The guest computes these on its validation rows from the joint scores. What leaves the
guest (metrics.json, the catalog, the sandbox) are aggregates only: AUC, KS, and curves
whose every point summarises at least ``min_cell`` enterprises, so no point isolates a
handful of enterprises.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crypto.errors import DataValidationError, ProtocolError
from features.disclosure import DEFAULT_MIN_CELL, merge_small_bins


def _check(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float).ravel()
    score = np.asarray(score, dtype=float).ravel()
    if y.shape != score.shape:
        raise DataValidationError(f"labels ({y.size}) and scores ({score.size}) differ in length")
    if not np.isfinite(score).all():
        raise DataValidationError("scores contain NaN or infinite values")
    if np.unique(y).size != 2:
        raise DataValidationError("AUC/KS need both classes among the evaluated rows")
    return y, score


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (scikit-learn)."""
    from sklearn.metrics import roc_auc_score  # lazy: party processes start light

    y, score = _check(y, score)
    return float(roc_auc_score(y, score))


def ks(y: np.ndarray, score: np.ndarray) -> float:
    """Kolmogorov–Smirnov statistic: max |TPR − FPR| over thresholds."""
    from sklearn.metrics import roc_curve

    y, score = _check(y, score)
    fpr, tpr, _ = roc_curve(y, score)
    return float(np.max(tpr - fpr))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, 1 / (1 + e^-z), computed as 0.5 (1 + tanh(z / 2)) so that
    large |z| neither overflows nor warns."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64))))


def validation_split(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Stratified validation positions (sorted) in the aligned order, chosen by the guest
    (only these indices cross to other parties). Empty when ``fraction`` is 0; stratified
    when both classes have at least two members."""
    if fraction <= 0:
        return np.zeros(0, dtype=np.int64)
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    strat = y if np.bincount(np.asarray(y).astype(int), minlength=2).min() >= 2 else None
    _, valid = train_test_split(idx, test_size=fraction, random_state=seed, stratify=strat)
    return np.sort(valid).astype(np.int64)


def split_sizes(n: int, fraction: float) -> dict[str, int]:
    """The sizes :func:`validation_split` gives ``n`` aligned rows, known from ``n`` alone
    (so the coordinator can refuse a split below k before any model exchange): the
    validation part is ``ceil(fraction n)`` (scikit-learn's rule), absent when ``fraction``
    is 0 (the training rows are then evaluated)."""
    n = int(n)
    if fraction <= 0:
        return {"n_aligned": n, "n_train": n}
    n_valid = int(np.ceil(fraction * n))
    return {"n_aligned": n, "n_train": n - n_valid, "n_valid": n_valid}


def roc_points(
    y: np.ndarray, score: np.ndarray, *, max_points: int = 50, min_cell: int = DEFAULT_MIN_CELL
) -> dict[str, list[float]]:
    """ROC curve at score thresholds, from the highest score down, about ``max_points``
    points: every step between two points (the last one to (1, 1) included) covers at
    least ``min_cell`` enterprises. A threshold takes every enterprise of its score, so tied
    scores (a scorecard's points, a tree's leaves) never split a step into a smaller one;
    each point is one of scikit-learn's ``roc_curve`` points."""
    y, score = _check(y, score)
    n = score.size
    cell = max(min_cell, 1)
    step = max(cell, -(-n // max(max_points, 1)))
    _, inverse = np.unique(-score, return_inverse=True)  # distinct scores, highest first
    cum_n = np.cumsum(np.bincount(inverse))
    cum_pos = np.cumsum(np.bincount(inverse, weights=y))
    pos, neg = y.sum(), (1 - y).sum()
    fpr, tpr = [0.0], [0.0]
    i = int(np.searchsorted(cum_n, step))  # the first threshold a full step below the top
    while i < cum_n.size and n - cum_n[i] >= cell:
        tpr.append(float(cum_pos[i] / pos))
        fpr.append(float((cum_n[i] - cum_pos[i]) / neg))
        i = int(np.searchsorted(cum_n, cum_n[i] + step))
    fpr.append(1.0)
    tpr.append(1.0)
    return {"fpr": fpr, "tpr": tpr}


def lift_table(
    y: np.ndarray, score: np.ndarray, *, groups: int = 10, min_cell: int = DEFAULT_MIN_CELL
) -> list[dict[str, Any]]:
    """Decile (or fewer) table from the riskiest group down: count, bad rate, lift, KS.

    Every group holds at least ``min_cell`` bad and ``min_cell`` good enterprises (a
    group's bad rate is its positive/negative split): equal groups by score are merged
    with a neighbour until each does (one group when a class has fewer in all)."""
    y, score = _check(y, score)
    groups = max(1, min(groups, y.size // max(min_cell, 1)))
    order = np.argsort(-score, kind="stable")
    split = np.array_split(order, groups)
    bads = [int(y[p].sum()) for p in split]
    gid = merge_small_bins([(b, p.size - b) for b, p in zip(bads, split, strict=True)], min_cell)
    parts = [
        np.concatenate([p for p, g in zip(split, gid, strict=True) if g == i])
        for i in range(max(gid) + 1)
    ]
    base = y.mean()
    cum_bad = cum_good = 0.0
    rows = []
    for i, part in enumerate(parts, start=1):
        bad = float(y[part].sum())
        cum_bad += bad
        cum_good += part.size - bad
        rows.append(
            {
                "group": i,
                "count": int(part.size),
                "bad_rate": bad / part.size,
                "lift": (bad / part.size) / base if base > 0 else float("nan"),
                "cum_bad_share": cum_bad / y.sum(),
                "ks": abs(cum_bad / y.sum() - cum_good / (y.size - y.sum())),
                "min_score": float(score[part].min()),
                "max_score": float(score[part].max()),
            }
        )
    return rows


def score_histogram(
    score: np.ndarray, *, bins: int = 20, min_cell: int = DEFAULT_MIN_CELL
) -> dict[str, list[float]]:
    """Histogram of scores over at most ``bins`` equal bins; adjacent bins are merged until
    each holds at least ``min_cell`` enterprises (so no count is small, and none follows
    from the total minus the others); the merged bins keep their outer edges."""
    score = np.asarray(score, dtype=float).ravel()
    counts, edges = np.histogram(score, bins=bins)
    gid = merge_small_bins(counts, min_cell)
    merged = np.bincount(gid, weights=counts).astype(np.int64)
    cut = [0, *(i + 1 for i in range(len(gid) - 1) if gid[i] != gid[i + 1]), len(gid)]
    return {
        "edges": [float(edges[i]) for i in cut],
        "counts": [int(c) for c in merged],
    }


#: logit range of :func:`logit_histogram`'s bins: [-LOGIT_CLIP, LOGIT_CLIP]
LOGIT_CLIP = 12.0


def logit_histogram(y: np.ndarray, p: np.ndarray, bins: int) -> np.ndarray:
    """Counts of (logit bin, label) of probabilities ``p``: shape (bins, 2), the bins
    equally wide over [-12, 12] in logit. Parties that bin alike can add their counts (the
    pooled counts reveal no single score) and read AUC and KS from the sum with
    :func:`auc_ks_from_histogram`."""
    p = np.clip(p, 1e-12, 1 - 1e-12)
    z = np.clip(np.log(p / (1 - p)), -LOGIT_CLIP, LOGIT_CLIP)
    b = np.minimum(((z + LOGIT_CLIP) / (2 * LOGIT_CLIP) * bins).astype(np.int64), bins - 1)
    out = np.zeros((bins, 2), dtype=np.int64)
    np.add.at(out, (b, y.astype(np.int64)), 1)
    return out


def auc_ks_from_histogram(hist: np.ndarray) -> tuple[float, float]:
    """AUC (ties within a bin count one half) and KS from pooled (bin, label) counts.

    Equal to scikit-learn's ``roc_auc_score`` and ``roc_curve`` KS when no bin holds two
    different scores; otherwise AUC differs by at most half the share of (positive,
    negative) pairs that share a bin, and KS by at most the largest share of one class in
    one bin."""
    neg, pos = hist[:, 0].astype(np.float64), hist[:, 1].astype(np.float64)
    n_neg, n_pos = neg.sum(), pos.sum()
    if n_neg == 0 or n_pos == 0:
        raise ProtocolError("held-out rows hold one class only; AUC is undefined")
    below = np.cumsum(neg) - neg
    area = float((pos * (below + 0.5 * neg)).sum() / (n_pos * n_neg))
    gap = float(np.max(np.abs(np.cumsum(pos) / n_pos - np.cumsum(neg) / n_neg)))
    return area, gap


#: keys of :func:`curve_aggregates`, copied from the guest's report into metrics.json
CURVE_KEYS = ("roc", "lift", "score_hist", "n_valid_positive")


def curve_aggregates(
    y: np.ndarray, score: np.ndarray, *, min_cell: int = DEFAULT_MIN_CELL
) -> dict[str, Any]:
    """ROC points, lift table, score histogram and the positive count, if the positive and
    negative counts both reach ``min_cell`` (otherwise only what is safe: nothing)."""
    y = np.asarray(y, dtype=float).ravel()
    pos = int(y.sum())
    if pos < min_cell or y.size - pos < min_cell:
        return {}
    return {
        "roc": roc_points(y, score, min_cell=min_cell),
        "lift": lift_table(y, score, min_cell=min_cell),
        "score_hist": score_histogram(score, min_cell=min_cell),
        "n_valid_positive": pos,
    }


def evaluation_report(
    y: np.ndarray, score: np.ndarray, *, min_cell: int = DEFAULT_MIN_CELL
) -> dict[str, Any]:
    """AUC, KS, ROC points, lift table and score histogram in one aggregate dict."""
    return {
        "auc": auc(y, score),
        "ks": ks(y, score),
        "roc": roc_points(y, score, min_cell=min_cell),
        "lift": lift_table(y, score, min_cell=min_cell),
        "score_hist": score_histogram(score, min_cell=min_cell),
    }


__all__ = [
    "CURVE_KEYS",
    "DEFAULT_MIN_CELL",
    "LOGIT_CLIP",
    "auc",
    "auc_ks_from_histogram",
    "curve_aggregates",
    "evaluation_report",
    "ks",
    "lift_table",
    "logit_histogram",
    "roc_points",
    "score_histogram",
    "sigmoid",
    "split_sizes",
    "validation_split",
]
