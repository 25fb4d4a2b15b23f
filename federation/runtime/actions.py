"""Runtime actions every party answers, whatever the protocol.

* ``runtime.whoami``: the party's name and whether its data file exists (no content of it);
* ``runtime.finish``: the run succeeded; the party deletes its run state (its model piece
  stays);
* ``runtime.discard`` (``run``: a run id): that run filed no model (it failed or was
  cancelled); a SuperNode's party deletes the run's folder, state and files. Sent by the
  coordinator of the failed run, or by a run started for this (a cancelled run's
  coordinator is gone). Nothing is sent back but ``ok``.
"""

from __future__ import annotations

from federation.party import PartyContext, register
from federation.runtime.state import clear_state, discard_run
from federation.transport import Payload

WHOAMI = "runtime.whoami"
FINISH = "runtime.finish"
DISCARD = "runtime.discard"

#: seconds the parties get to answer ``runtime.discard``, and to join a discarding run
DISCARD_TIMEOUT = 30.0

#: request keys the coordinator's transport adds (stripped before the handler sees them)
ROLE_KEY = "__role__"
PARTY_KEY = "__party__"


@register(FINISH)
def finish(ctx: PartyContext, payload: Payload) -> Payload:  # noqa: ARG001
    """Forget this run's state at the party (a SuperNode's run folder that holds nothing
    else, such as a sample count's, goes too)."""
    ctx.state.clear()
    clear_state(ctx.work_dir)
    if ctx.home is not None:
        try:
            ctx.work_dir.rmdir()  # only when empty
        except OSError:
            pass
    return {"ok": True}


@register(DISCARD)
def discard(ctx: PartyContext, payload: Payload) -> Payload:
    """Forget a run that filed no model: its folder at a SuperNode (see
    :func:`federation.runtime.state.discard_run`), else this run's state."""
    ctx.state.clear()
    run = str(payload.get("run", ""))
    if ctx.home is not None and run:
        discard_run(ctx.home, run)
    else:
        clear_state(ctx.work_dir)
    return {"ok": True}


def whoami_reply(name: str, data_ok: bool) -> Payload:
    return {"party": name, "data_ok": data_ok}


__all__ = [
    "DISCARD",
    "DISCARD_TIMEOUT",
    "FINISH",
    "PARTY_KEY",
    "ROLE_KEY",
    "WHOAMI",
    "discard",
    "finish",
    "whoami_reply",
]
