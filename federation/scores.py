"""The guest's scores file: ``scores.csv`` in its own work dir, written by joint scoring.

Nothing here leaves the guest: the file holds, per aligned enterprise, its ID and the joint
score (hetero LR and SecureBoost: linear score or margin and probability; scorecard: joint
points, score, grade and probability); only its name goes back to the coordinator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crypto.atomic import atomic_open
from features.metrics import sigmoid
from features.scorecard import Scaling
from federation.party import PartyContext
from federation.partydata import aligned_ids, party_setup

SCORES_FILE = "scores.csv"


def write_scores(ctx: PartyContext, z: np.ndarray) -> int:
    """Guest: write ``scores.csv`` (aligned ID, linear score ``z``, probability) into its
    own work dir atomically; returns the number of rows. Nothing leaves the guest."""
    z = np.asarray(z, dtype=np.float64)
    return _write(ctx, {"score": z, "probability": sigmoid(z)})


def write_points(ctx: PartyContext, points: np.ndarray, scale: dict[str, Any]) -> int:
    """Guest, scorecard: ``scores.csv`` with the aligned ID, the joint points (sum over
    parties, unclipped), the score (points clipped to the scale), its grade and the
    probability of default ``1 / (1 + exp((points - offset) / factor))``. Returns the
    number of rows; nothing leaves the guest."""
    sc = Scaling.from_dict(scale)
    pts = np.asarray(points, dtype=np.float64)
    score = sc.clip(pts)
    return _write(
        ctx,
        {
            "points": pts,
            "score": score,
            "grade": sc.grade(score),
            "probability": sigmoid(-(pts - sc.offset) / sc.factor),
        },
    )


def _write(ctx: PartyContext, columns: dict[str, np.ndarray]) -> int:
    setup = party_setup(ctx)
    out = pd.DataFrame({setup.id_column: aligned_ids(ctx), **columns})
    with atomic_open(Path(ctx.work_dir) / SCORES_FILE, "text") as fh:
        out.to_csv(fh, index=False, lineterminator="\n")
    return int(out.shape[0])


def read_scores(work_dir: str | Path) -> pd.DataFrame:
    """The guest's scores file from its work dir (at the guest)."""
    return pd.read_csv(Path(work_dir) / SCORES_FILE, dtype={"uscc": str, "id": str})


__all__ = ["SCORES_FILE", "read_scores", "write_points", "write_scores"]
