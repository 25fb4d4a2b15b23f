"""This party's aligned rows as SecureBoost reads them: encoded, then binned locally.

Nothing here leaves the party. Each party bins its own features with its own quantile
edges; only the number of bins per feature is sent (setup), the edges never leave it. At
scoring, a party encodes and bins the rows to score with the encoding and edges kept in its
own model piece.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from crypto.errors import ConfigError, DataValidationError
from features.binning import QuantileBinner
from features.encoding import TableEncoder
from federation.party import PartyContext
from federation.partydata import SETUP_KEY, aligned_matrix, aligned_table


def matrix(ctx: PartyContext) -> Any:
    """This party's aligned, locally encoded features (``federation.partydata``)."""
    return aligned_matrix(ctx)


def bin_matrix(ctx: PartyContext, max_bins: int) -> tuple[Any, QuantileBinner, np.ndarray]:
    """The aligned matrix, the quantile binner fitted on it, and its bin indices."""
    m = matrix(ctx)
    X = np.asarray(m.X, dtype=np.float64)
    binner = QuantileBinner(max_bins).fit(X)
    return m, binner, binner.transform(X)


def scoring_matrix(ctx: PartyContext, piece: dict[str, Any]) -> np.ndarray:
    """The aligned rows encoded with the training encoding kept in the piece (a row gets
    the same features alone or in a batch); a piece saved before encodings were kept, or a
    party whose matrix does not come from its data file, encodes the scored rows themselves."""
    names = [str(f) for f in piece["feature_names"]]
    if not piece.get("encoder") or SETUP_KEY not in ctx.state:
        return _model_columns(ctx, matrix(ctx), names)
    enc = TableEncoder.from_dict(piece["encoder"])
    if enc.feature_names != names:
        raise ConfigError(
            f"party {ctx.name!r}: its SecureBoost piece holds an encoding whose "
            "columns differ from the model's features",
            hint="Train the model again.",
        )
    return np.asarray(enc.transform(aligned_table(ctx)), dtype=np.float64)


def _model_columns(ctx: PartyContext, m: Any, names: Sequence[str]) -> np.ndarray:
    """The scoring rows' features in the model's column order.

    A one-hot level or missing flag the new rows do not produce is 0; any other column the
    model needs and the data lacks is an error naming it."""
    have = {str(n): j for j, n in enumerate(m.feature_names)}
    X = np.asarray(m.X, dtype=np.float64)
    out = np.empty((X.shape[0], len(names)))
    lacking = []
    for j, name in enumerate(names):
        if name in have:
            out[:, j] = X[:, have[name]]
        elif "=" in name or name.endswith("__missing"):
            out[:, j] = 0.0
        else:
            lacking.append(name)
    if lacking:
        raise DataValidationError(
            f"party {ctx.name!r}: the scoring data lacks the model's feature(s) {lacking}",
            hint="Score data with the training columns.",
        )
    return out


__all__ = ["bin_matrix", "matrix", "scoring_matrix"]
