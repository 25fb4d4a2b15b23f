"""Disclosure control in the service layer: what the lab's readers (SDK, CLI, sandbox) may
be shown of samples, model versions and runs, at one minimum cell size k.

k is the lab setting ``FEDLAB_MIN_CELL`` (:class:`lab.settings.Settings`, default and floor
:data:`lab.disclosure.DEFAULT_MIN_CELL`), raised when a caller passes a larger one (the
sandbox's ``fedlab ui --min-cell``); a smaller one never lowers it. Every number about data
released here aggregates at least k enterprises; a smaller cell becomes ``None``. A
positive count is shown only when both the positives and the negatives of its cell reach k
(otherwise the difference from the total would give the small cell away). AUC and KS
measured on fewer than k validation enterprises are suppressed too. Model curves are
rebuilt from the stored aggregates (ROC points, or a per-band score histogram) as score
bands of at least k enterprises each; the loss per epoch is shown only when it is known to
be computed on at least k enterprises.

What it reveals, to whom: nothing by itself; it decides what the services return to the
acting user. The rules are the single implementation of :mod:`features.disclosure`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lab.disclosure import suppress, suppress_split
from lab.models import CountsSource, ExperimentPublic, ModelVersionPublic, SampleSetPublic
from lab.settings import get_settings

SUPPRESSED = "suppressed"
"""The metrics key listing the figures a released model version holds back (below k)."""
SCORE_KEYS = ("auc", "ks")
COUNT_KEYS_SHOWN = ("n_aligned", "n_train", "n_valid")


def min_cell(k: int | None = None) -> int:
    """k: the lab setting ``FEDLAB_MIN_CELL`` (default and floor
    :data:`lab.disclosure.DEFAULT_MIN_CELL`), raised by the caller's own k when that is
    larger; a caller's smaller k never lowers it."""
    base = get_settings().min_cell
    return base if k is None else max(base, int(k))


def _number(v: Any) -> bool:
    return isinstance(v, int | float)


def release_metrics(metrics: Mapping[str, Any], k: int) -> dict[str, Any]:
    """A model version's metrics as a reader may see them at k.

    The sizes (``n_aligned``, ``n_train``, ``n_valid``) below k become None, and so do AUC
    and KS when the validation set they were measured on holds fewer than k enterprises;
    per bank (FedAvg), a validation count below k and that bank's AUC likewise. The names
    of what was held back are listed under :data:`SUPPRESSED`; every other entry is kept.
    Releasing released metrics again at the same k changes nothing.
    """
    out = dict(metrics)
    held = set(out.get(SUPPRESSED) or ())
    n_valid = metrics.get("n_valid")
    small = isinstance(n_valid, int | float) and n_valid < k
    for key in SCORE_KEYS:
        if small and _number(out.get(key)):
            out[key] = None
            held.add(key)
    for key in COUNT_KEYS_SHOWN:
        if _number(out.get(key)) and suppress(int(out[key]), k) is None:
            out[key] = None
            held.add(key)
    per_bank, bank_auc = out.get("bank_n_valid"), out.get("bank_auc")
    if isinstance(per_bank, Mapping):
        small_banks = {b for b, n in per_bank.items() if _number(n) and n < k}
        if small_banks:
            out["bank_n_valid"] = {b: None if b in small_banks else n for b, n in per_bank.items()}
            held.add("bank_n_valid")
            if isinstance(bank_auc, Mapping):
                out["bank_auc"] = {b: None if b in small_banks else a for b, a in bank_auc.items()}
                held.add("bank_auc")
    held |= _release_grades(out, k)
    if held:
        out[SUPPRESSED] = sorted(held)
    return out


#: A scorecard's grade tables: rows of grade, low, count, share, bad_rate (metrics key),
#: and the text form of each (held back whenever a row of its table is).
GRADE_TABLES = {"grades": "grade_table", "grades_dev": "grade_table_dev"}


