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
from federation.records import from_records, to_records
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
