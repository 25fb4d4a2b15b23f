"""Disclosure control: the minimum cell size k and the suppression rule, in one place.

Every aggregate about enterprises that leaves a party, or that a person sees, covers at
least ``k`` enterprises. k is one setting, defined here and nowhere else:
:data:`DEFAULT_MIN_CELL` (10) is the floor; the platform's setting ``FEDLAB_MIN_CELL``
(:func:`platform_min_cell`: the lab's settings, the coordinator and every party's process
read it), a party's node config ``min-cell`` and a run's ``[experiment] min_cell`` may only
raise it (:func:`raise_min_cell`, :func:`effective_min_cell`). A setting below the floor is
refused, never taken (a hostile config cannot lower k); a k a party *receives* (in a run's
setup) is raised to that party's own floor.

A smaller cell is suppressed (``None``) or merged with a neighbour. A count's
positive/negative split is released only when the total and both sides reach k, since
otherwise the difference from the total gives the small cell away. A run whose aligned
intersection, training or validation split holds fewer than k enterprises is refused before
training (:func:`require_min_cell`, :class:`crypto.errors.MinimumCellError`).

What this reveals, to whom: nothing by itself — it decides what the callers (protocols at
the parties, the lab's services, the sandbox) may release. Its errors name counts and k.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from crypto.errors import ConfigError, MinimumCellError

DEFAULT_MIN_CELL = 10
"""k's floor: the smallest number of enterprises an aggregate may describe (a common
small-cell rule of statistical offices; a setting may only raise it)."""

MIN_CELL_ENV = "FEDLAB_MIN_CELL"
"""The platform's k (environment variable of the lab, the coordinator and the parties)."""

MIN_CELL_NODE_CONFIG = "min-cell"
"""A party's own k (its SuperNode's node config), raising the platform's."""


def _as_k(value: Any, source: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{source} must be a whole number of enterprises, got a boolean")
    try:
        k = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{source} must be a whole number of enterprises",
            hint=f"Set it to at least {DEFAULT_MIN_CELL}, or leave it unset.",
        ) from None
    if isinstance(value, float) and value != k:
        raise ConfigError(f"{source} must be a whole number of enterprises, got {value}")
    return k


def raise_min_cell(base: int, override: Any, *, source: str) -> int:
    """``override`` (None: unset) as the new k over ``base``; it may only raise k.

    :class:`ConfigError` names ``source`` when ``override`` is not a whole number or lies
    below ``base`` (and so below :data:`DEFAULT_MIN_CELL`): a lower k is refused, not taken.
    """
    base = max(int(base), DEFAULT_MIN_CELL)
    if override is None or (isinstance(override, str) and not override.strip()):
        return base
    k = _as_k(override, source)
    if k < base:
        raise ConfigError(
            f"{source} = {k} would lower the minimum cell size below k = {base}; "
            "a setting may only raise k",
            hint=f"Remove the setting or give at least {base}.",
        )
    return k


def platform_min_cell(environ: Mapping[str, str] | None = None) -> int:
    """The platform's k: ``FEDLAB_MIN_CELL`` when set (at least the floor), else 10."""
    env = os.environ if environ is None else environ
    return raise_min_cell(DEFAULT_MIN_CELL, env.get(MIN_CELL_ENV), source=MIN_CELL_ENV)


def party_min_cell(node_config: Mapping[str, Any], requested: Any = None) -> int:
    """k at a party: the platform's, raised by its node config ``min-cell`` (a lower node
    config is refused), and raised (never lowered) by the k a run ``requested``."""
    own = raise_min_cell(
        platform_min_cell(),
        node_config.get(MIN_CELL_NODE_CONFIG),
        source=f"node config {MIN_CELL_NODE_CONFIG!r}",
    )
    try:
        asked = 0 if requested is None else int(requested)
    except (TypeError, ValueError):
        asked = 0
    return max(own, asked)


def effective_min_cell(*ks: int | None) -> int:
    """The largest of the platform's k and the given ones (None and smaller ones ignored):
    for a k that arrives from elsewhere and may only raise this process's own."""
    return max([platform_min_cell(), *(int(k) for k in ks if k is not None)])


def require_min_cell(counts: Mapping[str, int], k: int, *, where: str) -> None:
    """Refuse (:class:`MinimumCellError`) when any of ``counts`` is below ``k``.

    ``where`` names the run's step or party; the message names every count and k (counts
    are public facts of a run; no value of an enterprise is in it)."""
    small = {name: int(n) for name, n in counts.items() if int(n) < k}
    if small:
        shown = ", ".join(f"{name} = {int(n)}" for name, n in counts.items())
        raise MinimumCellError(
            f"{where}: {', '.join(small)} below the minimum cell size k = {k} ({shown}); "
            "the run is refused before training so that no aggregate over fewer than "
            f"{k} enterprises leaves a party"
        )


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


def merge_small_bins(counts: Any, k: int) -> list[int]:
    """Group ids of consecutive bins so that every group holds at least ``k`` of each
    column of ``counts`` (one row per bin: a count, or e.g. (bad, good) counts; one group
    when a column's total is smaller): the smallest failing group joins its smaller
    neighbour until none fails. Returns one group id (0, 1, ...) per bin."""
    c = np.asarray(counts, dtype=np.int64)
    c = c.reshape(len(c), -1)
    groups = [[i] for i in range(len(c))]
    sums = [c[i].copy() for i in range(len(c))]
    while len(groups) > 1:
        small = [g for g in range(len(groups)) if int(sums[g].min()) < k]
        if not small:
            break
        g = min(small, key=lambda i: (int(sums[i].min()), i))
        if g == 0:
            j = 1
        elif g == len(groups) - 1:
            j = g - 1
        else:
            j = g - 1 if int(sums[g - 1].sum()) <= int(sums[g + 1].sum()) else g + 1
        a, b = min(g, j), max(g, j)
        groups[a] = groups[a] + groups[b]
        sums[a] = sums[a] + sums[b]
        del groups[b], sums[b]
    out = [0] * len(c)
    for gid, members in enumerate(groups):
        for i in members:
            out[i] = gid
    return out


def hidden_cells(columns: Any, k: int, primary: Any) -> list[bool]:
    """Which cells of a table to hide so that none follows from the published total.

    ``columns``: one count vector per column (e.g. the rows' counts, or their bads and
    goods); ``primary``: the cells already hidden. Cells are then hidden in addition (the
    smallest visible non-empty one first) until, in every column, the hidden cells sum to
    0 or to at least ``k`` — so a total minus the shown cells never gives a small cell."""
    cols = [np.asarray(v, dtype=np.int64).ravel() for v in columns]
    hide = np.asarray(primary, dtype=bool).copy()
    changed = True
    while changed:
        changed = False
        for v in cols:
            held = int(v[hide].sum())
            if 0 < held < k:
                visible = np.flatnonzero(~hide & (v > 0))
                if visible.size == 0:
                    continue
                hide[visible[np.argmin(v[visible])]] = True
                changed = True
    return [bool(h) for h in hide]


__all__ = [
    "DEFAULT_MIN_CELL",
    "MIN_CELL_ENV",
    "MIN_CELL_NODE_CONFIG",
    "effective_min_cell",
    "hidden_cells",
    "merge_small_bins",
    "party_min_cell",
    "platform_min_cell",
    "raise_min_cell",
    "require_min_cell",
    "suppress",
    "suppress_split",
]
