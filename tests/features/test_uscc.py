"""USCC check character (GB 32100-2015) against published codes and broken ones."""

from __future__ import annotations

import numpy as np
import pytest

from features.uscc import (
    CHARSET,
    USCCError,
    check_character,
    classify_usccs,
    generate_usccs,
    is_valid_uscc,
    region_of,
    uscc_problem,
    validate_uscc,
)
from lab.errors import DataValidationError

# Published codes: the standard's own example and codes printed on public business
# licences / annual reports of listed companies. Each was verified by hand computation.
KNOWN_VALID = [
    "91350100M000100Y43",  # the example in GB 32100-2015
    "914403001922038216",
    "9144030071526726XG",
    "91330100716105852F",
    "91110000802100433B",
    "91110108551385082Q",
    "91110000100010433L",
]


def _reference_check(first17: str) -> str:
    """Independent re-statement of the standard: weights 3^i mod 31."""
    weights = [pow(3, i, 31) for i in range(17)]
    total = sum(CHARSET.index(c) * w for c, w in zip(first17, weights, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def test_charset_excludes_confusable_letters() -> None:
    assert len(CHARSET) == 31
    assert not set("IOZSV") & set(CHARSET)


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_known_valid_codes(code: str) -> None:
    assert check_character(code[:17]) == code[17]
    assert _reference_check(code[:17]) == code[17]
    assert is_valid_uscc(code)
    validate_uscc(code)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91350100M000100Y44", "check character is '4', expected '3'"),
        ("914403001922038217", "check character is '7', expected '6'"),
        ("91350100M000100Y4", "has 17 characters, expected 18"),
        ("91350100M000100Y433", "has 19 characters, expected 18"),
        ("", "has 0 characters"),
        ("91350100m000100Y43", "lowercase"),
        ("91350100M0001I0Y43", "character 'I' at position 14"),
        ("91350100M0001O0Y43", "character 'O'"),
        ("91350100M0001S0Y43", "character 'S'"),
        ("91350100M0001V0Y43", "character 'V'"),
        ("91350100M0001Z0Y43", "character 'Z'"),
        ("91350100M000100Y4 ", "character ' ' at position 18"),
        ("913501001234567", "has 15 characters"),  # old 15-digit registration number
    ],
)
def test_invalid_codes_name_the_reason(code: str, reason: str) -> None:
    assert not is_valid_uscc(code)
    problem = uscc_problem(code)
    assert problem is not None and reason in problem
    with pytest.raises(USCCError, match="not a valid USCC") as info:
        validate_uscc(code)
    assert isinstance(info.value, DataValidationError)
    # the code and the reason are shown locally, never in the message that may leave a party
    assert f"{code!r}: {problem}" in str(info.value)
    assert info.value.public_message() == "not a valid USCC"


def test_non_string_is_invalid() -> None:
    assert not is_valid_uscc(None)
    assert not is_valid_uscc(913501001234567890)


def test_every_single_character_error_is_caught() -> None:
    """The check character detects any single substitution (31 is prime, weights nonzero)."""
    code = KNOWN_VALID[0]
    for pos in range(18):
        for ch in CHARSET:
            if ch != code[pos]:
                assert not is_valid_uscc(code[:pos] + ch + code[pos + 1 :])


def test_generated_codes_are_valid_unique_and_realistic() -> None:
    codes = generate_usccs(20_000, np.random.default_rng(1))
    assert codes.shape == (20_000,)
    assert len(set(codes.tolist())) == 20_000
    assert all(_reference_check(c[:17]) == c[17] for c in codes[:3000])
    well, ok = classify_usccs(codes)
    assert well.all() and ok.all()
    kinds = {c[:2] for c in codes}
    assert kinds <= {"91", "92", "93", "52"} and "91" in kinds
    share_91 = np.mean([c[:2] == "91" for c in codes])
    assert 0.85 < share_91 < 0.91
    assert {r[:2] for r in region_of(codes)} <= {
        "11",
        "31",
        "44",
        "33",
        "32",
        "35",
        "51",
        "42",
        "61",
        "45",
        "21",
        "37",
        "50",
    }
    # post-2015 organization codes start with MA
    assert np.mean([c[8:10] == "MA" for c in codes]) > 0.8


def test_generated_numeric_org_codes_carry_gb11714_check() -> None:
    codes = [c for c in generate_usccs(5000, np.random.default_rng(2)) if c[8:16].isdigit()]
    assert codes
    for c in codes:
        body = [int(d) for d in c[8:16]]
        r = 11 - sum(b * w for b, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
        assert c[16] == {10: "X", 11: "0"}.get(r, str(r))


def test_generation_is_deterministic() -> None:
    a = generate_usccs(1000, np.random.default_rng(7))
    b = generate_usccs(1000, np.random.default_rng(7))
    c = generate_usccs(1000, np.random.default_rng(8))
    assert (a == b).all() and not (a == c).all()


def test_classify_flags_malformed_and_bad_check() -> None:
    codes = [KNOWN_VALID[0], KNOWN_VALID[0].lower(), "x", None, "91350100M000100Y44", "中" * 18]
    well, ok = classify_usccs(codes)
    assert well.tolist() == [True, False, False, False, True, False]
    assert ok.tolist() == [True, False, False, False, False, False]
