"""Unified social credit codes (统一社会信用代码, USCC), GB 32100-2015.

A USCC has 18 characters from the 31-character set ``0-9 A-Y`` without ``I O Z S V``:

- position 1, registration authority (登记管理部门): ``1`` 机构编制, ``5`` 民政, ``9`` 工商,
  ``Y`` other;
- position 2, organization type (机构类别); under authority ``9``: ``1`` enterprise,
  ``2`` individual business, ``3`` farmers' cooperative;
- positions 3-8, administrative division code (登记管理机关行政区划码, GB/T 2260), e.g. ``310115``;
- positions 9-17, organization code (主体标识码, GB 11714: 8 characters + its own check);
- position 18, the check character over positions 1-17 (this module).

Example: ``91350100M000100Y43`` (the standard's own example).

Check character: ``31 - (sum(value(c_i) * w_i) mod 31)`` with the weights
``3^i mod 31``; a result of 31 becomes ``0``.

Nothing here leaves the party: these are local, pure functions.
"""

from __future__ import annotations

import numpy as np

from crypto.errors import ConfigError, USCCError

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC_LENGTH = 18

_VALUE = {c: i for i, c in enumerate(CHARSET)}
_CHARSET_BYTES = np.frombuffer(CHARSET.encode("ascii"), dtype=np.uint8)
# byte -> value lookup (-1 = not in the charset)
_LUT = np.full(256, -1, dtype=np.int16)
_LUT[_CHARSET_BYTES] = np.arange(len(CHARSET), dtype=np.int16)
_W = np.asarray(WEIGHTS, dtype=np.int64)

# GB 11714 organization code: 8 body characters (0-9, A-Z as 10-35) and a check character.
_ORG_WEIGHTS = np.asarray((3, 7, 9, 10, 5, 8, 4, 2), dtype=np.int64)
_ORG_LUT = np.full(256, -1, dtype=np.int16)
_ORG_LUT[np.frombuffer(b"0123456789", dtype=np.uint8)] = np.arange(10)
_ORG_LUT[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)] = np.arange(10, 36)

# Administrative division codes (GB/T 2260) used by the generator, with a short region name.
REGIONS: dict[str, str] = {
    "110000": "beijing",
    "310000": "shanghai",
    "440300": "shenzhen",
    "440100": "guangzhou",
    "330100": "hangzhou",
    "320500": "suzhou",
    "350100": "fuzhou",
    "510100": "chengdu",
    "420100": "wuhan",
    "610100": "xian",
    "450100": "nanning",
    "210200": "dalian",
    "370200": "qingdao",
    "500000": "chongqing",
}


