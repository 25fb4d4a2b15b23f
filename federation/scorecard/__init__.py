"""``algorithm = "scorecard"``: federated binning, selection, hetero LR on WOE, points.

Steps (message by message in docs/protocols/woe_scorecard.md):

1. alignment (``federation.alignment``);
2. federated WOE/IV (``federation.scorecard.woe``): guest bins its own columns with optimal
   monotonic binning, hosts bin theirs without labels; the guest learns per-bin counts of host bins
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

Modules: ``messages`` (actions), ``params`` (``[params]``), ``woe_state`` (typed binning
state, a party's columns), ``woe`` (binning handlers), ``woe_driver`` (the coordinator's
binning and PSI), ``points`` (selection, points and report handlers; the WOE matrix source
of hetero LR), ``driver`` (the scorecard driver). Dependencies point one way: the
scorecard uses hetero LR, never the reverse.
"""

from federation.scorecard import points, scale, woe  # noqa: F401 - registers the party handlers
from federation.scorecard.driver import drive, no_alignment
from federation.scorecard.messages import (
    APPLY,
    BIN,
    MERGE,
    POINTS,
    PSI,
    REPORT,
    SELECT,
    SUMS,
)
from federation.scorecard.params import (
    ScorecardParams,
    WoeParams,
    parse_scorecard_params,
    parse_woe_params,
)
from federation.scorecard.points import (
    POINTS_BASE,
    POINTS_PREFIX,
    PTS_FRAC_BITS,
    WOE_SOURCE,
    ScorecardState,
    bank_points,
    score_curves,
    scorecard_state,
    woe_lr_matrix,
)
from federation.scorecard.woe_driver import WoeOutcome, federated_psi, federated_woe
from federation.scorecard.woe_state import (
    WoeState,
    binnings,
    party_columns,
    woe_matrix_of,
    woe_state,
    woe_values,
)

__all__ = [
    "APPLY",
    "BIN",
    "MERGE",
    "POINTS",
    "POINTS_BASE",
    "POINTS_PREFIX",
    "PSI",
    "PTS_FRAC_BITS",
    "REPORT",
    "SELECT",
    "SUMS",
    "WOE_SOURCE",
    "ScorecardParams",
    "ScorecardState",
    "WoeOutcome",
    "WoeParams",
    "WoeState",
    "bank_points",
    "binnings",
    "drive",
    "federated_psi",
    "federated_woe",
    "no_alignment",
    "parse_scorecard_params",
    "parse_woe_params",
    "party_columns",
    "score_curves",
    "scorecard_state",
    "woe_lr_matrix",
    "woe_matrix_of",
    "woe_state",
    "woe_values",
]
