"""CKKS wrapper: round trips, precision bounds against numpy, keys and serialization."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from crypto.ckks import (
    PROFILES,
    CkksArray,
    CkksContext,
    CkksParams,
    PartialDot,
    sum_encrypted,
)
from lab.errors import CryptoError, EncodingOverflowError, KeyMismatchError

# Tolerances: 10x the errors measured on the "fast" profile and recorded in PROFILES
# (values in [-1, 1]); product errors scale with the factors' magnitudes, sums of m
# products with sqrt(m).
_M = PROFILES["fast"].measured
TOL_FRESH = 10 * _M["encrypt_decrypt_max_abs_err"]
TOL_SUM10 = 10 * _M["sum10_max_abs_err"]
TOL_MUL = 10 * _M["mul_plain_max_abs_err"]
TOL_DOT_4096 = 10 * _M["partial_dot_max_abs_err"]


@pytest.fixture(scope="module")
def secret() -> CkksContext:
    return CkksContext.create()


@pytest.fixture(scope="module")
def public(secret: CkksContext) -> CkksContext:
    return secret.public()


def test_round_trip_longer_than_slot_count(secret: CkksContext, public: CkksContext) -> None:
    # Prepare
    rng = np.random.default_rng(1)
    n = 2 * public.slot_count + 123
    x = rng.uniform(-5, 5, n)
    # Execute
    enc = CkksArray.encrypt(public, x)
    back = enc.decrypt(secret)
    # Assert
    assert len(enc) == n and len(enc.chunks) == 3
    assert back.shape == (n,)
    np.testing.assert_allclose(back, x, atol=TOL_FRESH)


@settings(max_examples=15, deadline=None)
@given(
    x=arrays(np.float64, st.integers(1, 50), elements=st.floats(-1e5, 1e5)),
    c=st.floats(-10, 10),
)
def test_add_sub_mul_match_numpy(secret: CkksContext, x: np.ndarray, c: float) -> None:
    pub = secret  # a secret context encrypts as well
    y = np.linspace(-3, 3, x.size)
    ex = CkksArray.encrypt(pub, x)
    ey = CkksArray.encrypt(pub, y)
    mag = max(1.0, float(np.abs(x).max()))
    np.testing.assert_allclose((ex + ey).decrypt(secret), x + y, atol=2 * TOL_FRESH)
    np.testing.assert_allclose((ex - y).decrypt(secret), x - y, atol=2 * TOL_FRESH)
    np.testing.assert_allclose((y - ex).decrypt(secret), y - x, atol=2 * TOL_FRESH)
    np.testing.assert_allclose((y + ex).decrypt(secret), x + y, atol=2 * TOL_FRESH)
    np.testing.assert_allclose((ex * y).decrypt(secret), x * y, atol=TOL_MUL * mag * 3)
    np.testing.assert_allclose((ex * c).decrypt(secret), x * c, atol=TOL_MUL * mag * max(1, abs(c)))


def test_nan_and_length_mismatch_raise(public: CkksContext) -> None:
    with pytest.raises(CryptoError, match="NaN"):
        CkksArray.encrypt(public, np.array([1.0, np.nan]))
    enc = CkksArray.encrypt(public, np.ones(4))
    with pytest.raises(CryptoError, match="length"):
        enc + np.ones(5)
    with pytest.raises(CryptoError, match="NaN"):
        enc * np.array([1.0, np.inf, 0.0, 0.0])
    with pytest.raises(EncodingOverflowError, match="bound"):
        CkksArray.encrypt(public, np.array([0.0, -2e6]))
    with pytest.raises(EncodingOverflowError):
        enc * 5e6


def test_sum_of_ten_updates(secret: CkksContext, public: CkksContext) -> None:
    rng = np.random.default_rng(2)
    xs = [rng.normal(0, 1, 5000) for _ in range(10)]
    encs = [CkksArray.encrypt(public, x) for x in xs]
    total = sum_encrypted(encs)
    np.testing.assert_allclose(total.decrypt(secret), np.sum(xs, axis=0), atol=TOL_SUM10)
    # inputs untouched
    np.testing.assert_allclose(encs[0].decrypt(secret), xs[0], atol=TOL_FRESH)


def test_partial_dot_matches_numpy_and_masks_round_trip(
    secret: CkksContext, public: CkksContext
) -> None:
    # Prepare
    rng = np.random.default_rng(3)
    n, k = public.slot_count + 500, 4
    d = rng.uniform(-1, 1, n)
    X = rng.uniform(-1, 1, (n, k))
    X[:, 3] = 0.0  # an all-zero column must still work
    enc = CkksArray.encrypt(public, d)
    # Execute
    pdot = enc.partial_dot(X)
    masked, totals = pdot.add_mask(np.random.default_rng(4), scale=1e3)
    wire = PartialDot.from_bytes(public, masked.to_bytes())
    # Assert: error grows with the number of summed slots (n products of size <=1)
    expected = X.T @ d
    tol = TOL_DOT_4096 * np.sqrt(n / 4096)
    np.testing.assert_allclose(pdot.decrypt_sums(secret), expected, atol=tol)
    np.testing.assert_allclose(wire.decrypt_sums(secret) - totals, expected, atol=tol)
    # the decryptor's per-slot view is dominated by the mask
    slots = wire.decrypt_slots(secret)
    assert slots.shape == (k, public.slot_count)
    assert np.abs(slots).mean() > 100


def test_public_context_cannot_decrypt(secret: CkksContext, public: CkksContext) -> None:
    enc = CkksArray.encrypt(public, np.arange(3.0))
    with pytest.raises(CryptoError, match="public"):
        enc.decrypt(public)
    with pytest.raises(CryptoError, match="public"):
        enc.partial_dot(np.ones((3, 1))).decrypt_sums(public)


def test_serialized_public_context_holds_no_secret_key(secret: CkksContext) -> None:
    # Prepare
    data = secret.to_bytes()
    # Execute
    back = CkksContext.from_bytes(data)
    # Assert
    assert secret.is_private and not back.is_private
    assert not back.raw.has_secret_key()
    assert back.fingerprint() == secret.fingerprint()
    enc = CkksArray.from_bytes(back, CkksArray.encrypt(back, np.array([1.5, -2.0])).to_bytes())
    with pytest.raises(CryptoError, match="cannot decrypt"):
        enc.decrypt(back)
    np.testing.assert_allclose(enc.decrypt(secret), [1.5, -2.0], atol=1e-6)
    full = CkksContext.from_bytes(secret.to_bytes(secret=True))
    assert full.is_private
    np.testing.assert_allclose(enc.decrypt(full), [1.5, -2.0], atol=1e-6)


def test_public_context_has_no_galois_keys_unless_asked() -> None:
    ctx = CkksContext.create(galois=True)
    assert ctx.has_galois_keys
    assert not ctx.public().has_galois_keys
    assert len(ctx.public().to_bytes()) < 5_000_000


def test_other_key_is_refused(secret: CkksContext) -> None:
    other = CkksContext.create()
    enc = CkksArray.encrypt(secret, np.ones(3))
    with pytest.raises(KeyMismatchError):
        enc.decrypt(other)
    with pytest.raises(KeyMismatchError):
        enc + CkksArray.encrypt(other, np.ones(3))


def test_params_reject_insecure_modulus() -> None:
    with pytest.raises(CryptoError, match="128-bit"):
        CkksParams(8192, (60, 60, 60, 60), 40)
    assert set(PROFILES) >= {"fast", "precise"}


def test_repr_has_no_key_material(secret: CkksContext) -> None:
    text = repr(secret) + repr(CkksArray.encrypt(secret, np.ones(2)))
    assert len(text) < 200


def test_aggregate_profile_adds_but_refuses_products() -> None:
    ctx = CkksContext.from_profile("aggregate")
    x = np.linspace(-2, 2, 100)
    enc = CkksArray.encrypt(ctx, x)
    np.testing.assert_allclose((enc + enc).decrypt(ctx), 2 * x, atol=2 * TOL_FRESH)
    with pytest.raises(CryptoError, match="additions only"):
        enc * 2.0
    with pytest.raises(CryptoError, match="additions only"):
        enc.partial_dot(np.ones((100, 1)))
    with pytest.raises(CryptoError, match="unknown CKKS profile"):
        CkksContext.from_profile("nope")
