"""SecureBoost's messages: every action name, and the typed payloads several of them carry.

Every message travels through the coordinator, which therefore sees all of them; what each
message reveals, and to whom, is in the docstring of the module that sends it (``setup``,
``guest``, ``host``, ``model``, ``inference``). A node list is a plain list of
ints, empty when there are none: the wire encoding (``federation.records``) carries empty
lists as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from federation.protocol import Exchanger
from federation.transport import Envelope, Payload, Transport

# training
SETUP = "sb.setup"
HOST_INIT = "sb.host_init"
TREE_BEGIN = "sb.tree_begin"
HIST = "sb.hist"
APPLY = "sb.apply"
LEVEL = "sb.level"
TREE_END = "sb.tree_end"
FINISH = "sb.finish"
STAGE = "sb.stage"
COMMIT = "sb.commit"
# joint inference
PREDICT_BEGIN = "sb.predict_begin"
PREDICT_ANSWER = "sb.predict_answer"
PREDICT_STEP = "sb.predict_step"
PREDICT_RESULT = "sb.predict_result"

_NO_BITS = np.zeros(0, dtype=np.uint8)


def _ints(values: Iterable[Any]) -> list[int]:
    return [int(x) for x in values]


@dataclass(frozen=True)
class Masks:
    """Left bit-masks of split nodes: for each node (in ``nodes`` order) one bit per row of
    the node, in row order, packed; reveals the partition of the aligned rows, no threshold.
    """

    nodes: list[int]
    bits: np.ndarray

    @classmethod
    def none(cls) -> Masks:
        return cls([], _NO_BITS)

    @classmethod
    def from_payload(cls, payload: Payload, prefix: str = "") -> Masks:
        nodes = _ints(payload.get(f"{prefix}nodes", []))
        bits = np.asarray(payload.get(f"{prefix}bits", _NO_BITS), dtype=np.uint8)
        return cls(nodes, bits)

    @classmethod
    def merge(cls, parts: Sequence[Masks]) -> Masks:
        """The masks of several parties, one after another."""
        nodes = [k for m in parts for k in m.nodes]
        bits = [m.bits for m in parts if m.nodes]
        return cls(nodes, np.concatenate(bits) if bits else _NO_BITS)

    def to_payload(self, prefix: str = "") -> Payload:
        return {f"{prefix}nodes": list(self.nodes), f"{prefix}bits": self.bits}


@dataclass(frozen=True)
class HostHistograms:
    """A host's encrypted histograms of one level (host -> guest, through the coordinator):
    the built nodes, the bins present (non-empty), the bin left out per (node, column) and
    the packed, re-randomised ciphertexts of the other bins' sums."""

    built: list[int]
    nbmax: int
    present: np.ndarray
    skip: np.ndarray
    hist: bytes

    @classmethod
    def from_payload(cls, payload: Payload, prefix: str = "") -> HostHistograms:
        return cls(
            built=_ints(payload[f"{prefix}built"]),
            nbmax=int(payload[f"{prefix}nbmax"]),
            present=np.asarray(payload[f"{prefix}present"], dtype=np.uint8),
            skip=np.asarray(payload[f"{prefix}skip"], dtype=np.int64),
            hist=bytes(payload[f"{prefix}hist"]),
        )

    def to_payload(self, prefix: str = "") -> Payload:
        return {
            f"{prefix}built": list(self.built),
            f"{prefix}nbmax": self.nbmax,
            f"{prefix}present": self.present,
            f"{prefix}skip": self.skip,
            f"{prefix}hist": self.hist,
        }


class PayloadExchange:
    """The coordinator's exchanges: counts them, checks every addressed party replied, and
    returns the reply payloads by party."""

    def __init__(self, transport: Transport) -> None:
        self._ex = Exchanger(transport)

    @property
    def count(self) -> int:
        return self._ex.count

    def __call__(self, requests: Sequence[Envelope]) -> dict[str, Payload]:
        return {p: e.payload for p, e in self._ex(requests).items()}


def host_names(payload: Payload) -> list[str]:
    """The hosts a message speaks for (``hosts``; none when absent)."""
    return [str(h) for h in payload.get("hosts", [])]


def split_requests(requests: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
    """(node, feature index, bin index, split id) rows for one host, flattened."""
    return np.asarray(requests, dtype=np.int64).ravel()


def read_split_requests(payload: Payload, key: str = "split") -> np.ndarray:
    """The (node, feature, bin, split id) rows of ``payload[key]`` (none when absent)."""
    raw = payload.get(key, np.zeros(0, dtype=np.int64))
    return np.asarray(raw, dtype=np.int64).reshape(-1, 4)


__all__ = [
    "APPLY",
    "COMMIT",
    "FINISH",
    "HIST",
    "HOST_INIT",
    "HostHistograms",
    "LEVEL",
    "Masks",
    "PREDICT_ANSWER",
    "PREDICT_BEGIN",
    "PREDICT_RESULT",
    "PREDICT_STEP",
    "PayloadExchange",
    "SETUP",
    "STAGE",
    "TREE_BEGIN",
    "TREE_END",
    "host_names",
    "read_split_requests",
    "split_requests",
]
