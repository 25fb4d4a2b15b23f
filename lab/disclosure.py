"""The lab's face of disclosure control: k and the suppression rule for SDK, CLI and
sandbox, the one implementation in :mod:`features.disclosure` (which the parties use too).
What it reveals: nothing; it decides what the lab's readers may be shown."""

from __future__ import annotations

from features.disclosure import DEFAULT_MIN_CELL, suppress, suppress_split

__all__ = ["DEFAULT_MIN_CELL", "suppress", "suppress_split"]
