"""CKKS parameter sets and the named profiles the protocols use.

Parameters only (ring degree, coefficient-modulus chain, scale): they are public and
travel inside every party's public CKKS context. Nothing secret lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crypto.errors import CryptoError

# Largest total coefficient-modulus size (bits) at 128-bit classical security for each ring
# degree, from the Homomorphic Encryption Standard (2018), table for ternary secrets; these are
# the same bounds SEAL enforces with ``sec_level_type.tc128``.
HE_STANDARD_MAX_BITS_128: dict[int, int] = {4096: 109, 8192: 218, 16384: 438, 32768: 881}


@dataclass(frozen=True)
class CkksParams:
    """CKKS parameters. The defaults give >= 128-bit security (218-bit budget at N=8192).

    ``coeff_mod_bit_sizes``: first and last primes hold the integer part and key switching,
    the middle ones are consumed one per multiplication (depth = len - 2).
    """

    poly_modulus_degree: int = 8192
    coeff_mod_bit_sizes: tuple[int, ...] = (60, 40, 40, 60)
    global_scale_bits: int = 40

    def __post_init__(self) -> None:
        n = self.poly_modulus_degree
        if n not in HE_STANDARD_MAX_BITS_128:
            raise CryptoError(
                f"CKKS poly_modulus_degree {n} is not supported; expected one of "
                f"{sorted(HE_STANDARD_MAX_BITS_128)}",
                hint="Pick a profile from crypto.ckks.PROFILES.",
            )
        total = sum(self.coeff_mod_bit_sizes)
        if total > HE_STANDARD_MAX_BITS_128[n]:
            raise CryptoError(
                f"CKKS coefficient modulus of {total} bits exceeds the 128-bit-security bound "
                f"{HE_STANDARD_MAX_BITS_128[n]} for poly_modulus_degree {n}",
                hint="Use fewer or smaller primes, or a larger poly_modulus_degree.",
            )
        if not 20 <= self.global_scale_bits < max(self.coeff_mod_bit_sizes):
            raise CryptoError(
                f"CKKS global_scale_bits {self.global_scale_bits} must lie in [20, largest prime)",
                hint="Use the middle primes' bit size as the scale (e.g. 40 for (60, 40, 40, 60)).",
            )

    @property
    def slot_count(self) -> int:
        return self.poly_modulus_degree // 2

    @property
    def depth(self) -> int:
        """Number of plaintext/ciphertext multiplications a fresh ciphertext supports."""
        return len(self.coeff_mod_bit_sizes) - 2


@dataclass(frozen=True)
class CkksProfile:
    """A named parameter set with the precision measured on it (see docs/crypto/ckks.md)."""

    params: CkksParams
    purpose: str
    measured: dict[str, float] = field(default_factory=dict)


# Precision figures: max abs error on values uniform in [-1, 1], measured on this 2-core
# machine by ``python benchmarks/bench_ckks_psi.py --precision`` (docs/crypto/ckks.md).
# "partial_dot" sums slot_count products (4096 for fast, 8192 for precise); errors of
# products grow with the magnitude of the factors, errors of sums with sqrt(terms).
PROFILES: dict[str, CkksProfile] = {
    "fast": CkksProfile(
        params=CkksParams(8192, (60, 40, 40, 60), 40),
        purpose="default: 4096 slots, depth 2, 1.9 MB public context, 4.3 ms per encryption",
        measured={
            "encrypt_decrypt_max_abs_err": 9.6e-9,
            "sum10_max_abs_err": 2.5e-8,
            "mul_plain_max_abs_err": 1.4e-7,
            "mul_scalar_max_abs_err": 5.4e-8,
            "partial_dot_max_abs_err": 4.9e-6,
        },
    ),
    "precise": CkksProfile(
        params=CkksParams(16384, (60, 50, 50, 50, 60), 50),
        purpose=(
            "8192 slots, depth 3, ~100x smaller errors; 6.2 MB public context, 12 ms per encryption"
        ),
        measured={
            "encrypt_decrypt_max_abs_err": 1.6e-11,
            "sum10_max_abs_err": 5.5e-11,
            "mul_plain_max_abs_err": 1.9e-9,
            "mul_scalar_max_abs_err": 7.2e-10,
            "partial_dot_max_abs_err": 1.4e-7,
        },
    ),
    "aggregate": CkksProfile(
        params=CkksParams(8192, (60, 60), 40),
        purpose="sums only (depth 0: FedAvg of pre-weighted updates); ciphertexts 2.5x smaller",
        measured={
            "encrypt_decrypt_max_abs_err": 1.0e-8,
            "sum10_max_abs_err": 2.5e-8,
        },
    ),
}


__all__ = ["HE_STANDARD_MAX_BITS_128", "PROFILES", "CkksParams", "CkksProfile"]