def _release_grades(out: dict[str, Any], k: int) -> set[str]:
    """Suppress, in place, a grade's count and share below k and its bad rate unless its
    defaults and non-defaults both reach k; the keys changed."""
    held: set[str] = set()
    for key, text in GRADE_TABLES.items():
        rows = out.get(key)
        if not isinstance(rows, list):
            continue
        released = []
        for row in rows:
            r = dict(row) if isinstance(row, Mapping) else {}
            n, rate = r.get("count"), r.get("bad_rate")
            if not isinstance(n, int | float):
                released.append(r)
                continue
            if 0 < n < k:
                r.update(count=None, share=None, bad_rate=None)
            elif isinstance(rate, int | float):
                pos = round(float(rate) * float(n))
                if suppress_split(int(n), pos, int(n) - pos, k)[1] is None:
                    r["bad_rate"] = None
            released.append(r)
        if released != rows:
            out[key] = released
            held.add(key)
            if out.pop(text, None) is not None:
                held.add(text)
    return held


def release_model(mv: ModelVersionPublic, k: int) -> ModelVersionPublic:
    """``mv`` with its metrics released at k (:func:`release_metrics`)."""
    return mv.model_copy(update={"metrics": release_metrics(mv.metrics, k)})


# ------------------------------------------------------------------ samples
@dataclass(frozen=True)
class SampleStats:
    """A sample set's counts after suppression."""

    sample_id: int
    name: str
    label_definition: str
    window: str
    n_total: int | None
    n_positive: int | None
    n_negative: int | None
    counted: bool = True  # False: not counted yet (未计数), the counts are None
    version: int = 1

    @property
    def positive_rate(self) -> float | None:
        if self.n_total is None or self.n_positive is None or self.n_total == 0:
            return None
        return self.n_positive / self.n_total


def sample_stats(sample: SampleSetPublic, k: int) -> SampleStats:
    counted = CountsSource(sample.counts_source) is not CountsSource.NONE
    total, pos, neg = (
        suppress_split(sample.n_total, sample.n_positive, sample.n_total - sample.n_positive, k)
        if counted
        else (None, None, None)
    )
    start = sample.observation_start.isoformat() if sample.observation_start else "…"
    end = sample.observation_end.isoformat() if sample.observation_end else "…"
    return SampleStats(
        sample_id=sample.id,
        name=sample.name,
        label_definition=sample.label_definition,
        window=f"{start} – {end}",
        n_total=total,
        n_positive=pos,
        n_negative=neg,
        counted=counted,
        version=sample.version,
    )


def last_aligned_by_sample(
    models: Iterable[ModelVersionPublic], experiments: Iterable[ExperimentPublic], k: int
) -> dict[int, int | None]:
    """Per sample set: the aligned enterprises of its latest model's run (suppressed < k)."""
    sample_of = {e.id: e.sample_id for e in experiments}
    out: dict[int, int | None] = {}
    for mv in sorted(models, key=lambda m: m.id):
        sid = sample_of.get(mv.experiment_id)
        n = mv.metrics.get("n_aligned")
        if sid is not None and "n_aligned" in (mv.metrics.get(SUPPRESSED) or ()):
            out[sid] = None
        elif sid is not None and isinstance(n, int | float):
            out[sid] = suppress(int(n), k)
    return out


# ------------------------------------------------------------------ model curves
@dataclass(frozen=True)
class Bands:
    """Score bands from the highest score to the lowest, each of at least k enterprises:
    positives and negatives per band. Every curve below is cumulative over these bands."""

    pos: tuple[int, ...]
    neg: tuple[int, ...]

    @property
    def n(self) -> np.ndarray:
        return np.asarray(self.pos) + np.asarray(self.neg)

    @property
    def total(self) -> int:
        return int(sum(self.pos) + sum(self.neg))

    def roc(self) -> tuple[list[float], list[float]]:
        P, N = max(sum(self.pos), 1), max(sum(self.neg), 1)
        tpr = np.concatenate([[0.0], np.cumsum(self.pos) / P])
        fpr = np.concatenate([[0.0], np.cumsum(self.neg) / N])
        return fpr.tolist(), tpr.tolist()

    def depth(self) -> list[float]:
        return (np.cumsum(self.n) / max(self.total, 1)).tolist()

    def ks_curve(self) -> tuple[list[float], list[float], list[float], float]:
        """(depth, tpr, fpr, ks) with the origin prepended."""
        fpr, tpr = self.roc()
        depth = [0.0, *self.depth()]
        ks = float(np.max(np.abs(np.asarray(tpr) - np.asarray(fpr))))
        return depth, tpr, fpr, ks

    def lift(self) -> tuple[list[float], list[float]]:
        """(depth, cumulative lift) per band: positive rate of the top bands over the base rate."""
        P = sum(self.pos)
        if P == 0:
            return [], []
        base = P / self.total
        rate = np.cumsum(self.pos) / np.cumsum(self.n)
        return self.depth(), (rate / base).tolist()