def check_character(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a USCC."""
    if len(first17) != USCC_LENGTH - 1:
        raise USCCError(f"expected 17 characters to compute a check character, got {len(first17)}")
    total = 0
    for pos, (ch, w) in enumerate(zip(first17, WEIGHTS, strict=True), start=1):
        if ch not in _VALUE:
            raise USCCError(
                f"the character at position {pos} is not allowed in a USCC",
                detail=f"character {ch!r}",
            )
        total += _VALUE[ch] * w
    return CHARSET[(31 - total % 31) % 31]


def uscc_problem(code: object) -> str | None:
    """Why ``code`` is not a valid USCC, or ``None`` when it is."""
    if not isinstance(code, str):
        return f"expected a string, got {type(code).__name__}"
    if len(code) != USCC_LENGTH:
        return f"has {len(code)} characters, expected {USCC_LENGTH}"
    for pos, ch in enumerate(code, start=1):
        if ch not in _VALUE:
            extra = " (lowercase; USCCs are upper case)" if ch.upper() in _VALUE else ""
            return f"character {ch!r} at position {pos} is not allowed{extra}"
    expected = check_character(code[:17])
    if code[17] != expected:
        return f"check character is {code[17]!r}, expected {expected!r}"
    return None


def is_valid_uscc(code: object) -> bool:
    """True when ``code`` is an 18-character USCC with a correct check character."""
    return uscc_problem(code) is None


def validate_uscc(code: object) -> None:
    """Raise :class:`USCCError` naming the reason when ``code`` is not a valid USCC."""
    problem = uscc_problem(code)
    if problem is not None:
        raise USCCError("not a valid USCC", detail=f"{code!r}: {problem}")


def _as_byte_matrix(codes: np.ndarray | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(n, 18) uint8 matrix of the codes' ASCII bytes and a mask of rows that fit."""
    arr = np.asarray(codes, dtype=object)
    n = arr.shape[0]
    lengths = np.fromiter((len(c) if isinstance(c, str) else -1 for c in arr), np.int64, n)
    ok = lengths == USCC_LENGTH
    mat = np.zeros((n, USCC_LENGTH), dtype=np.uint8)
    if ok.any():
        good = arr[ok].astype(str)
        ascii_ok = np.fromiter((c.isascii() for c in good), bool, good.shape[0])
        enc = np.char.encode(np.where(ascii_ok, good, "0" * USCC_LENGTH), "ascii")
        mat[ok] = np.frombuffer(enc.astype("S18").tobytes(), np.uint8).reshape(-1, USCC_LENGTH)
        idx = np.flatnonzero(ok)
        ok[idx[~ascii_ok]] = False
    return mat, ok


def classify_usccs(codes: np.ndarray | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized check of many codes: (well_formed, check_ok) boolean arrays.

    ``well_formed``: 18 characters, all from the USCC charset. ``check_ok``: well formed
    and the 18th character is the right check character.
    """
    mat, ok = _as_byte_matrix(codes)
    vals = _LUT[mat]
    well_formed = ok & (vals >= 0).all(axis=1)
    expected = (31 - (vals[:, :17].astype(np.int64) @ _W) % 31) % 31
    check_ok = well_formed & (vals[:, 17] == expected)
    return well_formed, check_ok


def _org_check(body: np.ndarray) -> np.ndarray:
    """GB 11714 check characters (as ASCII bytes) for an (n, 8) uint8 matrix of bodies."""
    vals = _ORG_LUT[body].astype(np.int64)
    c = 11 - (vals @ _ORG_WEIGHTS) % 11
    out = np.where(c == 10, ord("X"), np.where(c == 11, ord("0"), ord("0") + c))
    return out.astype(np.uint8)


def generate_usccs(
    n: int,
    rng: np.random.Generator,
    *,
    regions: tuple[str, ...] | None = None,
) -> np.ndarray:
    """``n`` distinct, valid, realistic USCCs (numpy array of ``str``), vectorized.

    Mix: ~88 % companies (``91``), ~8 % individual businesses (``92``), ~2 % farmers'
    cooperatives (``93``), ~2 % social organizations (``52``). About 10 % carry a pre-2015
    numeric organization code (8 digits + GB 11714 check digit, which may be ``X``), the
    rest a post-2015 ``MA``-style code (the split follows the sizes of the two code spaces).
    Region codes come from :data:`REGIONS` (or ``regions``) with a skew toward the first ones.
    """
    if n < 0:
        raise ConfigError(f"number of USCCs to generate must be >= 0, got {n}")
    region_codes = tuple(regions or REGIONS)
    if n == 0:
        return np.empty(0, dtype="<U18")
    # Distinct organization bodies: draw integers, keep first occurrences, top up.
    numeric_space = 10**8
    ma_space = 31**6
    space = numeric_space + ma_space
    picked = np.empty(0, dtype=np.int64)
    while picked.shape[0] < n:
        need = n - picked.shape[0]
        draw = rng.integers(0, space, size=need + need // 8 + 16, dtype=np.int64)
        allv = np.concatenate([picked, draw])
        _, first = np.unique(allv, return_index=True)
        picked = allv[np.sort(first)][:n]
    numeric = picked < numeric_space
    body = np.empty((n, 8), dtype=np.uint8)
    digits = np.frombuffer(b"0123456789", dtype=np.uint8)
    num_vals = np.where(numeric, picked, picked - numeric_space)
    # numeric-range rows: 8 digits
    v = num_vals.copy()
    for k in range(7, -1, -1):
        body[numeric, k] = digits[v[numeric] % 10]
        v = np.where(numeric, v // 10, v)
    # MA-range rows: "MA" + 6 charset characters
    v = num_vals.copy()
    body[~numeric, 0] = ord("M")
    body[~numeric, 1] = ord("A")
    for k in range(7, 1, -1):
        body[~numeric, k] = _CHARSET_BYTES[v[~numeric] % 31]
        v = np.where(~numeric, v // 31, v)
    org_check = _org_check(body)

    kind = rng.choice(np.array([b"91", b"92", b"93", b"52"]), size=n, p=[0.88, 0.08, 0.02, 0.02])
    weights = np.linspace(2.0, 1.0, len(region_codes))
    region = rng.choice(
        np.array([r.encode() for r in region_codes]), size=n, p=weights / weights.sum()
    )
    mat = np.empty((n, USCC_LENGTH), dtype=np.uint8)
    mat[:, 0:2] = np.frombuffer(kind.astype("S2").tobytes(), np.uint8).reshape(n, 2)
    mat[:, 2:8] = np.frombuffer(region.astype("S6").tobytes(), np.uint8).reshape(n, 6)
    mat[:, 8:16] = body
    mat[:, 16] = org_check
    vals = _LUT[mat[:, :17]].astype(np.int64)
    mat[:, 17] = _CHARSET_BYTES[(31 - (vals @ _W) % 31) % 31]
    return np.frombuffer(mat.tobytes(), dtype="S18").astype("<U18")


def region_of(codes: np.ndarray) -> np.ndarray:
    """The 6-digit administrative division code (positions 3-8) of each USCC."""
    raw = np.asarray(codes, dtype="<U18").astype("S18")
    chars = raw.view("S1").reshape(-1, USCC_LENGTH)[:, 2:8].copy()
    return chars.view("S6").ravel().astype("<U6")


__all__ = [
    "CHARSET",
    "REGIONS",
    "USCCError",
    "USCC_LENGTH",
    "WEIGHTS",
    "check_character",
    "classify_usccs",
    "generate_usccs",
    "is_valid_uscc",
    "region_of",
    "uscc_problem",
    "validate_uscc",
]
