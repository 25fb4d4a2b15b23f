"""A party's model piece at scoring time: which algorithm wrote it, and the party's part of
a joint score for its aligned rows of new data.

Each party keeps its piece in its own directory (``DIR/parties/NAME/`` of a local or
simulation training run; on a SuperNode the training run's folder ``runs/<run id>`` in its
work dir, see :func:`piece_folder`):

* ``hetero_lr``: ``model.json`` — feature names, the fitted table encoding (medians,
  categories, frequency shares of the training rows), the standardizer and the weights;
* ``scorecard``: ``scorecard.json`` — per selected feature its binning (edges or category
  sets, missing and fallback bins) and points per bin, the scale, and at the guest the base
  points (``model.json`` next to it is the LR on WOE it was scaled from);
* ``secureboost``: ``model.json`` — bin edges and trees or split lookups.

Everything here runs at the party on its own files: nothing leaves the party. The values
returned (a partial linear score, partial points) are what ``federation.scoring`` masks
before they leave a host.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from crypto.errors import ConfigError, DataValidationError, ProtocolError
from features.scorecard import POINTS_FILE
from federation.party import PartyContext

MODEL_FILE = "model.json"
#: the file holding each algorithm's piece
PIECE_FILES: dict[str, str] = {
    "hetero_lr": MODEL_FILE,
    "secureboost": MODEL_FILE,
    "scorecard": POINTS_FILE,
}


def _tag(path: Path, party: str) -> str | None:
    try:
        algo = json.loads(path.read_text(encoding="utf-8")).get("algorithm")
    except (OSError, ValueError, AttributeError):
        raise ConfigError(
            f"party {party!r}: its model piece {path.name!r} is not readable JSON",
            hint="Point --model at an intact training run.",
        ) from None
    return None if algo is None else str(algo)


def piece_algorithm(piece_dir: str | Path, party: str = "?") -> str | None:
    """The algorithm whose piece ``piece_dir`` holds (``scorecard.json`` wins over the LR
    piece beside it), or ``None`` when it holds none."""
    d = Path(piece_dir)
    if (d / POINTS_FILE).is_file():
        return _tag(d / POINTS_FILE, party)
    if (d / MODEL_FILE).is_file():
        return _tag(d / MODEL_FILE, party)
    return None


def require_piece(party: str, piece_dir: str | Path, algorithm: str) -> Path:
    """The path of ``party``'s piece for ``algorithm`` in ``piece_dir``; a
    :class:`ConfigError` naming the party and the file when it is missing or was written by
    another algorithm."""
    d = Path(piece_dir)
    if algorithm not in PIECE_FILES:
        raise ConfigError(
            f"models of algorithm {algorithm!r} cannot be scored jointly",
            hint=f"Score one of {sorted(PIECE_FILES)}.",
        )
    file = PIECE_FILES[algorithm]
    found = piece_algorithm(d, party)
    where = f"{d.name}/{file}"
    if found is None:
        raise ConfigError(
            f"party {party!r}: no model piece {where!r} (a {algorithm} model "
            "needs a piece at every party)",
            hint="Point --model at the training run's DIR, or train again.",
        )
    if found != algorithm:
        have = f"{d.name}/{PIECE_FILES.get(found, MODEL_FILE)}"
        hint = "Every party's piece must come from the same training run."
        if not (d / file).is_file():
            raise ConfigError(
                f"party {party!r}: no model piece {where!r} for the "
                f"{algorithm!r} model to score; its folder holds {have!r}, "
                f"written by {found!r}",
                hint=hint,
            )
        raise ConfigError(
            f"party {party!r}: its model piece {have!r} was written by "
            f"{found!r}, but the model to score is {algorithm!r}",
            hint=hint,
        )
    return d / file


def piece_folder(ctx: PartyContext, ref: object) -> Path:
    """The folder holding this party's piece of the model to score, from ``ref`` (the
    ``model_ref`` the coordinator sent): an absolute folder (a training run's
    ``DIR/parties/NAME``, or a run folder on a local federation) when it exists; a run folder
    relative to this SuperNode's work dir (``runs/<run id>``, nothing else); without
    either, the party's work dir."""
    from federation.runtime.state import RUNS_DIRNAME, run_folder

    if not ref:
        return Path(ctx.work_dir)
    path = Path(str(ref))
    if path.is_absolute():
        return path if path.is_dir() else Path(ctx.work_dir)
    parts = path.parts
    if (
        ctx.home is None
        or len(parts) != 2
        or parts[0] != RUNS_DIRNAME
        or run_folder(ctx.home, parts[1]) != ctx.home / path
    ):
        raise ProtocolError(
            f"party {ctx.name!r}: model piece folder {str(ref)!r} is not a run "
            "folder of a SuperNode's work dir",
            hint="Score with the training run's DIR (its location.json).",
        )
    return ctx.home / path


def lr_partial(party: str, piece_dir: Path, table: pd.DataFrame) -> np.ndarray:
    """This party's share ``x w`` (the guest's with the intercept) of the linear score of
    every row of ``table`` (its aligned rows), encoded with the training encoding."""
    from features.encoding import TableEncoder
    from federation.hetero_lr import load_piece

    require_piece(party, piece_dir, "hetero_lr")
    piece = load_piece(piece_dir)
    if piece.encoder is None:
        X = _plain_columns(party, piece.feature_names, table)
    else:
        enc = TableEncoder.from_dict(piece.encoder)
        if enc.feature_names != list(piece.feature_names):
            raise ConfigError(
                f"party {party!r}: {MODEL_FILE} holds an encoding whose columns "
                "differ from its weights' features",
                hint="Train the model again.",
            )
        X = enc.transform(table)
    return piece.partial_score(X)


def _plain_columns(party: str, names: list[str], table: pd.DataFrame) -> np.ndarray:
    """A piece saved without its encoding: every feature must be a complete numeric column
    of the table (nothing is re-estimated from the rows being scored)."""
    lacking = [
        n for n in names if n not in table.columns or not pd.api.types.is_numeric_dtype(table[n])
    ]
    if lacking:
        raise DataValidationError(
            f"party {party!r}: its {MODEL_FILE} keeps no table encoding and features "
            f"{lacking} are not numeric columns of the table to score",
            hint="Train the model again: new pieces keep their training encoding.",
        )
    X = table[list(names)].to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(X).any():
        bad = [n for j, n in enumerate(names) if np.isnan(X[:, j]).any()]
        raise DataValidationError(
            f"party {party!r}: columns {bad} have missing cells and its {MODEL_FILE} keeps "
            "no training medians to impute them",
            hint="Train the model again: new pieces keep their training encoding.",
        )
    return X


def scorecard_points(party: str, piece_dir: Path, table: pd.DataFrame) -> tuple[np.ndarray, dict]:
    """This party's points (features + base) for every row of ``table``, and its scale."""
    from features.scorecard import load_points

    require_piece(party, piece_dir, "scorecard")
    points = load_points(piece_dir)
    return points.row_points(table), dict(points.scaling)


__all__ = [
    "MODEL_FILE",
    "PIECE_FILES",
    "lr_partial",
    "piece_algorithm",
    "piece_folder",
    "require_piece",
    "scorecard_points",
]
