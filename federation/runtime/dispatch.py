"""Party side of the Flower runtimes: one request in, one reply out.

Decodes the coordinator's records, loads the party's state for this run, calls the
registered handler and encodes its reply. What leaves the party is exactly the handler's
reply payload, or for a failure the error's public facts (:mod:`federation.failures`: no
record values, the full error in this party's log); the state stays in the party's private
folder (``PRIVATE/.state``: a SuperNode's work dir or ``state-dir``, a simulated party's own
temporary folder), never in a run folder the coordinator names. It is deleted when the run
ends (``runtime.finish``, ``runtime.discard``) and when this party answers with an error (a
party's error ends the run). A SuperNode's party serves each run from its own folder
(:meth:`PartyIdentity.for_run`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flwr.app import RecordDict

from crypto.errors import ProtocolError
from federation.failures import failure_records
from federation.guard import check_outgoing
from federation.party import PartyContext, get_handler
from federation.records import from_records, to_records
from federation.roles import PartyRole
from federation.runtime.actions import (
    DISCARD,
    FINISH,
    PARTY_KEY,
    ROLE_KEY,
    WHOAMI,
    whoami_reply,
)
from federation.runtime.state import (
    discard_run,
    drop_state,
    is_discarded,
    load_state,
    run_folder,
    save_state,
    state_file,
)
from federation.transport import Envelope

#: Owner: this process; one ``PartyContext.cache`` per party name it serves (a SuperNode's
#: worker serves one party, the local and simulation runtimes several). Bound: one entry
#: per party name; a party's entry is emptied when a run finishes or is discarded
#: (``runtime.finish``/``runtime.discard``), and a failed run's objects go with the next.
_CACHES: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True)
class PartyIdentity:
    """Who this node is: from its node config (deployment) or the experiment (simulation)."""

    name: str
    data_path: Path | None
    work_dir: Path
    node_config: dict[str, Any] = field(default_factory=dict)
    home: Path | None = None
    private: Path | None = None

    @property
    def state_home(self) -> Path:
        """The private folder whose ``.state/`` holds this party's run state."""
        return self.private or self.home or self.work_dir

    def for_run(self, run_key: str) -> PartyIdentity:
        """This SuperNode's party in run ``run_key``: its work dir becomes the run's own
        folder ``WORK/runs/<run>`` (model piece), ``WORK`` its ``home`` and, unless the node
        config names a ``state-dir``, the private folder of its state."""
        return replace(
            self,
            work_dir=run_folder(self.work_dir, run_key),
            home=self.work_dir,
            private=self.private or self.work_dir,
        )

    def context(
        self, role: PartyRole, state: dict[str, Any], cache: dict[str, Any] | None = None
    ) -> PartyContext:
        """The handlers' :class:`PartyContext` of this party with ``role`` and ``state``."""
        return PartyContext(
            name=self.name,
            role=role,
            data_path=self.data_path,
            work_dir=self.work_dir,
            node_config=dict(self.node_config),
            state=state,
            cache={} if cache is None else cache,
            home=self.home,
            private=self.state_home,
        )


def handle_request(identity: PartyIdentity, content: RecordDict, run_key: str) -> RecordDict:
    """Run the handler the request names and return the reply records."""
    env = from_records(identity.name, content)
    payload = dict(env.payload)
    role = payload.pop(ROLE_KEY, None)
    addressed = payload.pop(PARTY_KEY, None)
    if env.action == WHOAMI:
        path = identity.data_path  # a table, or a raw-record folder (federation.partyrecords)
        ok = path is not None and (path.is_file() or path.is_dir())
        return to_records(Envelope(identity.name, WHOAMI, whoami_reply(identity.name, ok)))
    path = state_file(identity.state_home, run_key)
    ctx: PartyContext | None = None
    try:
        if addressed is not None and addressed != identity.name:
            raise ProtocolError(f"message for party {addressed!r} reached party {identity.name!r}")
        if (
            identity.home is not None
            and env.action != DISCARD
            and is_discarded(identity.home, run_key)
        ):
            raise ProtocolError(
                f"party {identity.name!r}: run {run_key} was discarded "
                "(it failed or was cancelled)",
                hint="Start a new run.",
            )
        try:
            prole = PartyRole(role)
        except ValueError:
            raise ProtocolError(
                f"request {env.action!r} carries no valid role ({role!r})"
            ) from None
        ctx = identity.context(prole, load_state(path), _CACHES.setdefault(identity.name, {}))
        out = get_handler(env.action)(ctx, payload)
        check_outgoing(ctx, out, env.action)  # refuse raw data before it leaves the party
        if env.action not in (FINISH, DISCARD):
            save_state(path, ctx.state, action=env.action)
            if identity.home is not None and is_discarded(identity.home, run_key):
                # discarded while this message was being handled (a stopped coordinator's
                # last message racing the discard): remove what the handler wrote
                discard_run(identity.home, run_key)
                raise ProtocolError(
                    f"party {identity.name!r}: run {run_key} was discarded "
                    "while a message was handled",
                    hint="Start a new run.",
                )
        else:  # the run ended: its state goes; a long-lived ClientApp process serves many
            drop_state(path)  # runs, so this run's objects go too
            _CACHES.pop(identity.name, None)
        return to_records(Envelope(identity.name, env.action, out))
    except Exception as exc:  # noqa: BLE001 - only the error's public facts leave
        drop_state(path)  # this error ends the run: its secrets do not outlive it here
        return failure_records(identity.name, env.action, exc, ctx)


__all__ = ["PartyIdentity", "handle_request"]
