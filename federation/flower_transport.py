"""Transport over a Flower ``Grid``: the coordinator's side of the Flower runtimes.

Each exchange pushes one ``query`` message per addressed party (all at once) and pulls the
replies with a short poll interval (Flower's own ``send_and_receive`` sleeps 3 s between
pulls on a deployment grid). The request carries the protocol payload plus the party's name
and role; the reply carries the handler's payload. Both are recorded in the MessageLog.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from flwr.app import Message
from flwr.serverapp import Grid

from crypto.errors import ConfigError, PartyUnavailableError, ProtocolError
from federation.records import from_records, raise_if_error, to_records
from federation.roles import PartyRole
from federation.runtime.actions import PARTY_KEY, ROLE_KEY, WHOAMI
from federation.transport import Envelope, MessageLog, payload_nbytes

MESSAGE_TYPE = "query"
DEFAULT_POLL = 0.05


def send_and_collect(
    grid: Grid, messages: Mapping[str, Message], *, timeout: float, poll: float = DEFAULT_POLL
) -> tuple[dict[str, Message], list[str]]:
    """Push ``messages`` (by key), pull replies until all arrived or ``timeout``.

    Returns the replies by key and the keys that did not answer.
    """
    keys = list(messages)
    ids = list(grid.push_messages([messages[k] for k in keys]))
    if len(ids) != len(keys):
        raise ProtocolError(f"the SuperLink accepted {len(ids)} of {len(keys)} messages")
    pending = dict(zip(ids, keys, strict=True))
    replies: dict[str, Message] = {}
    deadline = time.monotonic() + timeout
    delay = min(poll, 0.01)
    while pending:
        for msg in grid.pull_messages(list(pending)):
            key = pending.pop(msg.metadata.reply_to_message_id, None)
            if key is not None:
                replies[key] = msg
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(delay)
        delay = min(poll, delay * 2)
    return replies, sorted(pending.values())


class FlowerTransport:
    """Sends protocol requests to named parties' SuperNodes through a Flower grid."""

    def __init__(
        self,
        grid: Grid,
        nodes: Mapping[str, int],
        roles: Mapping[str, PartyRole],
        *,
        timeout: float = 600.0,
        poll: float = DEFAULT_POLL,
        keep_payloads: bool = False,
    ) -> None:
        self.grid = grid
        self.nodes = dict(nodes)
        self.roles = dict(roles)
        self.timeout = timeout
        self.poll = poll
        self.log = MessageLog(keep_payloads=keep_payloads)

    def party_roles(self) -> dict[str, PartyRole]:
        return dict(self.roles)

    def exchange(
        self, requests: Sequence[Envelope], *, timeout: float | None = None
    ) -> dict[str, Envelope]:
        self.log.exchanges += 1
        wait = timeout or self.timeout
        replies, missing = send_and_collect(
            self.grid, self._messages(requests), timeout=wait, poll=self.poll
        )
        if missing:
            action = requests[0].action if requests else "?"
            raise PartyUnavailableError(
                f"part{'y' if len(missing) == 1 else 'ies'} {', '.join(map(repr, missing))} "
                f"did not answer {action!r} within {wait:g} s"
            )
        out: dict[str, Envelope] = {}
        for req in requests:
            msg = replies[req.party]
            if msg.has_error():
                raise ProtocolError(
                    f"party {req.party!r} failed in {req.action!r}: {msg.error.reason}"
                )
            env = from_records(req.party, msg.content)
            self.log.record("from_party", env, payload_nbytes(env.payload))
            out[req.party] = raise_if_error(env)
        return out

    def answered(self, requests: Sequence[Envelope], *, timeout: float) -> dict[str, Envelope]:
        """Best effort: send ``requests`` and return the replies of the parties that answered
        within ``timeout`` without an error (the others are left out, not raised)."""
        self.log.exchanges += 1
        replies, _ = send_and_collect(
            self.grid, self._messages(requests), timeout=timeout, poll=self.poll
        )
        out: dict[str, Envelope] = {}
        for party, msg in replies.items():
            if msg.has_error():
                continue
            env = from_records(party, msg.content)
            self.log.record("from_party", env, payload_nbytes(env.payload))
            try:
                out[party] = raise_if_error(env)
            except ProtocolError:
                continue
        return out

    def _messages(self, requests: Sequence[Envelope]) -> dict[str, Message]:
        """One Flower message per request (each logged as sent), by party."""
        msgs: dict[str, Message] = {}
        for req in requests:
            if req.party not in self.nodes:
                raise PartyUnavailableError(
                    f"unknown party {req.party!r}; this run has {sorted(self.nodes)}"
                )
            if req.party in msgs:
                raise ProtocolError(f"two requests for party {req.party!r} in one exchange")
            content = to_records(req)
            wire = from_records(req.party, content)
            self.log.record("to_party", wire, payload_nbytes(wire.payload))
            content.config_records["cfg"][ROLE_KEY] = self.roles[req.party].value
            content.config_records["cfg"][PARTY_KEY] = req.party
            msgs[req.party] = Message(
                content, dst_node_id=self.nodes[req.party], message_type=MESSAGE_TYPE
            )
        return msgs


