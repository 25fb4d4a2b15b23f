"""A :class:`Binning`: fine bins of one column and their merge into final bins.

Kept at the column's owner: edges and category values never leave the party; merges
decided elsewhere (by the guest, from aggregates) arrive as a ``mapping`` of bin numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from crypto.errors import ConfigError, DataValidationError
from features.woe.columns import Kind, missing_mask


@dataclass(frozen=True)
class Binning:
    """Fine bins of one column and their merge into final bins (kept at the owner)."""

    kind: Kind
    splits: tuple[float, ...] = ()  # numeric: fine bins between consecutive splits
    categories: tuple[tuple[str, ...], ...] = ()  # categorical: the values of each fine bin
    missing_bin: int | None = None  # fine bin of missing values, when fitted with some
    fallback: int = 0  # fine bin for missing (when none was fitted) and unseen categories
    mapping: tuple[int, ...] = ()  # fine bin -> final bin

    def __post_init__(self) -> None:
        if not self.mapping:
            object.__setattr__(self, "mapping", tuple(range(self.n_fine)))
        if len(self.mapping) != self.n_fine:
            raise ConfigError(
                f"a binning with {self.n_fine} fine bins got a mapping of "
                f"{len(self.mapping)} entries"
            )

    @property
    def n_fine(self) -> int:
        base = len(self.splits) + 1 if self.kind == "numeric" else len(self.categories)
        return base + (1 if self.missing_bin is not None else 0)

    @property
    def n_bins(self) -> int:
        return int(max(self.mapping)) + 1 if self.mapping else 0

    def fine_ids(self, values: np.ndarray) -> np.ndarray:
        """Fine bin of every value."""
        miss = missing_mask(values, self.kind)
        na_bin = self.missing_bin if self.missing_bin is not None else self.fallback
        if self.kind == "numeric":
            x = np.asarray(values, dtype=np.float64)
            ids = np.searchsorted(
                np.asarray(self.splits, dtype=np.float64), np.where(miss, 0.0, x), side="right"
            )
        else:
            lookup = {v: i for i, cats in enumerate(self.categories) for v in cats}
            ids = np.array([lookup.get(v, self.fallback) for v in values], dtype=np.int64)
        return np.where(miss, na_bin, ids).astype(np.int64)

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Final bin of every value."""
        return np.asarray(self.mapping, dtype=np.int64)[self.fine_ids(values)]

    def merged(self, groups: Sequence[int]) -> Binning:
        """Merge the current final bins: final bin ``b`` becomes ``groups[b]``."""
        g = np.asarray(groups, dtype=np.int64)
        if g.shape != (self.n_bins,):
            raise DataValidationError(
                f"a merge instruction names {g.shape[0]} bins; this feature has {self.n_bins}"
            )
        if set(g.tolist()) != set(range(int(g.max()) + 1)):
            raise DataValidationError("merge groups must be numbered 0..k-1 without gaps")
        return replace(self, mapping=tuple(int(v) for v in g[np.asarray(self.mapping)]))

    def final_splits(self) -> list[float]:
        """Numeric: the splits between final bins (fine splits where the final bin changes).
        Raises when a final bin is not one interval."""
        if self.kind != "numeric":
            raise DataValidationError("final_splits is for numeric binnings")
        m = [self.mapping[i] for i in range(len(self.splits) + 1)]
        if any(b < a for a, b in zip(m, m[1:], strict=False)):
            raise DataValidationError("these final bins are not intervals")
        return [self.splits[i - 1] for i in range(1, len(m)) if m[i] != m[i - 1]]

    def final_categories(self) -> list[list[str]]:
        """Categorical: the values of every final bin."""
        out: list[list[str]] = [[] for _ in range(self.n_bins)]
        for fine, cats in enumerate(self.categories):
            out[self.mapping[fine]].extend(cats)
        return out

    def labels(self) -> list[str]:
        """Readable description of every final bin (local: shows edges or values)."""
        parts: list[list[str]] = [[] for _ in range(self.n_bins)]
        for fine, final in enumerate(self.mapping):
            parts[final].append(self._fine_label(fine))
        return [" | ".join(p) for p in parts]

    def _fine_label(self, fine: int) -> str:
        if fine == self.missing_bin:
            return "missing"
        if self.kind == "numeric":
            lo = "-inf" if fine == 0 else f"{self.splits[fine - 1]:g}"
            hi = "inf" if fine == len(self.splits) else f"{self.splits[fine]:g}"
            return f"[{lo}, {hi})"
        cats = self.categories[fine]
        return "{" + ", ".join(cats) + "}" + (" + other" if fine == self.fallback else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "splits": list(self.splits),
            "categories": [list(c) for c in self.categories],
            "missing_bin": self.missing_bin,
            "fallback": self.fallback,
            "mapping": list(self.mapping),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Binning:
        return cls(
            kind=d["kind"],
            splits=tuple(float(s) for s in d.get("splits", ())),
            categories=tuple(tuple(str(v) for v in c) for c in d.get("categories", ())),
            missing_bin=d.get("missing_bin"),
            fallback=int(d.get("fallback", 0)),
            mapping=tuple(int(v) for v in d.get("mapping", ())),
        )


def with_splits(kind: Kind, splits: Sequence[float], values: np.ndarray) -> Binning:
    """A numeric binning on given splits (missing bin when ``values`` has missing cells)."""
    s = tuple(float(v) for v in sorted(set(float(x) for x in splits)))
    has_missing = bool(missing_mask(values, kind).any())
    return Binning(kind, splits=s, missing_bin=len(s) + 1 if has_missing else None)


__all__ = ["Binning", "with_splits"]
