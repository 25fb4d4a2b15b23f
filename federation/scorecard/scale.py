"""The scorecard's automatic points scale (``scaling = "auto"``, the default).

A fixed scale (600 points at good:bad odds of 15:1, PDO 40) fits one portfolio and not the
next: on the Taiwan credit data the best customers' odds stay under 35:1, so grade A
(650 and above) stays empty, while on a strongly separated portfolio most enterprises pile
up in A. ``auto`` fits the scale to the model instead: after the LR, the guest, who holds
the joint log-odds of its validation rows (hetero LR's evaluation), maps the mean log-odds
of the riskiest ``m`` of them to ``min_score`` plus a margin and the mean of the safest ``m``
to ``max_score`` minus the margin (``m``: 2% of the validation rows, at least k). The fitted
scale is reported as usual — base score (the middle of the range), the odds at that score
and the PDO — and every party turns its weights into points with it, as with a fixed scale.

``sc.scale`` (coordinator → guest: the range, the margin share, k). The guest replies three
public numbers: base score, base odds, PDO. They reveal two means of at least k validation
log-odds each (the ends of the score histogram the report shows anyway); nothing per
enterprise. No host takes part.
"""

from __future__ import annotations

import math

import numpy as np

from crypto.errors import DataValidationError, ProtocolError
from features import scorecard as S
from features.disclosure import DEFAULT_MIN_CELL
from federation.hetero_lr.state import find_state
from federation.party import PartyContext, register
from federation.partydata import party_k
from federation.roles import PartyRole
from federation.scorecard.messages import SCALE
from federation.transport import Payload

#: share of the validation rows averaged at each end of the scale
TAIL_SHARE = 0.02
#: share of the score range left free at each end
MARGIN_SHARE = 0.05


def fit_scale(
    z: np.ndarray,
    min_score: float,
    max_score: float,
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    tail_share: float = TAIL_SHARE,
    margin_share: float = MARGIN_SHARE,
) -> tuple[float, float, float]:
    """(base_score, base_odds, pdo) placing the mean of the ``m`` highest log-odds of default
    ``z`` at ``min_score + margin`` and the mean of the ``m`` lowest at ``max_score - margin``
    (``m = max(min_cell, tail_share * n)``); the base score is the middle of the range."""
    z = np.sort(np.asarray(z, dtype=np.float64))
    m = max(int(min_cell), math.ceil(tail_share * z.size))
    if z.size < 2 * m or not np.isfinite(z).all():
        raise DataValidationError(
            f"the automatic points scale needs at least {2 * m} validation enterprises "
            f"with finite scores, got {z.size}",
            hint='Give a fixed scale (scaling = "fixed" with base_score, base_odds, pdo).',
        )
    safe, risky = float(z[:m].mean()), float(z[-m:].mean())
    if not risky > safe:
        raise DataValidationError(
            "the automatic points scale needs scores that differ between enterprises; "
            "the model gives (nearly) the same score to all of them",
            hint="Check the features and the LR's convergence, or give a fixed scale.",
        )
    margin = margin_share * (max_score - min_score)
    factor = (max_score - min_score - 2 * margin) / (risky - safe)
    offset = min_score + margin + factor * risky  # score = offset - factor * z
    base_score = (min_score + max_score) / 2
    base_odds = math.exp((base_score - offset) / factor)  # offset = base - factor ln(odds)
    return base_score, base_odds, factor * math.log(2)


@register(SCALE)
def _scale(ctx: PartyContext, payload: Payload) -> Payload:
    if ctx.role != PartyRole.GUEST:
        raise ProtocolError(f"{SCALE!r} goes to the guest only, not {ctx.name!r}")
    lr = find_state(ctx)
    if lr is None or lr.valid_z is None:
        raise ProtocolError(f"guest {ctx.name!r}: {SCALE!r} before the LR's evaluation")
    base_score, base_odds, pdo = fit_scale(
        lr.valid_z,
        float(payload["min_score"]),
        float(payload["max_score"]),
        min_cell=party_k(ctx, int(payload["min_cell"])),
    )
    return {"base_score": base_score, "base_odds": base_odds, "pdo": pdo}


def auto_scaling(scaling: S.Scaling, reply: Payload) -> S.Scaling:
    """``scaling`` with the guest's fitted base score, base odds and PDO."""
    return S.Scaling(
        float(reply["base_score"]),
        float(reply["base_odds"]),
        float(reply["pdo"]),
        scaling.min_score,
        scaling.max_score,
        scaling.grades,
    )


__all__ = ["MARGIN_SHARE", "TAIL_SHARE", "auto_scaling", "fit_scale"]
