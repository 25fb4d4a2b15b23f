"""What the 样本库 page shows of a count at the bank: the bank's bins, suppressed again at the
sandbox's own k (which may be larger than the k the bank applied).

Inputs are :class:`lab.sample_profiles.SampleProfile` values (aggregates the bank sent);
nothing here reads a party's file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lab.sample_profiles import SampleProfile
from sandbox_ui.queries import suppress_split


@dataclass(frozen=True)
class ShownBin:
    label: str
    total: int | None
    positive: int | None
    negative: int | None


def shown_bins(bins: Sequence[dict[str, Any]], k: int) -> list[ShownBin]:
    """Each bin with its total (None below k) and its split (only when both reach k)."""
    return [
        ShownBin(
            str(b.get("label", "")),
            *suppress_split(b.get("total"), b.get("positive"), b.get("negative"), k),
        )
        for b in bins
    ]


@dataclass(frozen=True)
class ShownCounts:
    n_total: int | None
    n_positive: int | None
    n_negative: int | None

    @property
    def positive_rate(self) -> float | None:
        if not self.n_total or self.n_positive is None:
            return None
        return self.n_positive / self.n_total


def shown_counts(prof: SampleProfile, k: int) -> ShownCounts:
    return ShownCounts(*suppress_split(prof.n_total, prof.n_positive, prof.n_negative, k))


__all__ = ["ShownBin", "ShownCounts", "shown_bins", "shown_counts"]
