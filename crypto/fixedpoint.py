"""Fixed-point encoding of real numbers as Paillier plaintexts.

A value ``x`` is encoded at a binary exponent ``e`` as the integer ``m = round(x * 2**e)``
(round half to even), stored modulo ``n`` so negatives become ``n - |m|``. All values of
one :class:`~crypto.paillier.EncryptedArray` share one exponent, so ciphertexts add without
re-encoding. The safe range is ``|m| < n / 3``: encoding refuses larger values and
decoding refuses residues in the middle third, which is where an overflowing sum lands.

Nothing here leaves the party: this module only turns numbers into integers and back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crypto.errors import CryptoError, EncodingOverflowError

DEFAULT_EXPONENT = 40
"""Default binary exponent: a resolution of 2**-40 (about 9.1e-13)."""

MAX_EXPONENT = 4096

_EXACT_INT64 = float(2**62)
_EXACT_FLOAT = 2**53


def check_exponent(exponent: int) -> int:
    """Return ``exponent`` as an int after checking it is in ``[0, MAX_EXPONENT]``."""
    if isinstance(exponent, bool) or not isinstance(exponent, (int, np.integer)):
        raise CryptoError(f"fixed-point exponent must be an int, got {type(exponent).__name__}")
    if not 0 <= int(exponent) <= MAX_EXPONENT:
        raise CryptoError(
            f"fixed-point exponent {int(exponent)} is outside [0, {MAX_EXPONENT}]",
            hint="Use an exponent such as 16, 24 or 40 bits of fractional precision.",
        )
    return int(exponent)


def to_signed_ints(values: object, exponent: int) -> list[int]:
    """Encode ``values`` (scalar or 1-d array) as signed integers ``round(x * 2**exponent)``.

    Integer arrays (and Python ints) are encoded exactly; floats are rounded half to even.
    Raises :class:`CryptoError` naming the first NaN/inf index.
    """
    exponent = check_exponent(exponent)
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise CryptoError(f"expected a scalar or a 1-d array, got shape {arr.shape}")
    if arr.dtype == object:
        return [_encode_object(v, exponent, i) for i, v in enumerate(arr.tolist())]
    if arr.dtype.kind in "iub":
        # tolist() gives exact Python ints for every integer dtype (uint64 >= 2**63 too;
        # a cast to int64 would wrap them negative)
        return [int(v) << exponent for v in arr.tolist()]
    if arr.dtype.kind != "f":
        raise CryptoError(f"cannot encode values of dtype {arr.dtype}; pass numbers")
    arr = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise CryptoError(
            f"value at index {i} is {arr[i]!r}; NaN and infinity cannot be encrypted",
            hint="Impute or drop non-finite values before encrypting.",
        )
    with np.errstate(over="ignore"):
        scaled = np.rint(np.ldexp(arr, exponent))
    small = np.abs(scaled) < _EXACT_INT64
    if small.all():
        return scaled.astype(np.int64).tolist()  # type: ignore[no-any-return]
    out: list[int] = [0] * len(arr)
    small_idx = np.flatnonzero(small)
    for i, v in zip(small_idx.tolist(), scaled[small].astype(np.int64).tolist(), strict=True):
        out[i] = v
    for i in np.flatnonzero(~small).tolist():
        s = scaled[i]
        # An integer-valued float converts exactly; if scaling overflowed float64, the
        # input itself is an integer (|x| >= 2**52) and shifting it is exact too.
        out[i] = int(s) if np.isfinite(s) else int(arr[i]) << exponent
    return out


def _encode_object(v: object, exponent: int, index: int) -> int:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v) << exponent
    try:
        return to_signed_ints(np.array([float(v)]), exponent)[0]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise CryptoError(f"value at index {index} is not a number") from None
    except CryptoError:
        raise CryptoError(
            f"value at index {index} is not finite; NaN and infinity cannot be encrypted"
        ) from None


def check_range(ints: Sequence[int], n: int) -> None:
    """Raise :class:`EncodingOverflowError` if some ``|m| >= n / 3`` (names the index)."""
    if not ints:
        return
    bound_bits = n.bit_length() - 3  # values below 2**bound_bits are always safe
    biggest = max(max(ints), -min(ints))
    if biggest.bit_length() <= bound_bits:
        return
    for i, m in enumerate(ints):
        if 3 * abs(m) >= n:
            raise EncodingOverflowError(
                f"value at index {i} needs {abs(m).bit_length()} bits at this exponent; the "
                f"safe plaintext range of this {n.bit_length()}-bit key is |m| < n/3"
            )


def encode(values: object, exponent: int, n: int) -> list[int]:
    """Encode values as plaintext residues in ``[0, n)`` (negatives wrap modulo ``n``)."""
    ints = to_signed_ints(values, exponent)
    check_range(ints, n)
    return [m % n for m in ints]


def to_signed(residues: Sequence[int], n: int) -> list[int]:
    """Map residues in ``[0, n)`` back to signed ints; refuse the overflow band ``[n/3, 2n/3]``."""
    half = n // 2
    out = [int(m) - n if m > half else int(m) for m in residues]
    check_range(out, n)
    return out


def decode(residues: Sequence[int], exponent: int, n: int) -> np.ndarray:
    """Decode plaintext residues to float64 (``m / 2**exponent``, correctly rounded)."""
    try:
        signed = to_signed(residues, n)
    except EncodingOverflowError as exc:
        raise EncodingOverflowError(
            f"decrypted {str(exc).split(' needs')[0]} is outside the safe range: a sum or "
            "product overflowed the plaintext space"
        ) from None
    return ints_to_float(signed, exponent)


def ints_to_float(signed: Sequence[int], exponent: int) -> np.ndarray:
    """``m / 2**exponent`` for each signed int, as float64."""
    if not signed:
        return np.zeros(0, dtype=np.float64)
    biggest = max(max(signed), -min(signed))
    if biggest < _EXACT_FLOAT:
        return np.ldexp(np.array(signed, dtype=np.float64), -exponent)
    scale = 1 << exponent
    out = np.empty(len(signed), dtype=np.float64)
    for i, m in enumerate(signed):
        try:
            out[i] = m / scale
        except OverflowError:
            raise EncodingOverflowError(
                f"decoded value at index {i} exceeds the float64 range"
            ) from None
    return out


def to_ring64(values: object, frac_bits: int) -> np.ndarray:
    """Reals as fixed-point elements of Z/2**64 (``uint64``), for additive masks.

    ``round(x * 2**frac_bits)`` as a two's-complement word: masked words add and unmask
    exactly (wrapping arithmetic), so equal inputs stay bit-for-bit equal after a masked
    sum, whatever the masks were. Refuses values whose fixed-point form needs more than 62
    bits, which would wrap on summing a few of them.
    """
    x = np.asarray(values, dtype=np.float64)
    scaled = np.round(x * 2.0**frac_bits)
    if not np.all(np.isfinite(scaled)) or np.any(np.abs(scaled) >= _EXACT_INT64):
        raise EncodingOverflowError(
            f"values up to {np.nanmax(np.abs(x)):g} do not fit 64-bit fixed point with "
            f"{frac_bits} fractional bits (limit {_EXACT_INT64 / 2.0**frac_bits:g}); "
            "NaN and infinity have no fixed-point form"
        )
    return scaled.astype(np.int64).view(np.uint64)


def from_ring64(words: object, frac_bits: int) -> np.ndarray:
    """Inverse of :func:`to_ring64` for a (wrapped) sum of encoded values."""
    return np.asarray(words, dtype=np.uint64).view(np.int64).astype(np.float64) / 2.0**frac_bits
