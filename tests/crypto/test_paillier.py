"""crypto.paillier: correctness against plain integers, numpy and python-paillier (phe)."""

from __future__ import annotations

import random

import gmpy2
import numpy as np
import pytest
from phe import paillier as phe

from crypto import _multiexp
from crypto.fixedpoint import DEFAULT_EXPONENT
from crypto.packing import PackedCodec
from crypto.paillier import (
    EncryptedArray,
    ObfuscatorPool,
    PaillierPublicKey,
    generate_keypair,
)
from lab.errors import CryptoError, EncodingOverflowError, KeyMismatchError


@pytest.fixture(scope="module")
def keys():
    return generate_keypair(1024)


@pytest.fixture(scope="module")
def other_keys():
    return generate_keypair(1024)


def _fixed(x: np.ndarray, e: int) -> np.ndarray:
    """Independent reference: the value the encoding can represent."""
    return np.ldexp(np.rint(np.ldexp(np.asarray(x, dtype=float), e)), -e)


def test_keypair_shape_and_repr(keys):
    pk, sk = keys
    p, q = sk.export_primes()
    assert pk.bits == 1024 and p * q == pk.n
    assert p % 4 == 3 and q % 4 == 3 and gmpy2.gcd(p - 1, q - 1) == 2
    assert str(p) not in repr(sk) and str(pk.n) not in repr(pk)
    assert pk.fingerprint() in repr(sk)


def test_round_trip_exact_to_encoding(keys):
    pk, sk = keys
    x = np.array([0.0, -0.0, 1.0, -1.5, 3.141592653589793, -1e-13, 1e-12, 2.0**300, -(2.0**300)])
    assert np.array_equal(sk.decrypt(pk.encrypt(x)), _fixed(x, DEFAULT_EXPONENT))
    assert sk.decrypt(pk.encrypt(0.75, exponent=2))[0] == 0.75
    assert sk.decrypt(pk.encrypt(0.3, exponent=2))[0] == 0.25  # rounds to 2**-2 steps


def test_integers_encode_exactly(keys):
    pk, sk = keys
    big = 2**900 + 12345
    enc = pk.encrypt_ints([big, -big, 0, 7])
    assert sk.decrypt_signed_ints(enc) == [big, -big, 0, 7]


def test_interop_with_phe(keys):
    """Our ciphertexts are standard Paillier (g = n + 1): phe decrypts them and vice versa."""
    pk, sk = keys
    p, q = sk.export_primes()
    ppk = phe.PaillierPublicKey(pk.n)
    psk = phe.PaillierPrivateKey(ppk, p, q)
    ms = [0, 1, 123456789, pk.n - 5]
    enc = pk.raw_encrypt(ms)
    assert [psk.raw_decrypt(int(c)) for c in enc.raw_ciphertexts()] == ms
    theirs = EncryptedArray(pk, [ppk.raw_encrypt(m) for m in ms])
    assert sk.decrypt_ints(theirs) == ms


def test_obfuscators_are_encryptions_of_zero_and_fresh(keys):
    pk, sk = keys
    obf = pk.obfuscators(8)
    assert len(set(map(int, obf))) == 8
    assert sk.decrypt_ints(EncryptedArray(pk, obf)) == [0] * 8
    a, b = pk.encrypt([1.0, 1.0]).raw_ciphertexts()
    assert a != b  # probabilistic encryption


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused_with_index(keys, bad):
    pk, _ = keys
    with pytest.raises(CryptoError, match="index 2"):
        pk.encrypt(np.array([1.0, 2.0, bad]))