def merge_bands(pos: Sequence[int], neg: Sequence[int], k: int) -> Bands | None:
    """Merge adjacent bands (top to bottom) until each holds at least k enterprises."""
    out_p: list[int] = []
    out_n: list[int] = []
    acc_p = acc_n = 0
    for p, n in zip(pos, neg, strict=True):
        acc_p, acc_n = acc_p + int(p), acc_n + int(n)
        if acc_p + acc_n >= k:
            out_p.append(acc_p)
            out_n.append(acc_n)
            acc_p = acc_n = 0
    if acc_p + acc_n:
        if not out_p:
            return None
        out_p[-1] += acc_p
        out_n[-1] += acc_n
    return Bands(tuple(out_p), tuple(out_n)) if out_p else None


def _class_counts(mv: ModelVersionPublic, base_rate: float | None) -> tuple[int, int] | None:
    m = mv.metrics
    n = m.get("n_valid")
    if not isinstance(n, int | float) or n <= 0:
        return None
    if isinstance(m.get("n_valid_positive"), int | float):
        p = int(m["n_valid_positive"])
    elif isinstance(m.get("valid_positive_rate"), int | float):
        p = round(float(m["valid_positive_rate"]) * n)
    elif base_rate is not None:
        p = round(base_rate * n)
    else:
        return None
    return int(p), int(n) - int(p)


def model_bands(mv: ModelVersionPublic, k: int, *, base_rate: float | None = None) -> Bands | None:
    """The model's validation results as score bands of at least k enterprises, or None.

    From ``metrics['score_hist_pos' / 'score_hist_neg']`` (counts per score bin, lowest
    score first) when the algorithm reports them, else from the stored ROC points and the
    validation size (``n_valid``) with the validation (or, failing that, the sample's)
    positive rate. Without counts nothing can be checked against k, so nothing is shown.
    """
    hp, hn = mv.metrics.get("score_hist_pos"), mv.metrics.get("score_hist_neg")
    if isinstance(hp, list) and isinstance(hn, list) and len(hp) == len(hn) and hp:
        return merge_bands([int(x) for x in reversed(hp)], [int(x) for x in reversed(hn)], k)
    fpr, tpr = mv.roc.get("fpr") or [], mv.roc.get("tpr") or []
    counts = _class_counts(mv, base_rate)
    if len(fpr) < 2 or len(fpr) != len(tpr) or counts is None:
        return None
    P, N = counts
    cum_p = np.rint(np.asarray(tpr, dtype=float) * P).astype(int)
    cum_n = np.rint(np.asarray(fpr, dtype=float) * N).astype(int)
    cum_p = np.maximum.accumulate(np.concatenate([[0], cum_p, [P]]))
    cum_n = np.maximum.accumulate(np.concatenate([[0], cum_n, [N]]))
    return merge_bands(np.diff(cum_p).tolist(), np.diff(cum_n).tolist(), k)


