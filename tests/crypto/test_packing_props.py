"""Property tests for the packing layout: what goes into slots comes back out, and sums of
up to ``max_terms`` packed rows unpack to the slot-wise sums (what hosts compute on
ciphertexts, checked on the plaintext integers with an independent numpy reference)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import EncodingOverflowError
from crypto.packing import PackedCodec


@st.composite
def codec_and_rows(draw: st.DrawFn) -> tuple[PackedCodec, list[list[int]]]:
    slot_bits = draw(st.integers(2, 80))
    n_slots = draw(st.integers(1, max(1, min(12, (1021 // slot_bits)))))
    max_terms = draw(st.integers(1, 8))
    if ((1 << slot_bits) - 1) // max_terms < 1:
        max_terms = 1
    codec = PackedCodec(slot_bits, n_slots, max_terms=max_terms, key_bits=1024)
    n_rows = draw(st.integers(1, max_terms))
    value = st.integers(0, codec.max_value)
    rows = draw(
        st.lists(
            st.lists(value, min_size=n_slots, max_size=n_slots), min_size=n_rows, max_size=n_rows
        )
    )
    return codec, rows


@settings(max_examples=200, deadline=None)
@given(codec_and_rows())
def test_pack_unpack_round_trip_and_sums(case: tuple[PackedCodec, list[list[int]]]) -> None:
    codec, rows = case
    packed = codec.pack(rows)
    assert [list(map(int, r)) for r in codec.unpack(packed)] == rows
    total = sum(packed)  # what adding the ciphertexts of all rows decrypts to
    want = [sum(r[j] for r in rows) for j in range(codec.n_slots)]
    assert [int(v) for v in codec.unpack([total])[0]] == want


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 60), st.integers(1, 8), st.integers(1, 5))
def test_out_of_range_values_are_refused(slot_bits: int, n_slots: int, max_terms: int) -> None:
    if ((1 << slot_bits) - 1) // max_terms < 1:
        return
    codec = PackedCodec(slot_bits, n_slots, max_terms=max_terms, key_bits=1024)
    row = np.zeros(n_slots, dtype=object)
    row[n_slots - 1] = codec.max_value + 1
    with pytest.raises(EncodingOverflowError):
        codec.pack([row.tolist()])
    row[n_slots - 1] = -1
    with pytest.raises(EncodingOverflowError):
        codec.pack([row.tolist()])
    with pytest.raises(EncodingOverflowError):
        codec.unpack([1 << (slot_bits * n_slots)])
