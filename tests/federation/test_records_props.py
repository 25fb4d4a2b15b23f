"""Property tests for the wire encoding (``federation.records``): every payload the
protocols may send survives Flower's records unchanged, and malformed payloads are refused
with a clear ProtocolError, never a crash."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import ConfigRecord, RecordDict
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from crypto.errors import ProtocolError
from federation.records import from_records, from_wire, to_records, to_wire
from federation.transport import Envelope

_key = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=8)
_ints = st.integers(-(2**63), 2**63 - 1)
_floats = st.floats(allow_nan=False)
_scalar = st.one_of(_ints, _floats, st.text(max_size=20), st.binary(max_size=40), st.booleans())
_lists = st.one_of(  # empty lists included: protocols send empty node lists as they are
    st.lists(_ints, max_size=5),
    st.lists(_floats, max_size=5),
    st.lists(st.text(max_size=5), max_size=5),
    st.lists(st.binary(max_size=5), max_size=5),
)
_arrays = hnp.arrays(
    st.sampled_from([np.float64, np.float32, np.int64, np.int32, np.uint8, np.bool_]),
    hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
)
_payload = st.dictionaries(_key, st.one_of(_scalar, _lists, _arrays), max_size=6)


@settings(max_examples=200, deadline=None)
@given(_payload)
def test_round_trip(payload: dict) -> None:
    env = Envelope("tax", "step", payload)
    back = from_records("tax", to_records(env))
    assert back.action == "step"
    assert sorted(back.payload) == sorted(payload)
    for k, v in payload.items():
        got = back.payload[k]
        if isinstance(v, np.ndarray):
            assert got.dtype == v.dtype and got.shape == v.shape
            np.testing.assert_array_equal(got, v)
        else:
            assert got == v and type(got) is type(v)


@settings(max_examples=100, deadline=None)
@given(_payload)
def test_round_trip_through_flower_serialization(payload: dict) -> None:
    """The same payloads, empty lists included, through the protobuf bytes the Flower
    runtimes send between processes."""
    from flwr.common import serde
    from flwr.proto.recorddict_pb2 import RecordDict as ProtoRecordDict

    wire = serde.recorddict_to_proto(to_records(Envelope("tax", "step", payload)))
    proto = ProtoRecordDict()
    proto.ParseFromString(wire.SerializeToString())
    back = from_records("tax", serde.recorddict_from_proto(proto))
    assert back.action == "step" and sorted(back.payload) == sorted(payload)
    for k, v in payload.items():
        got = back.payload[k]
        if isinstance(v, np.ndarray):
            assert got.dtype == v.dtype and got.shape == v.shape
            np.testing.assert_array_equal(got, v)
        else:
            assert got == v and type(got) is type(v)


def test_empty_lists_round_trip() -> None:
    payload = {"nodes": [], "hosts": [], "n": 0}
    assert from_records("tax", to_records(Envelope("tax", "step", payload))).payload == payload


@settings(max_examples=100, deadline=None)
@given(_key, st.lists(st.one_of(_ints, st.text(max_size=3)), min_size=2, max_size=6))
def test_mixed_lists_are_refused(key: str, values: list) -> None:
    if len({type(v) for v in values}) < 2:
        return
    with pytest.raises(ProtocolError, match=key):
        to_records(Envelope("tax", "step", {key: values}))


def test_unsupported_values_are_refused() -> None:
    for bad in ({"a": 1}, np.array([object()], dtype=object), None, (1, 2)):
        with pytest.raises(ProtocolError):
            to_records(Envelope("tax", "step", {"x": bad}))


def test_records_without_payload_decode_to_an_empty_action() -> None:
    env = from_records("tax", RecordDict({"cfg": ConfigRecord({})}))
    assert env.action == "" and env.payload == {}


# ---------------------------------------------------------------------------------------
# the bytes between processes: round trip, and malformed bytes give a coded error


def _assert_same(back: Envelope, payload: dict) -> None:
    assert back.action == "step" and sorted(back.payload) == sorted(payload)
    for k, v in payload.items():
        got = back.payload[k]
        if isinstance(v, np.ndarray):
            assert got.dtype == v.dtype and got.shape == v.shape
            np.testing.assert_array_equal(got, v)
        else:
            assert got == v and type(got) is type(v)


@settings(max_examples=60, deadline=None)
@given(_payload)
def test_wire_bytes_round_trip(payload: dict) -> None:
    _assert_same(from_wire("tax", to_wire(Envelope("tax", "step", payload))), payload)


def _decodes_or_refuses(data: bytes) -> None:
    """A decoded envelope, or a ProtocolError naming the party; nothing else."""
    try:
        env = from_wire("tax", data)
    except ProtocolError as exc:
        assert exc.code == "FEDLAB-400" and "'tax'" in str(exc) and exc.hint
        return
    assert isinstance(env, Envelope) and isinstance(env.payload, dict)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_decode_or_give_a_coded_error(data: bytes) -> None:
    _decodes_or_refuses(data)


@settings(max_examples=100, deadline=None)
@given(_payload, st.data())
def test_truncated_or_flipped_bytes_decode_or_give_a_coded_error(payload: dict, data) -> None:  # noqa: ANN001
    wire = to_wire(Envelope("tax", "step", payload))
    cut = data.draw(st.integers(0, max(len(wire) - 1, 0)))
    _decodes_or_refuses(wire[:cut])
    if wire:
        i = data.draw(st.integers(0, len(wire) - 1))
        flipped = bytearray(wire)
        flipped[i] ^= data.draw(st.integers(1, 255))
        _decodes_or_refuses(bytes(flipped))


def test_truncated_message_is_refused_with_the_party_named() -> None:
    wire = to_wire(Envelope("tax", "step", {"x": np.arange(100.0)}))
    with pytest.raises(ProtocolError, match=r"party 'tax': \d+ bytes that are not Flower records"):
        from_wire("tax", wire[: len(wire) // 2])


def test_array_whose_header_claims_more_than_its_data_is_refused() -> None:
    """A header claiming 10**12 elements over 8 bytes of data: refused before numpy
    allocates anything."""
    import io as _io

    from flwr.app import Array, ArrayRecord
    from numpy.lib import format as npy

    buf = _io.BytesIO()
    npy.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    buf.write(b"\0" * 8)
    arr = Array(dtype="float64", shape=(1,), stype="numpy.ndarray", data=buf.getvalue())
    content = RecordDict({"cfg": ConfigRecord({}), "arrays": ArrayRecord({"x": arr})})
    with pytest.raises(ProtocolError, match=r"array field 'x' is not a well-formed numpy array"):
        from_records("tax", content)


def test_records_of_the_wrong_kind_are_refused() -> None:
    from flwr.app import ArrayRecord

    with pytest.raises(ProtocolError, match=r"'cfg' record is not a ConfigRecord"):
        from_records("tax", RecordDict({"cfg": ArrayRecord({})}))
    with pytest.raises(ProtocolError, match=r"'arrays' record is not an ArrayRecord"):
        from_records("tax", RecordDict({"cfg": ConfigRecord({}), "arrays": ConfigRecord({})}))
