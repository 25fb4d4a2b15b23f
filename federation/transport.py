"""How the coordinator talks to the parties.

Protocols (alignment, hetero LR, SecureBoost, ...) are written once against the
:class:`Transport` interface: the coordinator sends one request per addressed party
and gets one reply per party back. Two implementations carry the messages:

* :class:`federation.local_transport.LocalTransport` calls the party handlers in this
  process, after encoding every payload to Flower records and back (so tests exercise
  the same encoding as the real runtime);
* the Flower ServerApp's grid transport (``federation.flower_transport``) sends real
  Flower messages to SuperNodes.

Both record every message that crosses a party boundary in a :class:`MessageLog`,
from which ``disclosure.json`` is generated and which tests inspect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from federation.roles import PartyRole

#: A value a payload may carry. Arrays must be ciphertext bytes, masked values,
#: model pieces or aggregates: never a party's raw column.
PayloadValue = Any  # int | float | str | bytes | bool | np.ndarray | list[...]
Payload = dict[str, PayloadValue]


@dataclass(frozen=True)
class Envelope:
    """One message: to ``party`` (request) or from ``party`` (reply)."""

    party: str
    action: str
    payload: Payload = field(default_factory=dict)


@dataclass(frozen=True)
class LoggedMessage:
    """A message as it crossed the boundary (after encoding)."""

    direction: str  # "to_party" | "from_party"
    party: str
    action: str
    payload: Payload
    nbytes: int
    exchange: int
    fields: tuple[str, ...] = ()  # payload keys (kept even when payloads are not)


def payload_nbytes(payload: Mapping[str, PayloadValue]) -> int:
    """Approximate wire size of a payload (sum of its values' byte sizes)."""
    total = 0
    for key, value in payload.items():
        total += len(key)
        total += _value_nbytes(value)
    return total


def _value_nbytes(value: PayloadValue) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, (list, tuple)):
        return sum(_value_nbytes(v) for v in value)
    return 8


class MessageLog:
    """Every message that crossed a party boundary, in order."""

    def __init__(self, *, keep_payloads: bool = False) -> None:
        self.keep_payloads = keep_payloads
        self.messages: list[LoggedMessage] = []
        self.exchanges = 0
        #: party -> its public warnings about its data (column names and counts, from
        #: its replies); metrics.json shows them as ``data_warnings``
        self.data_warnings: dict[str, list[str]] = {}

    def warn(self, party: str, warnings: list[str]) -> None:
        """File ``party``'s data warnings (each once)."""
        mine = self.data_warnings.setdefault(party, [])
        mine.extend(w for w in warnings if w not in mine)

    def record(self, direction: str, env: Envelope, nbytes: int) -> None:
        payload = env.payload if self.keep_payloads else {}
        self.messages.append(
            LoggedMessage(
                direction,
                env.party,
                env.action,
                payload,
                nbytes,
                self.exchanges,
                tuple(sorted(env.payload)),
            )
        )

    def bytes_by_party(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for m in self.messages:
            d = out.setdefault(m.party, {"sent": 0, "received": 0})
            d["received" if m.direction == "to_party" else "sent"] += m.nbytes
        return out


class Transport(Protocol):
    """What a protocol driver (coordinator side) needs from a runtime."""

    log: MessageLog

    def party_roles(self) -> dict[str, PartyRole]:
        """Party name -> role, for every party of this run."""
        ...

    def exchange(
        self, requests: Sequence[Envelope], *, timeout: float | None = None
    ) -> dict[str, Envelope]:
        """Send one request per party (all at once), return the replies by party.

        Raises :class:`crypto.errors.PartyUnavailableError` naming the party that did not
        answer, and :class:`crypto.errors.ProtocolError` with the party's own error message
        when its handler failed.
        """
        ...


__all__ = [
    "Envelope",
    "LoggedMessage",
    "MessageLog",
    "Payload",
    "PayloadValue",
    "Transport",
    "payload_nbytes",
]
