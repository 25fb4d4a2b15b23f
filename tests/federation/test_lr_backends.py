"""The three hetero LR backends against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from federation.hetero_lr.backends import get_backend
from lab.errors import ConfigError

BACKENDS = [("plaintext", {}), ("paillier", {"key_bits": 1024}), ("ckks", {})]


@pytest.mark.parametrize(("name", "opts"), BACKENDS)
def test_masked_xtd_decrypts_to_the_plain_product(name: str, opts: dict) -> None:
    # Prepare
    rng = np.random.default_rng(1)
    X, d, shift = rng.normal(size=(300, 4)), rng.normal(size=300), rng.normal(size=300)
    backend = get_backend(name, **opts)
    keys = backend.keygen()
    sess = backend.session(keys.public_bytes)
    # Execute: the coordinator encrypts, a party shifts/scales and takes X^T d with a mask
    ct = sess.load(keys.encrypt(d - shift))
    ct = sess.mul_plain(sess.add_plain(ct, shift), np.full(300, 0.5))
    blob, mask = sess.masked_xtd(sess.load(sess.dump(ct)), X, rng)
    masked = keys.decrypt_gradient(blob)
    # Assert (Paillier quantizes X at 2^-8: rounding errors ~ sqrt(300) * 2^-9 * |d| / 2)
    tol = 1e-6 if name == "plaintext" else 5e-2
    np.testing.assert_allclose(masked - mask, X.T @ (0.5 * d), atol=tol)
    assert np.abs(masked - X.T @ (0.5 * d)).min() > 1.0  # what the key holder sees is masked


def test_paillier_precomputed_randomness_is_used() -> None:
    keys = get_backend("paillier", key_bits=1024).keygen()
    keys.precompute(50)
    assert len(keys._pool) == 50  # type: ignore[attr-defined]
    keys.encrypt(np.arange(20.0))
    assert len(keys._pool) == 30  # type: ignore[attr-defined]


def test_key_holder_repr_shows_no_key_material() -> None:
    keys = get_backend("paillier", key_bits=1024).keygen()
    text = repr(keys)
    assert "public=" in text and len(text) < 80


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown hetero LR backend"):
        get_backend("rsa")


@pytest.mark.parametrize(("name", "opts"), BACKENDS)
def test_masked_xtd_shifted_removes_the_shift(name: str, opts: dict) -> None:
    # Prepare: [[d + r]] with a large pairwise mask r, as a host receives it
    rng = np.random.default_rng(2)
    X, d = rng.normal(size=(500, 3)), rng.uniform(-1, 1, size=500)
    r = rng.uniform(-(2**17), 2**17, size=500)
    backend = get_backend(name, **opts)
    keys = backend.keygen()
    sess = backend.session(keys.public_bytes)
    ct = sess.add_plain(sess.load(keys.encrypt(d)), r)
    # Execute
    blob, totals = sess.masked_xtd_shifted(ct, r, X, rng)
    # Assert: Paillier's features are quantized at PAILLIER_FEATURE_BITS (error ~ 2^-9 * |d|)
    got = keys.decrypt_gradient(blob) - totals
    tol = 1e-6 if name == "plaintext" else 0.05
    np.testing.assert_allclose(got, X.T @ d, atol=tol)
    if name == "paillier":
        from crypto.fixedpoint import to_signed_ints
        from federation.hetero_lr.backends import PAILLIER_FEATURE_BITS as B

        xq = np.array(to_signed_ints(X.reshape(-1), B), dtype=float).reshape(X.shape) / 2**B
        np.testing.assert_allclose(got, xq.T @ d, atol=1e-6)  # exact up to the encodings


@pytest.mark.slow
def test_paillier_key_holder_prefetches_the_next_batch_randomness_in_workers() -> None:
    """With worker processes the coordinator prepares the next batch's randomness (CRT)
    while the parties work: the second batch draws it from the pool, none repeats, and
    every ciphertext decrypts to its value."""
    from crypto.paillier import EncryptedArray

    kh = get_backend("paillier", key_bits=1024, coordinator_workers=2).keygen()
    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=1500), rng.normal(size=1500)
    b1 = kh.encrypt(x1)
    assert kh._prefetch  # started after the first batch
    b2 = kh.encrypt(x2)
    assert kh._pool is not None and kh._pool.misses == 0
    for x, blob in ((x1, b1), (x2, b2)):
        np.testing.assert_allclose(kh.decrypt_gradient(blob), x, atol=1e-8)
    cts = [
        int(c)
        for blob in (b1, b2)
        for c in EncryptedArray.from_bytes(kh._pk, blob).raw_ciphertexts()
    ]
    assert len(set(cts)) == len(cts)
