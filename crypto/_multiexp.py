"""Multi-exponentiation and fixed-base exponentiation on raw integers (gmpy2).

``multi_exp`` computes ``prod_i b_i ** e_i mod N`` with a batched Bos-Coster reduction:
bases with equal exponents are multiplied together (buckets), the distinct exponents
``v_1 > v_2 > ... > v_m`` are turned into running products ``R_k = B_1 * ... * B_k``, and
``prod_k B_k ** v_k = prod_k R_k ** (v_k - v_{k+1})``: the same problem with exponents
about ``log2(m)`` bits shorter. Each level costs about ``len(bases)`` multiplications, so
a 1024-term product with 16-bit exponents costs about 2.2k modular multiplications instead
of 1024 exponentiations (about 20k). When a level stops shrinking the exponents (a few
huge exponents), it finishes with Pippenger's windowed bucket method (``pippenger``).

``FixedBaseTable`` precomputes ``g ** (d * 2**(w*i))`` for every window ``i`` and digit
``d`` so that ``g ** a`` for a random ``a`` is one multiplication per window, and does it
for many exponents at once (numpy object arrays of ``mpz``).

Only plain integers cross this module's boundary, so it can run in worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence

import gmpy2
import numpy as np

Mpz = type(gmpy2.mpz(0))


def best_window(n_bases: int, bits: int) -> int:
    """The bucket width minimising the estimated multiplication count."""
    best_w, best_cost = 1, float("inf")
    for w in range(1, 17):
        cost = -(-bits // w) * (n_bases + 2 ** (w + 1)) + bits
        if cost < best_cost:
            best_w, best_cost = w, cost
    return best_w


def multi_exp(bases: Sequence[object], exps: Sequence[int], modulus: object) -> object:
    """``prod_i bases[i] ** exps[i] mod modulus`` for non-negative exponents."""
    N = gmpy2.mpz(modulus)
    result = gmpy2.mpz(1)
    pairs = [(int(e), b) for b, e in zip(bases, exps, strict=True) if e]
    if any(e < 0 for e, _ in pairs):
        raise ValueError("multi_exp needs non-negative exponents")
    while pairs:
        buckets: dict[int, object] = {}
        for e, b in pairs:
            cur = buckets.get(e)
            buckets[e] = b if cur is None else cur * b % N
        values = sorted(buckets, reverse=True)
        if len(values) == 1:
            return result * gmpy2.powmod(buckets[values[0]], values[0], N) % N
        nxt: list[tuple[int, object]] = []
        running = None
        for k, v in enumerate(values):
            b = buckets[v]
            running = b if running is None else running * b % N
            nxt.append((v - (values[k + 1] if k + 1 < len(values) else 0), running))
        if 2 * max(g for g, _ in nxt) > values[0]:
            return result * pippenger([b for _, b in nxt], [g for g, _ in nxt], N) % N
        pairs = nxt
    return result


def pippenger(bases: Sequence[object], exps: Sequence[int], modulus: object) -> object:
    """``prod_i bases[i] ** exps[i] mod modulus`` with Pippenger's windowed buckets: in each
    ``w``-bit window every base goes into the bucket of its digit, and the buckets are
    combined with running products (``sum_k k * B_k`` in ``2 * 2**w`` multiplications)."""
    N = gmpy2.mpz(modulus)
    pairs = [(b, int(e)) for b, e in zip(bases, exps, strict=True) if e]
    if not pairs:
        return gmpy2.mpz(1)
    if any(e < 0 for _, e in pairs):
        raise ValueError("multi_exp needs non-negative exponents")
    bits = max(e for _, e in pairs).bit_length()
    w = best_window(len(pairs), bits)
    mask = (1 << w) - 1
    result = None
    for start in range(((bits - 1) // w) * w, -1, -w):
        if result is not None:
            for _ in range(w):
                result = result * result % N
        buckets: dict[int, object] = {}
        for b, e in pairs:
            d = (e >> start) & mask
            if d:
                cur = buckets.get(d)
                buckets[d] = b if cur is None else cur * b % N
        if not buckets:
            continue
        running = None
        window_acc = None
        for k in range(max(buckets), 0, -1):
            x = buckets.get(k)
            if x is not None:
                running = x if running is None else running * x % N
            if running is not None:
                window_acc = running if window_acc is None else window_acc * running % N
        result = window_acc if result is None else result * window_acc % N
    return gmpy2.mpz(1) if result is None else result


def multi_exp_columns(
    bases: Sequence[object], exps: np.ndarray, modulus: object
) -> list[object]:
    """One :func:`multi_exp` per column of the non-negative ``exps`` (shape ``(n, k)``)."""
    cols = exps.shape[1]
    return [multi_exp(bases, exps[:, j].tolist(), modulus) for j in range(cols)]


def product(values: Sequence[object], modulus: object) -> object:
    """``prod(values) mod modulus``."""
    N = gmpy2.mpz(modulus)
    acc = gmpy2.mpz(1)
    for v in values:
        acc = acc * v % N
    return acc


class FixedBaseTable:
    """Powers ``g ** (d * 2**(w*i)) mod N`` for fast ``g ** a`` with ``a < 2**bits``.

    With ``w = 8`` and 512-bit exponents: 64 windows x 255 entries (about 8 MB for a
    2048-bit key) and 64 multiplications per exponentiation.
    """

    def __init__(self, base: object, modulus: object, bits: int, window: int = 8) -> None:
        if bits % window:
            raise ValueError("exponent bits must be a multiple of the window")
        self.modulus = gmpy2.mpz(modulus)
        self.bits = bits
        self.window = window
        self.rows: list[np.ndarray] = []
        g = gmpy2.mpz(base) % self.modulus
        size = 1 << window
        for _ in range(bits // window):
            row = np.empty(size, dtype=object)
            row[0] = gmpy2.mpz(1)
            acc = g
            row[1] = acc
            for d in range(2, size):
                acc = acc * g % self.modulus
                row[d] = acc
            self.rows.append(row)
            g = acc * g % self.modulus  # g ** (2**w)

    def pow_many(self, digits: np.ndarray) -> np.ndarray:
        """``g ** a`` for each row of ``digits`` (shape ``(count, windows)``, little-endian
        base-``2**w`` digits of ``a``); returns an object array of ``mpz``."""
        count = digits.shape[0]
        acc = self.rows[0][digits[:, 0]]
        N = self.modulus
        for i in range(1, len(self.rows)):
            acc = acc * self.rows[i][digits[:, i]] % N
        if count == 0:
            return np.empty(0, dtype=object)
        return acc  # type: ignore[no-any-return]
