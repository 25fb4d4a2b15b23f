"""Quantile binning: edges, the missing bin, and agreement with numpy quantiles."""

from __future__ import annotations

import numpy as np
import pytest

from features.binning import QuantileBinner
from lab.errors import DataValidationError


def test_few_distinct_values_get_one_bin_each() -> None:
    X = np.array([[3.0], [1.0], [2.0], [3.0], [1.0]])
    b = QuantileBinner(8).fit(X)
    np.testing.assert_allclose(b.bin_edges_[0], [1.5, 2.5])
    assert b.transform(X)[:, 0].tolist() == [2, 0, 1, 2, 0]
    assert b.n_bins_.tolist() == [4]  # three values + the missing bin


def test_continuous_column_bins_are_quantiles_of_equal_mass() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10_000, 1))
    bins = QuantileBinner(10).fit_transform(X)[:, 0]
    counts = np.bincount(bins, minlength=11)
    assert counts[-1] == 0  # no missing values
    assert np.all(np.abs(counts[:10] - 1000) <= 2)
    # each edge is (almost exactly) the numpy decile
    deciles = np.quantile(X[:, 0], np.linspace(0, 1, 11)[1:-1])
    np.testing.assert_allclose(QuantileBinner(10).fit(X).bin_edges_[0], deciles, atol=1e-3)


def test_missing_values_get_the_last_bin_and_order_is_kept() -> None:
    X = np.array([[np.nan, 1.0], [0.5, np.nan], [2.0, 3.0], [1.0, 2.0]])
    b = QuantileBinner(4).fit(X)
    out = b.transform(X)
    assert out[0, 0] == b.n_bins_[0] - 1 and out[1, 1] == b.n_bins_[1] - 1
    present = out[[1, 3, 2], 0]
    assert np.all(np.diff(present.astype(int)) > 0)  # monotone in the value
    # unseen missing values in new data transform without error
    assert b.transform(np.array([[np.nan, np.nan]])).tolist() == [
        [b.n_bins_[0] - 1, b.n_bins_[1] - 1]
    ]


def test_split_on_bins_equals_split_on_values() -> None:
    rng = np.random.default_rng(1)
    X = rng.exponential(size=(2000, 3))
    b = QuantileBinner(16).fit(X)
    bins = b.transform(X)
    for j in range(3):
        for t, edge in enumerate(b.bin_edges_[j]):
            assert np.array_equal(bins[:, j] <= t, X[:, j] <= edge)


def test_round_trip_and_dtype() -> None:
    X = np.random.default_rng(2).normal(size=(500, 2))
    b = QuantileBinner(32).fit(X)
    b2 = QuantileBinner.from_dict(b.to_dict())
    assert np.array_equal(b.transform(X), b2.transform(X))
    assert b.transform(X).dtype == np.uint8
    assert QuantileBinner(300).fit(X).transform(X).dtype == np.uint16


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(DataValidationError, match="max_bins"):
        QuantileBinner(1).fit(np.zeros((3, 1)))
    with pytest.raises(DataValidationError, match="infinite"):
        QuantileBinner(4).fit(np.array([[1.0], [np.inf]]))
    with pytest.raises(DataValidationError, match="not fitted"):
        QuantileBinner(4).transform(np.zeros((2, 1)))
    with pytest.raises(DataValidationError, match="columns"):
        QuantileBinner(4).fit(np.zeros((3, 2))).transform(np.zeros((3, 1)))
