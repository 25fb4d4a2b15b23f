"""Runtime actions every party answers, whatever the protocol.

* ``runtime.whoami``: the party's name and whether its data file exists (no content of it);
* ``runtime.finish``: the run succeeded; the party deletes its run state (its model piece
  stays);
* ``runtime.discard`` (``run``: a run id, or ``runs``: several): those runs filed no model
  (they failed, were cancelled, or their coordinator died); a SuperNode's party deletes each
  run's folder, state and files. Sent by the coordinator of a failed run (in a ``finally``
  block), by a run started for this (a cancelled run's coordinator is gone), and at the
  start of a later run for runs whose end not every party confirmed. Nothing is sent back
  but ``ok``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from federation.party import PartyContext, register
from federation.runtime.state import discard_run, drop_state, state_file
from federation.transport import Payload

WHOAMI = "runtime.whoami"
FINISH = "runtime.finish"
DISCARD = "runtime.discard"

#: seconds the parties get to answer ``runtime.discard``
DISCARD_TIMEOUT = 30.0
#: seconds the parties get to join a discarding run: right after a stopped run a party's
#: ClientApp may still be finishing that run's message (on a loaded 2-core machine the
#: parties had not answered within 30 s and a cancelled run's folder stayed, in CI)
DISCARD_JOIN_TIMEOUT = 120.0

#: request keys the coordinator's transport adds (stripped before the handler sees them)
ROLE_KEY = "__role__"
PARTY_KEY = "__party__"


@register(FINISH)
def finish(ctx: PartyContext, payload: Payload) -> Payload:  # noqa: ARG001
    """Forget this run's state at the party (the runtime deletes its state file; a
    SuperNode's run folder that holds nothing else, such as a sample count's, goes too)."""
    ctx.state.clear()
    if ctx.home is not None:
        try:
            ctx.work_dir.rmdir()  # only when empty
        except OSError:
            pass
    return {"ok": True}


def discard_runs(payload: Payload) -> list[str]:
    """The run ids a ``runtime.discard`` request names (``run`` and/or ``runs``)."""
    runs: list[str] = []
    one = payload.get("run")
    if one:
        runs.append(str(one))
    many: Any = payload.get("runs")
    if isinstance(many, Sequence) and not isinstance(many, (str, bytes)):
        runs += [str(r) for r in many if r and str(r) not in runs]
    return runs


@register(DISCARD)
def discard(ctx: PartyContext, payload: Payload) -> Payload:
    """Forget runs that filed no model: their folders and state at a SuperNode (see
    :func:`federation.runtime.state.discard_run`), else this run's state (the runtime
    deletes this run's state file)."""
    ctx.state.clear()
    for run in discard_runs(payload):
        if ctx.home is not None:
            discard_run(ctx.home, run, ctx.private)
        elif ctx.private is not None:
            drop_state(state_file(ctx.private, run))
    return {"ok": True}


def whoami_reply(name: str, data_ok: bool) -> Payload:
    return {"party": name, "data_ok": data_ok}


__all__ = [
    "DISCARD",
    "DISCARD_JOIN_TIMEOUT",
    "DISCARD_TIMEOUT",
    "FINISH",
    "PARTY_KEY",
    "ROLE_KEY",
    "WHOAMI",
    "discard",
    "discard_runs",
    "finish",
    "whoami_reply",
]
