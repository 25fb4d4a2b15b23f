"""Scorecard points: scaling a logistic regression on WOE to points, grades, points tables.

Runs at one party on its own model piece; nothing leaves the party here. The scale is the
usual one: ``score = offset - factor * z`` where ``z`` is the model's log-odds of default,
``factor = PDO / ln 2`` and ``offset = base_score - factor * ln(base_odds)`` (``base_odds``
are good:bad odds at ``base_score``; every ``PDO`` points double the odds). The default scale
is the one a provincial platform publishes: 400-700, grades A (best) to F.

With ``z = b + sum_j w_j (woe_j - mean_j) / scale_j`` (hetero LR on standardized WOE), the
points of bin ``i`` of feature ``j`` are ``-factor * w_j * (woe_ij - mean_j) / scale_j`` and
the guest's base points ``offset - factor * b``: a party's points depend on its own model
piece only, and a score is the sum of every party's points. A points table keeps each
feature's binning, so a party can score new rows of its own data
(:meth:`PointsTable.row_points`) exactly as the training rows were binned.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crypto.atomic import atomic_write_text
from crypto.errors import ConfigError, DataValidationError
from features.disclosure import hidden_cells
from features.woe import Binning, column_values

DEFAULT_GRADES: tuple[tuple[str, float], ...] = (
    ("A", 650.0),
    ("B", 600.0),
    ("C", 550.0),
    ("D", 500.0),
    ("E", 450.0),
    ("F", -math.inf),
)
POINTS_FILE = "scorecard.json"


@dataclass(frozen=True)
class Scaling:
    """Points scale: base score at base odds, points to double the odds, range, grades."""

    base_score: float = 600.0
    base_odds: float = 15.0
    pdo: float = 40.0
    min_score: float = 400.0
    max_score: float = 700.0
    grades: tuple[tuple[str, float], ...] = DEFAULT_GRADES  # (grade, lowest score), best first

    def __post_init__(self) -> None:
        if self.pdo <= 0 or self.base_odds <= 0:
            raise ConfigError(
                f"pdo and base_odds must be positive, got pdo={self.pdo}, "
                f"base_odds={self.base_odds}"
            )
        if self.min_score >= self.max_score:
            raise ConfigError(
                f"min_score {self.min_score} must be below max_score {self.max_score}"
            )
        lows = [g[1] for g in self.grades]
        if not self.grades or any(b >= a for a, b in zip(lows, lows[1:], strict=False)):
            raise ConfigError("grades must be listed best first with decreasing lowest scores")

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def score(self, logit: np.ndarray) -> np.ndarray:
        """Scores (clipped to the scale) from log-odds of default."""
        raw = self.offset - self.factor * np.asarray(logit, dtype=np.float64)
        return np.clip(raw, self.min_score, self.max_score)

    def clip(self, raw: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(raw, dtype=np.float64), self.min_score, self.max_score)

    def grade(self, scores: np.ndarray) -> np.ndarray:
        """The grade letter of every score."""
        s = np.asarray(scores, dtype=np.float64)
        out = np.full(s.shape, self.grades[-1][0], dtype=object)
        for name, low in reversed(self.grades):
            out[s >= low] = name
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["grades"] = [[g, (None if math.isinf(v) else v)] for g, v in self.grades]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scaling:
        d = dict(d)
        if "grades" in d:
            d["grades"] = tuple(
                (str(g), -math.inf if v is None else float(v)) for g, v in d["grades"]
            )
        return cls(**d)


def feature_points(
    woe: np.ndarray, weight: float, mean: float, scale: float, scaling: Scaling
) -> np.ndarray:
    """Points of every bin of one feature."""
    return -scaling.factor * weight * (np.asarray(woe, dtype=np.float64) - mean) / scale


def base_points(intercept: float, scaling: Scaling) -> float:
    """The guest's base points (intercept and offset)."""
    return scaling.offset - scaling.factor * intercept


@dataclass(frozen=True)
class FeaturePoints:
    name: str
    bins: list[str]  # local bin descriptions (edges/values): never leave the party
    woe: list[float]
    points: list[float]
    #: the fitted binning (``features.woe.Binning.to_dict``: edges or values per bin, the
    #: missing and fallback bins): scoring bins new rows with it; never leaves the party
    binning: dict[str, Any] | None = None

    def bin_ids(self, col: pd.Series) -> np.ndarray:
        """Final bin of every value of the raw column ``col``, as at training: a missing
        value goes to the missing bin (or, when training had no missing value, to the
        fallback bin), a value beyond the training range to the first or last bin, an
        unseen category to the fallback ("other") bin."""
        if self.binning is None:
            raise DataValidationError(
                f"the points table of feature {self.name!r} holds no "
                "binning (written before binnings were kept)",
                hint="Train the scorecard again to score new rows.",
            )
        b = Binning.from_dict(self.binning)
        ids = b.transform(column_values(col, b.kind))
        if ids.size and int(ids.max()) >= len(self.points):
            raise DataValidationError(
                f"feature {self.name!r}: its binning has more bins than points",
                hint="Train the scorecard again.",
            )
        return ids


