"""Flower ClientApp: the party side of every protocol.

Each party runs a SuperNode whose node config names it::

    flower-supernode ... --node-config "party='tax' data='/srv/tax.csv' work-dir='/srv/fedlab'"

Every run gets its own folder in that work dir, ``work-dir/runs/<run id>/`` (the Flower
run id), which is the handlers' ``work_dir`` in that run: the party's model piece goes
there, so a later run never overwrites the piece an earlier model names. The run state
between messages (the party's secrets in a run) stays apart from it, in ``work-dir/.state/``
(0700; node config ``state-dir`` puts it elsewhere), is deleted when the run ends, and what
a crash leaves is swept away after ``state-ttl-seconds`` of inactivity
(:mod:`federation.runtime.state_sweep`).

The ClientApp answers one ``query`` message type; the action inside the message selects a
handler registered with :func:`federation.party.register`. What leaves the party is only
that handler's reply, or for a failure the error's public facts (type, code, file, column,
counts, line numbers, hint; :mod:`federation.failures`). ``train`` messages carry
Flower's SecAgg+ stages for the ``secaggplus`` aggregation of horizontal FedAvg
(:mod:`federation.homo.secaggplus`): ``secaggplus_mod`` answers them, and only masked
vectors, public keys and encrypted key shares leave.

Module-level imports stay light (no torch/tenseal): with Flower's default launching a
deployment starts a fresh ClientApp process for every message. fedlab's SuperNodes instead
serve every message from one long-lived process (:mod:`federation.runtime.clientapp_worker`),
which imports this module and every protocol module once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from crypto.errors import ConfigError
from federation.homo.secaggplus import register_train
from federation.party import PartyContext
from federation.roles import PartyRole
from federation.runtime.dispatch import PartyIdentity, handle_request
from federation.runtime.state import load_state, state_file
from federation.runtime.state_sweep import DEFAULT_WORK_ROOT_ENV, node_dirs, sweep_now_and_then


def identity_from_node_config(node_config: dict) -> PartyIdentity:  # type: ignore[type-arg]
    """The party this SuperNode serves, from ``--node-config`` (``work_dir``: the SuperNode's
    work dir; :meth:`PartyIdentity.for_run` gives the party in one run)."""
    name = str(node_config.get("party", "")).strip()
    if not name:
        raise ConfigError(
            "this SuperNode has no `party` in its node config",
            hint="Start it with --node-config \"party='NAME' data='FILE'\".",
        )
    data = node_config.get("data") or node_config.get("data-path")
    work_dir, private = node_dirs(name, node_config)
    return PartyIdentity(
        name=name,
        data_path=Path(str(data)).expanduser() if data else None,
        work_dir=work_dir,
        node_config=dict(node_config),
        private=private,
    )


def build_client_app(resolve: Callable[[Context], PartyIdentity]) -> ClientApp:
    """A ClientApp whose party identity comes from ``resolve(context)``."""
    client = ClientApp()

    @client.query()
    def query(msg: Message, context: Context) -> Message:
        identity = resolve(context)
        if identity.home is not None:  # a SuperNode: what crashed runs left goes
            sweep_now_and_then(identity.state_home, identity.home, identity.node_config)
        reply = handle_request(identity, msg.content, str(context.run_id))
        return Message(reply, reply_to=msg)

    register_train(client, lambda context: party_context(resolve(context), str(context.run_id)))
    return client


def party_context(identity: PartyIdentity, run_key: str) -> PartyContext:
    """The party's context for this run with its saved state (read only: nothing is saved)."""
    from federation.partydata import SETUP_KEY

    state = load_state(state_file(identity.state_home, run_key))
    setup = state.get(SETUP_KEY)
    role = PartyRole(setup.role) if setup is not None else PartyRole.GUEST
    return identity.context(role, state)


def _from_node_config(context: Context) -> PartyIdentity:
    """The SuperNode's party in the message's run (its own folder in the work dir)."""
    return identity_from_node_config(dict(context.node_config)).for_run(str(context.run_id))


class SimulationParties:
    """Simulation: ``partition-id`` i plays the config's i-th party (picklable for Ray)."""

    def __init__(self, parties: Sequence[PartyIdentity]) -> None:
        self.parties = list(parties)

    def __call__(self, context: Context) -> PartyIdentity:
        pid = int(context.node_config["partition-id"])  # type: ignore[arg-type]
        return self.parties[pid]


app = build_client_app(_from_node_config)

__all__ = [
    "DEFAULT_WORK_ROOT_ENV",
    "SimulationParties",
    "app",
    "build_client_app",
    "identity_from_node_config",
    "party_context",
]
