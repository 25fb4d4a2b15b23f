"""Property tests: fixed-point encode/encrypt/add/multiply/decrypt against exact rationals."""

from __future__ import annotations

from fractions import Fraction

import gmpy2
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crypto.paillier import generate_keypair
from lab.errors import CryptoError, EncodingOverflowError

PK, SK = generate_keypair(1024)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(allow_nan=False, allow_infinity=False)
moderate = st.floats(min_value=-1e30, max_value=1e30, allow_nan=False)
exponents = st.integers(min_value=0, max_value=64)


def m_of(x: float, e: int) -> int:
    """Reference encoding with exact rationals (round half to even, like np.rint)."""
    return round(Fraction(x) * 2**e)


def value(m: int, e: int) -> float:
    return m / 2**e  # int / int is correctly rounded


def fits(m: int) -> bool:
    return 3 * abs(m) < PK.n


@SETTINGS
@given(st.lists(finite, min_size=1, max_size=6), exponents)
def test_encrypt_decrypt_round_trip_or_overflow_error(xs, e):
    ms = [m_of(x, e) for x in xs]
    if all(fits(m) for m in ms):
        got = SK.decrypt(PK.encrypt(np.array(xs), exponent=e))
        assert got.tolist() == [value(m, e) for m in ms]
    else:
        with pytest.raises(EncodingOverflowError):
            PK.encrypt(np.array(xs), exponent=e)


@SETTINGS
@given(st.lists(st.tuples(moderate, moderate), min_size=1, max_size=5), exponents)
def test_add_and_subtract(pairs, e):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    ea, eb = PK.encrypt(a, exponent=e), PK.encrypt(b, exponent=e)
    ma = [m_of(x, e) for x in a]
    mb = [m_of(x, e) for x in b]
    assert SK.decrypt_signed_ints(ea + eb) == [x + y for x, y in zip(ma, mb, strict=True)]
    assert SK.decrypt_signed_ints(ea - eb) == [x - y for x, y in zip(ma, mb, strict=True)]
    assert SK.decrypt_signed_ints(ea + b) == [x + y for x, y in zip(ma, mb, strict=True)]
    assert SK.decrypt(ea + eb).tolist() == [value(x + y, e) for x, y in zip(ma, mb, strict=True)]


@SETTINGS
@given(moderate, st.integers(min_value=-(2**64), max_value=2**64), exponents)
def test_int_scalar_multiply(x, k, e):
    m = m_of(x, e)
    assert SK.decrypt_signed_ints(PK.encrypt(x, exponent=e) * k) == [m * k]


@SETTINGS
@given(
    moderate,
    moderate,
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=0, max_value=40),
)
def test_float_scalar_multiply_adds_exponents(x, k, e, ke):
    enc = PK.encrypt(x, exponent=e).mul(k, exponent=ke)
    assert enc.exponent == e + ke
    want = m_of(x, e) * m_of(k, ke)
    assert SK.decrypt_signed_ints(enc) == [want]
    assert SK.decrypt(enc).tolist() == [value(want, e + ke)]


@SETTINGS
@given(st.lists(moderate, min_size=1, max_size=4), st.integers(0, 30), st.integers(0, 30))
def test_mixed_exponent_addition_is_exact(xs, e1, e2):
    a = PK.encrypt(np.array(xs), exponent=e1)
    b = PK.encrypt(np.array(xs[::-1]), exponent=e2)
    e = max(e1, e2)
    want = [
        m_of(x, e1) * 2 ** (e - e1) + m_of(y, e2) * 2 ** (e - e2)
        for x, y in zip(xs, xs[::-1], strict=True)
    ]
    s = a + b
    assert s.exponent == e and SK.decrypt_signed_ints(s) == want


@SETTINGS
@given(
    st.lists(st.integers(-(2**200), 2**200), min_size=1, max_size=8),
    st.lists(st.integers(-(2**16), 2**16), min_size=8, max_size=8),
)
def test_dot_plain_is_exact(ms, xs):
    X = np.array(xs[: len(ms)], dtype=np.int64)
    enc = PK.encrypt_ints(ms)
    want = sum(int(a) * int(b) for a, b in zip(ms, X.tolist(), strict=True))
    assert SK.decrypt_signed_ints(enc.dot_plain(X)) == [want]


BASES = PK.obfuscators(12).tolist()


@SETTINGS
@given(
    st.lists(st.integers(-(2**20), 2**20) | st.integers(-(2**70), 2**70), min_size=0, max_size=12)
)
def test_multi_exp_equals_powmod_loop(exps):
    from crypto import _multiexp

    N = PK.nsquare
    bases = BASES[: len(exps)]
    want = gmpy2.mpz(1)
    for b, e in zip(bases, exps, strict=True):
        want = want * gmpy2.powmod(b, e, N) % N
    assert _multiexp.multi_exp(bases, exps, N) == want


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(-(2**60), 2**60), moderate, moderate), min_size=1, max_size=6),
    st.integers(0, 24),
    st.integers(0, 24),
)
def test_dot_plain_float_matrix_is_exact_at_its_encodings(rows, e, xe):
    ms = [r[0] for r in rows]
    X = np.array([[r[1], r[2]] for r in rows])
    enc = PK.encrypt_ints(ms, exponent=e)
    want = [
        sum(m * m_of(x, xe) for m, x in zip(ms, X[:, j].tolist(), strict=True)) for j in range(2)
    ]
    if all(fits(w) for w in want):
        out = enc.dot_plain(X, x_exponent=xe)
        assert out.exponent == e + xe
        assert SK.decrypt_signed_ints(out) == want
        assert SK.decrypt(out).tolist() == [value(w, e + xe) for w in want]


@SETTINGS
@given(
    st.lists(finite, min_size=1, max_size=4),
    st.integers(0, 3),
    st.sampled_from([np.nan, np.inf, -np.inf]),
)
def test_non_finite_always_refused(xs, pos, bad):
    assume(pos <= len(xs))
    arr = np.array(xs[:pos] + [bad] + xs[pos:])
    with pytest.raises(CryptoError, match=f"index {pos}"):
        PK.encrypt(arr)
