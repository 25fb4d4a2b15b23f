"""Payload <-> Flower ``RecordDict`` conversion.

Numpy arrays travel in an ``ArrayRecord`` named ``"arrays"``; every other value
(int, float, str, bytes, bool and lists of them) in a ``ConfigRecord`` named ``"cfg"``.
A list may be empty: it decodes as ``[]`` (locally and through Flower's protobuf), so a
protocol sends an empty list as it is, with no stand-in element.
The action name travels as ``cfg["__action__"]``; a party-side failure comes back as a
:class:`PartyFailure` in ``cfg["__error__"]`` (the public message), ``__error_type__``,
``__error_code__`` and ``__error_hint__``: no record values, no secrets
(:mod:`federation.failures` builds it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict

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


def from_records(party: str, content: RecordDict) -> Envelope:
    """Decode Flower records back into an envelope from/to ``party``."""
    cfg = dict(content["cfg"]) if "cfg" in content else {}
    action = str(cfg.pop(ACTION_KEY, ""))
    payload: Payload = dict(cfg)
    if "arrays" in content:
        for key, arr in content.array_records["arrays"].items():
            payload[key] = arr.numpy()
    return Envelope(party=party, action=action, payload=payload)


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


__all__ = ["PartyFailure", "error_reply", "from_records", "raise_if_error", "to_records"]
