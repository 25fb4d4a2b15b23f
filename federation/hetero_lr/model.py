"""Hetero LR model pieces: what one party keeps after training, and how it scores.

A piece never leaves its party: it holds the party's own feature names, its table
encoding, standardiser and weights (and, at the guest, the intercept and the public
metrics). ``fedlab score`` sums the parties' partial scores through the scoring protocol.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crypto.atomic import atomic_write_text
from crypto.errors import DataValidationError

MODEL_FILE = "model.json"


@dataclass(frozen=True)
class ModelPiece:
    """What one party keeps after training: its own features' part of the model."""

    party: str
    role: str
    backend: str
    feature_names: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    intercept: float | None = None  # guest only
    metrics: dict[str, Any] = field(default_factory=dict)  # guest only
    #: the fitted table encoding (``features.encoding.TableEncoder.to_dict``): scoring
    #: encodes new rows with the training rows' medians, categories and shares
    encoder: dict[str, Any] | None = None

    def partial_score(self, X: np.ndarray) -> np.ndarray:
        """This party's share of the linear score for raw (locally encoded) rows ``X``."""
        X = np.asarray(X, dtype=np.float64)
        mean, scale = np.asarray(self.mean), np.asarray(self.scale)
        Z = (X - mean) / scale
        out = Z @ np.asarray(self.weights, dtype=np.float64)
        scores: np.ndarray = out + (self.intercept or 0.0)
        return scores


def save_piece(work_dir: Path, piece: ModelPiece) -> Path:
    """Write ``model.json`` into ``work_dir`` atomically (``crypto.atomic``)."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / MODEL_FILE
    atomic_write_text(path, json.dumps({"algorithm": "hetero_lr", **asdict(piece)}, indent=2))
    return path


def load_piece(work_dir: Path) -> ModelPiece:
    """Read a party's hetero LR model piece from ``work_dir``."""
    path = Path(work_dir) / MODEL_FILE
    if not path.is_file():
        raise DataValidationError(
            f"no hetero LR model piece at {path}", hint="Train the model first (fedlab train)."
        )
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.pop("algorithm", None) != "hetero_lr":
        raise DataValidationError(f"{path} is not a hetero LR model piece")
    return ModelPiece(**raw)


__all__ = ["MODEL_FILE", "ModelPiece", "load_piece", "save_piece"]
