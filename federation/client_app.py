"""Flower ClientApp: the party side of every protocol.

Each party runs a SuperNode whose node config names it::

    flower-supernode ... --node-config "party='tax' data='/srv/tax.csv' work-dir='/srv/fedlab'"

The ClientApp answers one ``query`` message type; the action inside the message selects a
handler registered with :func:`federation.party.register`. What leaves the party is only
that handler's reply (or an error message without data values).

Module-level imports stay light (no torch/tenseal): a deployment starts a fresh ClientApp
process for every message.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from federation.runtime.dispatch import PartyIdentity, handle_request
from lab.errors import ConfigError

#: where a SuperNode without a ``work-dir`` node config keeps model pieces and run state
DEFAULT_WORK_ROOT_ENV = "FEDLAB_WORK_DIR"


def identity_from_node_config(node_config: dict) -> PartyIdentity:  # type: ignore[type-arg]
    """The party this SuperNode serves, from ``--node-config``."""
    name = str(node_config.get("party", "")).strip()
    if not name:
        raise ConfigError("this SuperNode has no `party` in its node config",
                          hint="Start it with --node-config \"party='NAME' data='FILE'\".")
    data = node_config.get("data") or node_config.get("data-path")
    work = node_config.get("work-dir")
    if work:
        work_dir = Path(str(work)).expanduser()
    else:
        root = Path(os.environ.get(DEFAULT_WORK_ROOT_ENV, "~/.fedlab/work")).expanduser()
        work_dir = root / name
    return PartyIdentity(name=name, data_path=Path(str(data)).expanduser() if data else None,
                         work_dir=work_dir, node_config=dict(node_config))


def build_client_app(resolve: Callable[[Context], PartyIdentity]) -> ClientApp:
    """A ClientApp whose party identity comes from ``resolve(context)``."""
    client = ClientApp()

    @client.query()
    def query(msg: Message, context: Context) -> Message:
        identity = resolve(context)
        reply = handle_request(identity, msg.content, str(context.run_id))
        return Message(reply, reply_to=msg)

    return client


def _from_node_config(context: Context) -> PartyIdentity:
    return identity_from_node_config(dict(context.node_config))


class SimulationParties:
    """Simulation: ``partition-id`` i plays the config's i-th party (picklable for Ray)."""

    def __init__(self, parties: Sequence[PartyIdentity]) -> None:
        self.parties = list(parties)

    def __call__(self, context: Context) -> PartyIdentity:
        pid = int(context.node_config["partition-id"])  # type: ignore[arg-type]
        return self.parties[pid]


app = build_client_app(_from_node_config)

__all__ = ["SimulationParties", "app", "build_client_app", "identity_from_node_config"]