def test_overflow_on_encode_and_after_arithmetic(keys):
    pk, sk = keys
    with pytest.raises(EncodingOverflowError, match="index 1"):
        pk.encrypt(np.array([1.0, 2.0**1000]), exponent=40)
    with pytest.raises(EncodingOverflowError):
        pk.encrypt_ints([pk.n // 3 + 1])
    near = pk.encrypt_ints([pk.max_int])
    with pytest.raises(EncodingOverflowError, match="overflowed"):
        sk.decrypt(near + near)
    with pytest.raises(EncodingOverflowError):
        sk.decrypt(near * 2)


def test_arithmetic_matches_numpy(keys):
    pk, sk = keys
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=6) * 100, rng.normal(size=6)
    ea, eb = pk.encrypt(a), pk.encrypt(b)
    fa, fb = _fixed(a, 40), _fixed(b, 40)
    assert np.array_equal(sk.decrypt(ea + eb), fa + fb)
    assert np.array_equal(sk.decrypt(ea - eb), fa - fb)
    assert np.array_equal(sk.decrypt(-ea), -fa)
    assert np.array_equal(sk.decrypt(ea + 2.5), fa + 2.5)
    assert np.array_equal(sk.decrypt(2.5 + ea), fa + 2.5)
    assert np.array_equal(sk.decrypt(1.0 - ea), 1.0 - fa)
    assert np.array_equal(sk.decrypt(ea - b), fa - fb)
    ks = np.array([3, -2, 0, 7, -1, 1])
    prod = ea * ks
    assert prod.exponent == 40
    assert np.array_equal(sk.decrypt(prod), fa * ks)
    half = ea * -0.5
    assert half.exponent == 80
    assert np.array_equal(sk.decrypt(half), fa * -0.5)
    assert sk.decrypt(ea.sum())[0] == pytest.approx(fa.sum(), abs=1e-9)
    with pytest.raises(CryptoError, match="multiply two ciphertexts"):
        ea * eb


def test_mixed_exponents_rescale_the_lower_side(keys):
    pk, sk = keys
    a = pk.encrypt([1.25, -3.0], exponent=4)
    b = pk.encrypt([0.001, 0.5], exponent=20)
    s = a + b
    assert s.exponent == 20
    assert np.array_equal(sk.decrypt(s), _fixed([1.25, -3.0], 4) + _fixed([0.001, 0.5], 20))
    assert np.array_equal(sk.decrypt(b + a), sk.decrypt(s))
    with pytest.raises(CryptoError, match="lower"):
        b.rescale(4)


def test_key_mismatch_is_refused(keys, other_keys):
    pk, sk = keys
    pk2, sk2 = other_keys
    a, b = pk.encrypt([1.0]), pk2.encrypt([1.0])
    with pytest.raises(KeyMismatchError):
        a + b
    with pytest.raises(KeyMismatchError):
        sk2.decrypt(a)
    with pytest.raises(KeyMismatchError):
        EncryptedArray.from_bytes(pk2, a.to_bytes())
    with pytest.raises(KeyMismatchError):
        EncryptedArray.concatenate([a, b])
    with pytest.raises(KeyMismatchError):
        pk.encrypt([1.0], pool=ObfuscatorPool(pk2, size=1))


def test_dot_plain_matches_numpy_exactly_with_negatives(keys):
    pk, sk = keys
    rng = np.random.default_rng(2)
    m = rng.integers(-(2**40), 2**40, size=50)
    X = rng.integers(-(2**15), 2**15, size=(50, 4))
    X[:, 2] = np.abs(X[:, 2])  # one column without negatives (no offset)
    enc = pk.encrypt_ints(m)
    got = sk.decrypt_signed_ints(enc.dot_plain(X))
    want = [int(v) for v in (X.astype(object).T @ m.astype(object))]
    assert got == want


def test_dot_plain_uint64_above_2_63_is_exact(keys):
    pk, sk = keys
    X = np.array([[2**63 + 5, 0], [2**64 - 1, 7]], dtype=np.uint64)
    got = sk.decrypt_signed_ints(pk.encrypt_ints([3, -2]).dot_plain(X))
    assert got == [3 * (2**63 + 5) - 2 * (2**64 - 1), -14]


def test_dot_plain_float_matrix_at_its_exponent(keys):
    pk, sk = keys
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    X = rng.normal(size=(30, 3))
    out = pk.encrypt(x, exponent=20).dot_plain(X, x_exponent=12)
    assert out.exponent == 32
    want = _fixed(X, 12).T @ _fixed(x, 20)
    assert np.allclose(sk.decrypt(out), want, rtol=0, atol=1e-12)
    assert np.allclose(sk.decrypt(out), X.T @ x, atol=30 * 2.0**-12 * 4)
    with pytest.raises(CryptoError, match="shape"):
        pk.encrypt(x).dot_plain(X[:5])


def _powmod_loop(bases, exps, N):
    """Independent reference: one (possibly inverting) powmod per element."""
    want = gmpy2.mpz(1)
    for b, e in zip(bases, exps, strict=True):
        want = want * gmpy2.powmod(b, int(e), N) % N
    return want


def test_multi_exp_against_powmod_loop(keys):
    pk, _ = keys
    N = pk.nsquare
    bases = pk.obfuscators(40).tolist()
    rnd = random.Random(4)
    cases = [
        [rnd.randrange(2**16) for _ in bases],
        [0] * 40,
        [1] * 40,
        [2**80 + 3] + [1] + [0] * 38,  # one huge exponent: Pippenger fallback
        [rnd.randrange(2**130) for _ in bases],
        [5] * 20 + [7] * 20,
        [rnd.randrange(-(2**16), 2**16) for _ in bases],  # signed: one inversion
        [-3] * 40,
        [-(2**90)] + [rnd.randrange(-9, 9) for _ in bases[1:]],
    ]
    for exps in cases:
        want = _powmod_loop(bases, exps, N)
        assert _multiexp.multi_exp(bases, exps, N) == want
        if min(exps) >= 0:
            assert _multiexp.pippenger(bases, exps, N) == want


def test_multi_exp_columns_share_digits_and_other_moduli(keys):
    pk, _ = keys
    N = pk.nsquare
    bases = pk.obfuscators(60).tolist()
    rng = np.random.default_rng(11)
    E = rng.integers(-(2**16), 2**16, size=(60, 4))
    E[:, 1] = np.abs(E[:, 1])
    E[:10, 2] = 0
    E[:, 3] = 0
    got = _multiexp.multi_exp_columns(bases, E, N)
    assert got == [_powmod_loop(bases, E[:, j], N) for j in range(4)]
    assert got[3] == 1
    # A modulus that is not a square (no base-n digits) gives the same products.
    M = gmpy2.next_prime(N)
    assert _multiexp.multi_exp_columns(bases, E, M) == [
        _powmod_loop(bases, E[:, j], M) for j in range(4)
    ]
    # Bases outside [0, N) and a base that cannot be inverted.
    odd = [b + 3 * N for b in bases[:5]] + [-b for b in bases[5:10]]
    exps = list(range(1, 11))
    assert _multiexp.multi_exp(odd, exps, N) == _powmod_loop(odd, exps, N)
    with pytest.raises(ValueError, match="not invertible"):
        _multiexp.multi_exp([bases[0], pk.n], [1, -1], N)


def test_segment_sum_equals_bincount(keys):
    pk, sk = keys
    rng = np.random.default_rng(5)
    m = rng.integers(-1000, 1000, size=200)
    groups = rng.integers(0, 7, size=200)
    groups[groups == 3] = 4  # group 3 is empty
    enc = pk.encrypt_ints(m)
    got = sk.decrypt_signed_ints(enc.segment_sum(groups, 8, rerandomize=True))
    assert got == np.bincount(groups, weights=m, minlength=8).astype(int).tolist()
    with pytest.raises(CryptoError, match=r"\[0, 6\)"):
        enc.segment_sum(groups, 6)


def test_indexing_and_concatenate(keys):
    pk, sk = keys
    x = np.arange(6, dtype=float) - 2.5
    enc = pk.encrypt(x, exponent=8)
    assert np.array_equal(sk.decrypt(enc[1:4]), x[1:4])
    assert np.array_equal(sk.decrypt(enc[[5, 0]]), x[[5, 0]])
    assert np.array_equal(sk.decrypt(enc[2]), x[[2]])
    assert np.array_equal(sk.decrypt(enc.take(np.array([True, False] * 3))), x[::2])
    both = EncryptedArray.concatenate([enc[:2], pk.encrypt([7.0], exponent=3)])
    assert both.exponent == 8 and np.array_equal(sk.decrypt(both), [-2.5, -1.5, 7.0])


def test_serialization_round_trip_and_corruption(keys):
    pk, sk = keys
    x = np.array([1.5, -2.25, 0.0])
    enc = pk.encrypt(x, exponent=12)
    data = enc.to_bytes()
    header = len(enc[:0].to_bytes())
    assert header < 32 and len(data) == header + 3 * 256  # fixed-width 2 x 128 bytes each
    back = EncryptedArray.from_bytes(pk, data)
    assert back.exponent == 12 and back.raw_ciphertexts() == enc.raw_ciphertexts()
    assert np.array_equal(sk.decrypt(back), x)
    with pytest.raises(CryptoError, match="truncated"):
        EncryptedArray.from_bytes(pk, data[:-1])
    with pytest.raises(CryptoError, match="truncated"):
        EncryptedArray.from_bytes(pk, data[:5])
    corrupt = data[:header] + b"\xff" * 256 + data[header + 256 :]
    with pytest.raises(CryptoError, match="index 0"):
        EncryptedArray.from_bytes(pk, corrupt)
    assert PaillierPublicKey.from_bytes(pk.to_bytes()) == pk
    assert PaillierPublicKey.from_bytes(pk.to_bytes()).hs == pk.hs
    with pytest.raises(CryptoError):
        PaillierPublicKey.from_bytes(pk.to_bytes()[:-3])


def test_rerandomize_keeps_plaintext(keys):
    pk, sk = keys
    enc = pk.encrypt([1.0, -2.0])
    again = enc.rerandomize()
    assert set(again.raw_ciphertexts()).isdisjoint(enc.raw_ciphertexts())
    assert np.array_equal(sk.decrypt(again), [1.0, -2.0])


def test_obfuscator_pool_hands_out_each_value_once(keys):
    pk, sk = keys
    pool = ObfuscatorPool(pk, size=10)
    assert len(pool) == 10
    a = pool.take(6)
    b = pool.take(6)  # 4 from the pool, 2 computed on the spot
    assert pool.misses == 2 and len(pool) == 0
    assert len({int(v) for v in list(a) + list(b)}) == 12
    enc = pk.encrypt([0.5, 0.25], pool=pool)
    assert np.array_equal(sk.decrypt(enc), [0.5, 0.25])
    pool.close()


def test_obfuscator_pool_background_refill(keys):
    pk, _ = keys
    with ObfuscatorPool(pk, size=64, background=True, low_water=32) as pool:
        pool.take(60)
        for _ in range(200):
            if len(pool) == 64:
                break
            import time

            time.sleep(0.02)
        assert len(pool) == 64


def test_packing_round_trip_and_bounds(keys):
    pk, sk = keys
    codec = PackedCodec(40, 3, max_terms=100, key_bits=1024)
    rng = np.random.default_rng(6)
    rows = rng.integers(0, codec.max_value + 1, size=(100, 3))
    assert np.array_equal(codec.unpack(codec.pack(rows)), rows)
    enc = codec.encrypt(pk, rows)
    summed = enc.segment_sum(np.zeros(100, dtype=int), 1)
    assert np.array_equal(codec.decrypt(sk, summed)[0], rows.sum(axis=0))
    with pytest.raises(EncodingOverflowError, match="row 1, slot 2"):
        codec.pack([[0, 0, 0], [0, 0, codec.max_value + 1]])
    with pytest.raises(EncodingOverflowError, match="negative"):
        codec.pack([[0, -1, 0]])
    with pytest.raises(EncodingOverflowError, match="bits"):
        PackedCodec(400, 3, max_terms=10, key_bits=1024)
    # More than max_terms full-size values overflow the top slot: detected on unpack.
    full = np.full((101, 3), codec.max_value)
    too_many = codec.encrypt(pk, full).sum()
    with pytest.raises(EncodingOverflowError, match="more than 100 terms"):
        codec.decrypt(sk, too_many)
    wide = PackedCodec.for_bound(2**70, 2, max_terms=8, key_bits=1024)
    big = np.array([[2**70, 5]], dtype=object)
    assert codec is not wide and wide.unpack(wide.pack(big)).tolist() == [[2**70, 5]]


def test_workers_give_the_same_results(keys):
    pk, sk = keys
    rng = np.random.default_rng(7)
    m = rng.integers(-1000, 1000, size=300)
    X = rng.integers(-50, 50, size=(300, 3))
    enc = pk.encrypt_ints(m)
    one = enc.dot_plain(X, workers=1)
    two = enc.dot_plain(X, workers=2)
    assert one.raw_ciphertexts() == two.raw_ciphertexts()
    assert sk.decrypt_signed_ints(enc, workers=2) == m.tolist()
    wide = enc.dot_plain(rng.integers(0, 9, size=(300, 1)), workers=2)
    assert len(wide) == 1
    from crypto.parallel import parallel_obfuscators

    obf = parallel_obfuscators(pk, 6, workers=2)
    assert len({int(v) for v in obf}) == 6
    assert sk.decrypt_ints(EncryptedArray(pk, obf)) == [0] * 6
    pool = ObfuscatorPool(pk, size=6, fill=False)
    pool.add(obf.tolist())
    assert len(pool) == 6 and pool.take(6).tolist() == obf.tolist()


def test_2048_bit_key_round_trip_and_dot():
    pk, sk = generate_keypair(2048)
    assert pk.bits == 2048 and pk.ciphertext_bytes == 512
    x = np.array([0.1, -0.2, 1e6])
    enc = pk.encrypt(x)
    assert np.array_equal(sk.decrypt(enc), _fixed(x, 40))
    X = np.array([[1, -2], [3, 4], [-5, 6]])
    assert np.array_equal(sk.decrypt(enc.dot_plain(X)), X.T @ _fixed(x, 40))


def test_unsigned_64_bit_integers_encode_exactly() -> None:
    """uint64 values >= 2**63 must not wrap negative (a cast to int64 did)."""
    from crypto.fixedpoint import to_signed_ints

    big = np.array([2**63, 2**64 - 1, 5], dtype=np.uint64)
    assert to_signed_ints(big, 3) == [2**66, (2**64 - 1) << 3, 40]
    assert to_signed_ints(np.array([-3, 7], dtype=np.int8), 2) == [-12, 28]
    assert to_signed_ints(np.array([True, False]), 1) == [2, 0]


@pytest.mark.parametrize("workers", [1, 2])
def test_key_holder_crt_obfuscators_are_fresh_encryptions_of_zero(workers: int) -> None:
    """The private key's CRT path gives DJN powers hs**a: each is a fresh encryption of 0,
    multiplying one into a ciphertext keeps its plaintext, and none repeats."""
    pk, sk = generate_keypair(1024)
    obf = sk.obfuscators(3000 if workers > 1 else 40, workers=workers)
    assert len(set(int(r) for r in obf)) == len(obf)
    zeros = EncryptedArray(pk, list(obf[:40]))
    assert sk.decrypt_ints(zeros) == [0] * 40
    enc = pk.encrypt(np.array([1.5, -2.25]))
    rerand = EncryptedArray(
        pk,
        [
            int(c) * int(r) % int(pk.nsquare)
            for c, r in zip(enc.raw_ciphertexts(), obf[:2], strict=True)
        ],
        exponent=enc.exponent,
    )
    np.testing.assert_allclose(sk.decrypt(rerand), [1.5, -2.25])
    assert all(
        int(c) != int(d)
        for c, d in zip(rerand.raw_ciphertexts(), enc.raw_ciphertexts(), strict=True)
    )
