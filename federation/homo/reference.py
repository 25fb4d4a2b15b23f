"""The pooled-rows reference of a horizontal run: the same model trained in one place on
every bank's training rows (tests and benchmarks only).

It splits each bank's table exactly as that bank does in a run (:func:`holdout_split` with
the bank's seed), pools the training rows, standardizes them with the pooled mean and
standard deviation (what the banks derive from their protected sums) and trains:

* ``homo_lr``: scikit-learn's logistic regression to convergence (no penalty to speak of,
  as the federated model has none), the model the federated run should approach;
* ``homo_nn``: the same torch network and training loop (:func:`train_central`) for the
  run's epoch budget (``rounds * local_epochs`` passes over the pooled rows).

Its AUC is computed exactly on the pooled held-out rows. It reads every bank's rows, so it
never runs inside a federation: nothing here is sent anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from features.encoding import Standardizer
from federation.homo.data import bank_data, bank_seed, holdout_split
from federation.homo.params import HomoParams, model_kind, model_spec, train_config

#: scikit-learn's inverse penalty for the LR reference: large enough to be unpenalized
LR_C = 1e6


@dataclass(frozen=True)
class PooledReference:
    """The pooled model's AUC on the pooled held-out rows, and the row counts."""

    auc: float
    n_train: int
    n_valid: int


@dataclass(frozen=True)
class _Pooled:
    x: np.ndarray
    c: np.ndarray
    y: np.ndarray
    xv: np.ndarray
    cv: np.ndarray
    yv: np.ndarray


def _pool(
    frames: Mapping[str, pd.DataFrame],
    params: HomoParams,
    *,
    id_column: str,
    label: str,
    features: Sequence[str] | None,
    seed: int,
) -> _Pooled:
    parts: list[tuple[np.ndarray, ...]] = []
    for bank in sorted(frames):
        d = bank_data(
            frames[bank],
            id_column=id_column,
            label=label,
            features=features,
            categorical=params.categorical,
            buckets=params.buckets,
        )
        tr, va = holdout_split(d.y, params.valid_fraction, bank_seed(seed, bank, 0))
        parts.append((d.xnum[tr], d.xcat[tr], d.y[tr], d.xnum[va], d.xcat[va], d.y[va]))
    x, c, y, xv, cv, yv = (np.concatenate([p[i] for p in parts]) for i in range(6))
    return _Pooled(x, c, y, xv, cv, yv)


def pooled_reference(
    frames: Mapping[str, pd.DataFrame],
    *,
    algorithm: str,
    params: HomoParams,
    id_column: str,
    label: str,
    features: Sequence[str] | None = None,
    seed: int = 42,
) -> PooledReference:
    """``algorithm`` trained on the pooled training rows of ``frames`` (bank -> its table,
    as the bank reads it), scored on the pooled held-out rows."""
    p = _pool(frames, params, id_column=id_column, label=label, features=features, seed=seed)
    std = Standardizer().fit(p.x)
    x, xv = std.transform(p.x), std.transform(p.xv)
    kind = model_kind(algorithm)
    if kind == "lr" and p.c.shape[1] == 0:
        lr = LogisticRegression(C=LR_C, max_iter=10_000).fit(x, p.y)
        scores = lr.predict_proba(xv)[:, 1]
    else:
        from federation.homo.models import predict_proba, train_central

        spec = model_spec(kind, x.shape[1], p.c.shape[1], params)
        cfg = train_config(params, epochs=params.rounds * params.local_epochs)
        model = train_central(spec, x, p.c, p.y, cfg, seed=seed)
        scores = predict_proba(model, xv, p.cv)
    return PooledReference(float(roc_auc_score(p.yv, scores)), int(p.y.size), int(p.yv.size))


__all__ = ["LR_C", "PooledReference", "pooled_reference"]
