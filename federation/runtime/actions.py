"""Runtime actions every party answers, whatever the protocol.

* ``runtime.whoami``: the party's name and whether its data file exists (no content of it);
* ``runtime.finish``: the run succeeded; the party deletes its run state.
"""

from __future__ import annotations

from federation.party import PartyContext, register
from federation.runtime.state import clear_state
from federation.transport import Payload

WHOAMI = "runtime.whoami"
FINISH = "runtime.finish"

#: request keys the coordinator's transport adds (stripped before the handler sees them)
ROLE_KEY = "__role__"
PARTY_KEY = "__party__"


@register(FINISH)
def finish(ctx: PartyContext, payload: Payload) -> Payload:  # noqa: ARG001
    """Forget this run's state at the party."""
    ctx.state.clear()
    clear_state(ctx.work_dir)
    return {"ok": True}


def whoami_reply(name: str, data_ok: bool) -> Payload:
    return {"party": name, "data_ok": data_ok}


__all__ = ["FINISH", "PARTY_KEY", "ROLE_KEY", "WHOAMI", "finish", "whoami_reply"]