def discover_parties(
    grid: Grid,
    expected: Sequence[str],
    *,
    timeout: float,
    poll: float = 0.2,
    registered: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Map party names to node IDs: every node answers ``runtime.whoami`` with its name.

    With ``registered`` (party -> the node id its public key is registered under, SuperNode
    authentication), a party is only ever the node registered for it: a node that is not
    registered is not asked, and a registered node answering another party's name is
    refused (ConfigError); a self-declared ``party=`` alone makes no node a party.

    Waits up to ``timeout`` seconds for every expected party to join. Raises
    PartyUnavailableError naming the parties that never answered and ConfigError when a
    party's data file is missing at the party or two nodes claim the same party.
    """
    deadline = time.monotonic() + timeout
    owner_of = {int(v): k for k, v in (registered or {}).items()}
    asked: set[int] = set()
    found: dict[str, int] = {}
    data_missing: list[str] = []
    while True:
        new = [nid for nid in grid.get_node_ids() if nid not in asked]
        if registered:
            new = [nid for nid in new if nid in owner_of]
        if new:
            asked.update(new)
            msgs = {
                str(nid): Message(
                    to_records(Envelope("?", WHOAMI, {})),
                    dst_node_id=nid,
                    message_type=MESSAGE_TYPE,
                )
                for nid in new
            }
            left = max(1.0, min(30.0, deadline - time.monotonic()))
            replies, silent = send_and_collect(grid, msgs, timeout=left, poll=DEFAULT_POLL)
            for key, msg in replies.items():
                if msg.has_error():
                    continue
                env = from_records("?", msg.content)
                name = str(env.payload.get("party", ""))
                if registered and owner_of.get(int(key)) != name:
                    raise ConfigError(
                        f"the SuperNode registered as party {owner_of.get(int(key))!r} "
                        f"(node {key}) answers as {name!r}",
                        hint="A node's party is the key it is registered with; fix its "
                        "`party` node config or register its key for that party.",
                    )
                if name in found and found[name] != int(key):
                    raise ConfigError(
                        f"two SuperNodes claim to be party {name!r}",
                        hint="Give every SuperNode its own `party` node config.",
                    )
                if name in expected:
                    found[name] = int(key)
                    if not env.payload.get("data_ok", False):
                        data_missing.append(name)
            asked.difference_update(int(k) for k in silent)  # ask again next round
        if data_missing:
            raise ConfigError(
                f"part{'y' if len(data_missing) == 1 else 'ies'} "
                f"{', '.join(map(repr, sorted(data_missing)))}: the data file "
                "named in the SuperNode's `data` node config does not exist",
                hint="Fix the SuperNode's --node-config data='FILE' and restart it.",
            )
        if all(name in found for name in expected):
            return {name: found[name] for name in expected}
        if time.monotonic() >= deadline:
            missing = [n for n in expected if n not in found]
            raise PartyUnavailableError(
                f"part{'y' if len(missing) == 1 else 'ies'} {', '.join(map(repr, missing))} "
                f"did not join within {timeout:g} s (no SuperNode answered with that name; "
                f"joined: {sorted(found)})"
            )
        time.sleep(poll)


__all__ = ["FlowerTransport", "discover_parties", "send_and_collect"]
