"""Payload <-> Flower ``RecordDict`` conversion.

Numpy arrays travel in an ``ArrayRecord`` named ``"arrays"``; every other value
(int, float, str, bytes, bool and lists of them) in a ``ConfigRecord`` named ``"cfg"``.
A list may be empty: it decodes as ``[]`` (locally and through Flower's protobuf), so a
protocol sends an empty list as it is, with no stand-in element.
The action name travels as ``cfg["__action__"]``; a party-side failure comes back as a
:class:`PartyFailure` in ``cfg["__error__"]`` (the public message), ``__error_type__``,
``__error_code__`` and ``__error_hint__``: no record values, no secrets
(:mod:`federation.failures` builds it).

:func:`to_wire` / :func:`from_wire` are the bytes Flower's runtimes carry between
processes (its protobuf ``RecordDict``). Decoding refuses, with a
:class:`~crypto.errors.ProtocolError`, bytes that are not such a message, records of the
wrong kind and arrays whose header does not fit their data (before any allocation), so a
malformed or truncated message is a clear error, never a crash or a hang.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict
from numpy.lib import format as npy

from crypto.errors import PartyError, ProtocolError
from federation.transport import Envelope, Payload

ACTION_KEY = "__action__"
ERROR_KEY = "__error__"
ERROR_CODE_KEY = "__error_code__"
ERROR_TYPE_KEY = "__error_type__"
ERROR_HINT_KEY = "__error_hint__"

_SCALARS = (int, float, str, bytes, bool)


def _check_value(key: str, value: Any) -> None:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise ProtocolError(
                f"payload field {key!r} is an object array; serialize ciphertexts to bytes first"
            )
        return
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value):
        if len({type(v) for v in value}) > 1:
            raise ProtocolError(f"payload field {key!r} mixes value types")
        return
    raise ProtocolError(f"payload field {key!r} has unsupported type {type(value).__name__}")


def to_records(env: Envelope) -> RecordDict:
    """Encode an envelope's action and payload as Flower records."""
    cfg: dict[str, Any] = {ACTION_KEY: env.action}
    arrays: dict[str, Array] = {}
    for key, value in env.payload.items():
        _check_value(key, value)
        if isinstance(value, np.ndarray):
            arrays[key] = Array(np.ascontiguousarray(value))
        elif isinstance(value, (np.integer, np.floating)):
            cfg[key] = value.item()
        else:
            cfg[key] = value
    content: dict[str, ArrayRecord | MetricRecord | ConfigRecord] = {"cfg": ConfigRecord(cfg)}
    if arrays:
        content["arrays"] = ArrayRecord(arrays)
    return RecordDict(content)


def _malformed(party: str, what: str) -> ProtocolError:
    return ProtocolError(
        f"message from/for party {party!r}: {what}",
        hint="Coordinator and parties must run the same lab version; run again.",
    )


def _array(party: str, key: str, arr: Array) -> np.ndarray:
    """``arr`` as numpy, its npy header checked against its data before anything is
    allocated."""
    data = arr.data if isinstance(arr.data, bytes) else b""
    buf = io.BytesIO(data)
    try:
        version = npy.read_magic(buf)
        if version == (1, 0):
            shape, _, dtype = npy.read_array_header_1_0(buf)
        elif version == (2, 0):
            shape, _, dtype = npy.read_array_header_2_0(buf)
        else:  # to_records writes 1.0 (2.0 for very wide headers)
            raise ValueError("unsupported npy version")
        need = math.prod(shape) * dtype.itemsize
        if dtype.hasobject or need > len(data) - buf.tell():
            raise ValueError("header does not fit the data")
        return np.asarray(arr.numpy())
    except (ValueError, TypeError, EOFError, OverflowError, SyntaxError):
        raise _malformed(party, f"array field {key!r} is not a well-formed numpy array") from None


def from_records(party: str, content: RecordDict) -> Envelope:
    """Decode Flower records back into an envelope from/to ``party``."""
    cfg_record = content["cfg"] if "cfg" in content else ConfigRecord({})
    if not isinstance(cfg_record, ConfigRecord):
        raise _malformed(party, "its 'cfg' record is not a ConfigRecord")
    cfg = dict(cfg_record)
    action = str(cfg.pop(ACTION_KEY, ""))
    payload: Payload = dict(cfg)
    if "arrays" in content:
        arrays = content["arrays"]
        if not isinstance(arrays, ArrayRecord):
            raise _malformed(party, "its 'arrays' record is not an ArrayRecord")
        for key, arr in arrays.items():
            payload[key] = _array(party, key, arr)
    return Envelope(party=party, action=action, payload=payload)


def to_wire(env: Envelope) -> bytes:
    """The envelope as the protobuf bytes Flower's runtimes send."""
    from flwr.common import serde

    return bytes(serde.recorddict_to_proto(to_records(env)).SerializeToString())


def from_wire(party: str, data: bytes) -> Envelope:
    """Inverse of :func:`to_wire`; bytes that are not such a message raise
    :class:`~crypto.errors.ProtocolError`."""
    from flwr.common import serde
    from flwr.proto.recorddict_pb2 import RecordDict as ProtoRecordDict
    from google.protobuf.message import DecodeError

    proto = ProtoRecordDict()
    try:
        proto.ParseFromString(bytes(data))
        content = serde.recorddict_from_proto(proto)
    except (DecodeError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        raise _malformed(party, f"{len(data)} bytes that are not Flower records") from None
    return from_records(party, content)


@dataclass(frozen=True)
class PartyFailure:
    """What a party reports about a request it could not answer: public facts only.

    ``message`` names the file, column, count and lines (a :class:`~crypto.errors.LabError`'s
    ``public_message()``), never a value from the party's records.
    """

    error_type: str
    code: str
    message: str
    hint: str = ""

    def reason(self) -> str:
        """One line: type, code, message and hint."""
        text = f"{self.error_type} [{self.code}]: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


def error_reply(action: str, failure: PartyFailure) -> RecordDict:
    """Records for a failed handler: the failure's public fields, nothing else."""
    return RecordDict(
        {
            "cfg": ConfigRecord(
                {
                    ACTION_KEY: action,
                    ERROR_KEY: failure.message,
                    ERROR_TYPE_KEY: failure.error_type,
                    ERROR_CODE_KEY: failure.code,
                    ERROR_HINT_KEY: failure.hint,
                }
            )
        }
    )


def raise_if_error(env: Envelope) -> Envelope:
    """Turn a party's error reply into a :class:`~crypto.errors.PartyError` naming the party."""
    if ERROR_KEY in env.payload:
        p = env.payload
        raise PartyError(
            env.party,
            env.action,
            error_type=str(p.get(ERROR_TYPE_KEY, "Error")),
            error_code=str(p.get(ERROR_CODE_KEY, "FEDLAB-000")),
            message=str(p[ERROR_KEY]),
            hint=str(p.get(ERROR_HINT_KEY, "")),
        )
    return env


__all__ = [
    "PartyFailure",
    "error_reply",
    "from_records",
    "from_wire",
    "raise_if_error",
    "to_records",
    "to_wire",
]
