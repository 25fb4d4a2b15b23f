"""WOE and IV per bin from event and row counts (see the conventions in ``features.woe``).

Pure arithmetic on aggregates: whoever holds the per-bin counts (the guest, after the
federated protocol) computes these; no row-level data is needed or revealed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from crypto.errors import DataValidationError

#: pseudo-count added to every bin's events and non-events when some bin has none of one
SMOOTHING = 0.5


@dataclass(frozen=True)
class WoeTable:
    """WOE and IV of one feature's final bins."""

    counts: np.ndarray
    events: np.ndarray
    woe: np.ndarray
    iv_bins: np.ndarray

    @property
    def iv(self) -> float:
        return float(self.iv_bins.sum())

    @property
    def event_rate(self) -> np.ndarray:
        return self.events / np.maximum(self.counts, 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts.tolist(),
            "events": self.events.tolist(),
            "woe": self.woe.tolist(),
            "iv": self.iv,
        }


def woe_iv(events: np.ndarray, counts: np.ndarray) -> WoeTable:
    """WOE and IV per bin from event counts and row counts (see the module conventions).

    When some bin has no event or no non-event, :data:`SMOOTHING` is added to every bin's
    events and non-events (the merge rules below avoid such bins).
    """
    ev = np.asarray(events, dtype=np.float64)
    n = np.asarray(counts, dtype=np.float64)
    ne = n - ev
    if ev.sum() <= 0 or ne.sum() <= 0:
        raise DataValidationError(
            "WOE needs both classes among the rows: the label has "
            f"{ev.sum():.0f} events and {ne.sum():.0f} non-events"
        )
    e_, ne_ = ev, ne
    if (ev <= 0).any() or (ne <= 0).any():
        e_, ne_ = ev + SMOOTHING, ne + SMOOTHING
    pe, pn = e_ / e_.sum(), ne_ / ne_.sum()
    woe = np.log(pn / pe)
    return WoeTable(n.astype(np.int64), ev.astype(np.int64), woe, (pn - pe) * woe)


def woe_from_ids(bin_ids: np.ndarray, y: np.ndarray, n_bins: int) -> WoeTable:
    """Centralized WOE/IV: the same numbers from the rows themselves."""
    ids = np.asarray(bin_ids, dtype=np.int64)
    counts = np.bincount(ids, minlength=n_bins)
    events = np.bincount(ids, weights=np.asarray(y, dtype=np.float64), minlength=n_bins)
    return woe_iv(np.rint(events), counts)


__all__ = ["SMOOTHING", "WoeTable", "woe_from_ids", "woe_iv"]
