"""Checks that several algorithms' ``[params]`` models share (batch size, CKKS profile).

Parameters are public settings of a run; nothing here touches data.
"""

from __future__ import annotations

from crypto.ckks_params import PROFILES


def check_batch_size(v: int) -> int:
    """``-1`` (full batch) or a positive batch size."""
    if v != -1 and v < 1:
        raise ValueError(f"batch_size must be -1 (full batch) or >= 1, got {v}")
    return v


def check_ckks_profile(v: str) -> str:
    """A CKKS profile the crypto layer defines."""
    if v not in PROFILES:
        raise ValueError(f"ckks_profile must be one of {sorted(PROFILES)}, got {v!r}")
    return v


__all__ = ["check_batch_size", "check_ckks_profile"]
