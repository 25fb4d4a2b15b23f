"""In-process transport: every party's handlers run in this process.

Each request and reply is encoded to Flower records and decoded again, exactly as the
Flower runtime does, and recorded in the :class:`MessageLog`; a handler's exception becomes
the same error reply as at a SuperNode (:mod:`federation.failures`). Used by unit tests and
as the fastest way to run a protocol on one machine; the Flower runtimes carry the same
messages between processes.
"""

from __future__ import annotations

from collections.abc import Sequence

from crypto.errors import PartyUnavailableError
from federation.failures import failure_records
from federation.guard import check_outgoing
from federation.party import PartyContext, get_handler
from federation.records import from_records, raise_if_error, to_records
from federation.roles import PartyRole
from federation.transport import Envelope, MessageLog, payload_nbytes


class LocalTransport:
    """Runs party handlers in-process; parties are given as contexts."""

    def __init__(self, parties: Sequence[PartyContext], *, keep_payloads: bool = False) -> None:
        self.parties = {p.name: p for p in parties}
        self.log = MessageLog(keep_payloads=keep_payloads)
        self.unavailable: set[str] = set()  # tests: simulate a party that disappeared

    def party_roles(self) -> dict[str, PartyRole]:
        return {name: p.role for name, p in self.parties.items()}

    def exchange(
        self, requests: Sequence[Envelope], *, timeout: float | None = None
    ) -> dict[str, Envelope]:
        self.log.exchanges += 1
        replies: dict[str, Envelope] = {}
        for req in requests:
            if req.party not in self.parties:
                raise PartyUnavailableError(f"unknown party {req.party!r}")
            if req.party in self.unavailable:
                raise PartyUnavailableError(
                    f"party {req.party!r} did not answer {req.action!r}"
                    f" within {timeout or 'the'} seconds"
                )
            wire = from_records(req.party, to_records(req))
            self.log.record("to_party", wire, payload_nbytes(wire.payload))
            ctx = self.parties[req.party]
            try:
                out = get_handler(wire.action)(ctx, wire.payload)
                check_outgoing(ctx, out, wire.action)  # refuse raw data before it leaves
                records = to_records(Envelope(req.party, wire.action, out))
            except Exception as exc:  # noqa: BLE001 - as the Flower runtimes: public facts only
                records = failure_records(req.party, wire.action, exc, ctx)
            reply = from_records(req.party, records)
            self.log.record("from_party", reply, payload_nbytes(reply.payload))
            replies[req.party] = raise_if_error(reply)
        return replies


__all__ = ["LocalTransport"]