@dataclass(frozen=True)
class PointsTable:
    """One party's part of a scorecard: its features' points per bin (kept at the party)."""

    party: str
    role: str
    scaling: dict[str, Any]
    features: list[FeaturePoints]
    base: float = 0.0  # guest only

    def row_points(self, df: pd.DataFrame) -> np.ndarray:
        """Every row's points from this party's features (raw columns of ``df``) plus the
        base points: this party's part of the joint score. Local arithmetic only."""
        lacking = [f.name for f in self.features if f.name not in df.columns]
        if lacking:
            raise DataValidationError(
                f"party {self.party!r}: columns {lacking} of its "
                "scorecard are not in the table to score",
                hint="Score with a table holding the training columns.",
            )
        total = np.full(len(df), float(self.base))
        for f in self.features:
            total += np.asarray(f.points, dtype=np.float64)[f.bin_ids(df[f.name])]
        return total

    def frame(self) -> pd.DataFrame:
        rows = [
            {"feature": f.name, "bin": b, "woe": w, "points": p}
            for f in self.features
            for b, w, p in zip(f.bins, f.woe, f.points, strict=False)
        ]
        return pd.DataFrame(rows, columns=["feature", "bin", "woe", "points"])

    def summary(self, public_names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Public summary: per feature its id, number of bins and points range."""
        names = list(public_names) if public_names is not None else [f.name for f in self.features]
        return [
            {
                "id": n,
                "n_bins": len(f.points),
                "min_points": round(min(f.points), 2),
                "max_points": round(max(f.points), 2),
            }
            for n, f in zip(names, self.features, strict=False)
        ]


def save_points(work_dir: Path, table: PointsTable) -> Path:
    """Write ``scorecard.json`` into the party's work dir (atomically)."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / POINTS_FILE
    atomic_write_text(
        path,
        json.dumps({"algorithm": "scorecard", **asdict(table)}, indent=2, ensure_ascii=False),
        mode=0o644,
    )
    return path


def load_points(work_dir: Path) -> PointsTable:
    """Read a party's ``scorecard.json`` (its points table and binnings)."""
    path = Path(work_dir) / POINTS_FILE
    if not path.is_file():
        raise DataValidationError(
            f"no scorecard points table {POINTS_FILE} in {Path(work_dir).name}/",
            hint='Train a scorecard first (algorithm = "scorecard").',
        )
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.pop("algorithm", None) != "scorecard":
        raise DataValidationError(
            f"{POINTS_FILE} in {Path(work_dir).name}/ is not a scorecard points table"
        )
    raw["features"] = [FeaturePoints(**f) for f in raw["features"]]
    return PointsTable(**raw)


@dataclass(frozen=True)
class GradeRow:
    grade: str
    low: float
    count: int | None
    share: float | None
    bad_rate: float | None = None


def grade_table(
    scores: np.ndarray, scaling: Scaling, y: np.ndarray | None = None, *, min_cell: int = 1
) -> list[GradeRow]:
    """Rows per grade: lowest score, count, share and (with labels) bad rate.

    A grade holding fewer than ``min_cell`` enterprises (but some) shows none of them:
    count, share and bad rate are ``None`` (an empty grade shows its zero count); more
    grades are hidden while the hidden ones hold fewer than ``min_cell`` together, so the
    total minus the shown grades gives no small count away. A bad rate (the grade's
    positive/negative split) is shown only when its bad and good enterprises both reach
    ``min_cell``, with the same rule for the hidden ones' bads and goods."""
    g = scaling.grade(scores)
    n = max(1, len(g))
    yy = None if y is None else np.asarray(y, dtype=np.float64)
    masks = [g == name for name, _ in scaling.grades]
    counts = np.array([int(m.sum()) for m in masks], dtype=np.int64)
    hide = hidden_cells([counts], min_cell, (counts > 0) & (counts < min_cell))
    hide_rate = list(hide)
    if yy is not None:
        bads = np.array([int(yy[m].sum()) for m in masks], dtype=np.int64)
        goods = counts - bads
        small = (counts > 0) & ((bads < min_cell) | (goods < min_cell))
        hide_rate = hidden_cells([bads, goods], min_cell, small | np.asarray(hide))
    out = []
    for (name, low), m, k, hidden, no_rate in zip(
        scaling.grades, masks, counts, hide, hide_rate, strict=True
    ):
        if hidden:
            out.append(GradeRow(name, low, None, None, None))
            continue
        bad = None
        if yy is not None and k and not no_rate:
            bad = float(yy[m].mean())
        out.append(GradeRow(name, low, int(k), float(k / n), bad))
    return out


def format_grade_table(rows: Sequence[GradeRow], scaling: Scaling) -> str:
    """The grade table as text (grade, score range, count, share, bad rate); a suppressed
    grade (fewer enterprises than the minimum cell size) reads ``<k``."""
    lines = ["grade  scores     count   share  bad_rate"]
    highs = [scaling.max_score] + [r.low for r in rows[:-1]]
    for r, hi in zip(rows, highs, strict=True):
        lo = max(r.low, scaling.min_score)
        br = "-" if r.bad_rate is None else f"{r.bad_rate:.3f}"
        if r.count is None or r.share is None:
            lines.append(f"{r.grade:<6} {lo:>3.0f}-{hi:<5.0f} {'<k':>7} {'-':>6}  {br:>8}")
        else:
            lines.append(
                f"{r.grade:<6} {lo:>3.0f}-{hi:<5.0f} {r.count:>7d} {r.share:>6.1%}  {br:>8}"
            )
    return "\n".join(lines)


__all__ = [
    "DEFAULT_GRADES",
    "FeaturePoints",
    "GradeRow",
    "POINTS_FILE",
    "PointsTable",
    "Scaling",
    "base_points",
    "feature_points",
    "format_grade_table",
    "grade_table",
    "load_points",
    "save_points",
]
