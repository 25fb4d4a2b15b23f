"""Payload <-> Flower ``RecordDict`` conversion.

Numpy arrays travel in an ``ArrayRecord`` named ``"arrays"``; every other value
(int, float, str, bytes, bool and lists of them) in a ``ConfigRecord`` named ``"cfg"``.
The action name travels as ``cfg["__action__"]``; a party-side failure comes back as
``cfg["__error__"]`` (a message without secrets).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, RecordDict

from federation.transport import Envelope, Payload
from lab.errors import ProtocolError

ACTION_KEY = "__action__"
ERROR_KEY = "__error__"
ERROR_CODE_KEY = "__error_code__"

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
    content = {"cfg": ConfigRecord(cfg)}
    if arrays:
        content["arrays"] = ArrayRecord(arrays)  # type: ignore[assignment]
    return RecordDict(content)


def from_records(party: str, content: RecordDict) -> Envelope:
    """Decode Flower records back into an envelope from/to ``party``."""
    cfg = dict(content["cfg"]) if "cfg" in content else {}
    action = str(cfg.pop(ACTION_KEY, ""))
    payload: Payload = dict(cfg)
    if "arrays" in content:
        for key, arr in content["arrays"].items():  # type: ignore[union-attr]
            payload[key] = arr.numpy()
    return Envelope(party=party, action=action, payload=payload)


def error_reply(action: str, exc: BaseException) -> RecordDict:
    """Records for a failed handler: the error's message and code, nothing else."""
    code = getattr(exc, "code", "FEDLAB-000")
    return RecordDict(
        {
            "cfg": ConfigRecord(
                {ACTION_KEY: action, ERROR_KEY: f"{type(exc).__name__}: {exc}",
                 ERROR_CODE_KEY: code}
            )
        }
    )


def raise_if_error(env: Envelope) -> Envelope:
    """Turn a party's error reply into a :class:`ProtocolError` naming the party."""
    if ERROR_KEY in env.payload:
        raise ProtocolError(
            f"party {env.party!r} failed in {env.action!r}: {env.payload[ERROR_KEY]}"
        )
    return env


__all__ = ["from_records", "error_reply", "raise_if_error", "to_records"]