def headline_metrics(mv: ModelVersionPublic, k: int) -> dict[str, Any]:
    """AUC, KS and sizes; sizes below k are suppressed (None), and so are AUC and KS when
    the validation set they were measured on (``n_valid``) holds fewer than k enterprises.
    Figures a released version already holds back (:data:`SUPPRESSED`) stay None."""
    m = mv.metrics
    out: dict[str, Any] = {}
    held = set(m.get(SUPPRESSED) or ())
    n_valid = m.get("n_valid")
    small = isinstance(n_valid, int | float) and n_valid < k
    for key in SCORE_KEYS:
        if key in held:
            out[key] = None
        elif isinstance(m.get(key), int | float):
            out[key] = None if small else round(float(m[key]), 4)
    for key in COUNT_KEYS_SHOWN:
        if key in held:
            out[key] = None
        elif isinstance(m.get(key), int | float):
            out[key] = suppress(int(m[key]), k)
    for key in ("epochs", "backend", "runtime"):
        if key in m:
            out[key] = m[key]
    return out


# ------------------------------------------------------------------ loss per epoch
COUNT_KEYS = ("n_valid", "n_train")


def _counts(source: Mapping[str, Any]) -> list[int]:
    out = [int(source[key]) for key in COUNT_KEYS if _count(source.get(key))]
    per_bank = source.get("bank_n_valid")
    if isinstance(per_bank, Mapping):
        out += [int(v) for v in per_bank.values() if _count(v)]
    return out


def _count(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v > 0


def loss_basis(
    progress: Sequence[Mapping[str, Any]], metrics: Mapping[str, Any] | None = None
) -> int | None:
    """The fewest enterprises the run's loss per epoch may be computed on, or None (unknown).

    An algorithm computes it on the validation rows (``n_valid``), or on the training rows
    (``n_train``) when it holds no validation split; a FedAvg round on the training rows of
    the banks sampled that round (each bank's validation count, ``bank_n_valid``, stands in
    for its training count: with a validation share below one half it is the smaller). So
    the basis is the smallest positive count of these that the run reported:
    in a recorded progress entry that carries them or, once the run has finished, in its
    model's metrics.
    """
    counts = [n for entry in progress for n in _counts(entry)]
    counts += _counts(metrics or {})
    return min(counts) if counts else None


@dataclass(frozen=True)
class LossCurve:
    """The loss per epoch as the sandbox may show it: ``losses`` is None unless the loss is
    known to be computed on at least k enterprises (``basis``)."""

    n_epochs: int
    basis: int | None
    losses: tuple[float, ...] | None


def loss_curve(
    progress: Sequence[Mapping[str, Any]], metrics: Mapping[str, Any] | None, k: int
) -> LossCurve:
    """The recorded losses (epochs and SecureBoost trees, in order), shown only when their
    basis (:func:`loss_basis`) is known and reaches ``k``; an unknown basis shows nothing,
    like a model curve without counts."""
    losses = tuple(
        float(p["loss"])
        for p in progress
        if isinstance(p.get("loss"), int | float) and not isinstance(p["loss"], bool)
    )
    basis = loss_basis(progress, metrics)
    shown = basis is not None and basis >= k
    return LossCurve(len(losses), basis, losses if shown else None)


def compare_rows(a: ModelVersionPublic, b: ModelVersionPublic, k: int) -> list[dict[str, Any]]:
    """Headline metrics of two versions side by side."""
    ha, hb = headline_metrics(a, k), headline_metrics(b, k)
    keys = [
        key
        for key in ("auc", "ks", "n_aligned", "n_train", "n_valid", "epochs", "backend")
        if key in ha or key in hb
    ]

    def cell(h: dict[str, Any], key: str) -> str:
        if key not in h:
            return ""
        return f"<{k}" if h[key] is None else str(h[key])

    return [
        {
            "metric": key,
            f"{a.name} v{a.version}": cell(ha, key),
            f"{b.name} v{b.version}": cell(hb, key),
        }
        for key in keys
    ]


__all__ = [
    "Bands",
    "COUNT_KEYS",
    "COUNT_KEYS_SHOWN",
    "LossCurve",
    "SCORE_KEYS",
    "SUPPRESSED",
    "SampleStats",
    "compare_rows",
    "headline_metrics",
    "last_aligned_by_sample",
    "loss_basis",
    "loss_curve",
    "merge_bands",
    "min_cell",
    "model_bands",
    "release_metrics",
    "release_model",
    "sample_stats",
]
