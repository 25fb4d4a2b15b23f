"""64-bit fixed point under additive masks (crypto.fixedpoint.to_ring64/from_ring64)."""

from __future__ import annotations

import numpy as np
import pytest

from crypto.fixedpoint import from_ring64, to_ring64
from lab.errors import EncodingOverflowError


def test_masked_sum_unmasks_exactly_and_keeps_equal_values_equal() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(0, 80, size=50)
    parts = [np.concatenate([base, base]) + k for k in (0.0, -13.37, 250.1)]  # rows i, i+50 equal
    masks = [rng.integers(0, 2**64, size=100, dtype=np.uint64) for _ in parts]
    masked = sum(
        (to_ring64(p, 32) + m for p, m in zip(parts, masks, strict=False)),
        start=np.zeros(100, dtype=np.uint64),
    )
    for m in masks:
        masked -= m
    got = from_ring64(masked, 32)
    assert np.array_equal(got[:50], got[50:])  # bit-for-bit: no float residue of the masks
    ref = sum(np.round(p * 2.0**32) for p in parts) / 2.0**32
    assert np.array_equal(got, ref)
    assert np.max(np.abs(got - sum(parts))) <= 3 * 2.0**-33


def test_float_masks_do_not_cancel_exactly() -> None:
    """Why the ring: the same values under float masks come back unequal."""
    rng = np.random.default_rng(4)
    x = np.full(1000, 123.456789)
    m = rng.uniform(-(2**20), 2**20, size=1000)
    assert len(set((x + m) - m)) > 1


@pytest.mark.parametrize("bad", [np.inf, np.nan, 2.0**31])
def test_values_outside_the_ring_are_refused(bad: float) -> None:
    with pytest.raises(EncodingOverflowError, match="fixed point"):
        to_ring64(np.array([1.0, bad]), 32)


def test_negative_values_round_trip() -> None:
    x = np.array([-1.5, -(2.0**-32), 0.0, 7.25, -(2.0**29)])
    assert np.array_equal(from_ring64(to_ring64(x, 32), 32), x)
