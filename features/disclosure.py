"""Disclosure control: the minimum cell size k and the suppression rule, in one place.

Every aggregate about enterprises that leaves a party, or that a person sees, covers at
least ``k`` enterprises (:data:`DEFAULT_MIN_CELL`, 10, unless a setting raises it: a
party's node config ``min-cell``, the lab's ``FEDLAB_MIN_CELL``). A smaller cell is
suppressed (``None``). A count's positive/negative split is released only when the total
and both sides reach k, since otherwise the difference from the total gives the small cell
away. What this reveals, to whom: nothing by itself — it decides what the callers
(protocols at the parties, the lab's services, the sandbox) may release.
"""

from __future__ import annotations

DEFAULT_MIN_CELL = 10
"""k: the smallest number of enterprises an aggregate may describe (a common small-cell
rule of statistical offices; a party or the lab may only raise it)."""


def suppress(n: int | None, k: int) -> int | None:
    """``n`` when it aggregates at least ``k`` enterprises, else None."""
    return None if n is None or n < k else int(n)


def suppress_split(
    total: int | None, positive: int | None, negative: int | None, k: int
) -> tuple[int | None, int | None, int | None]:
    """``total`` (None below k) and the positive/negative split, shown only when the total
    and both sides reach k (else both None)."""
    total, pos, neg = suppress(total, k), suppress(positive, k), suppress(negative, k)
    if total is None or pos is None or neg is None:
        return total, None, None
    return total, pos, neg


__all__ = ["DEFAULT_MIN_CELL", "suppress", "suppress_split"]
