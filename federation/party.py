"""Party-side handler registry and per-party context.

A protocol module registers one handler per action::

    @register("lr.forward")
    def forward(ctx: PartyContext, payload: Payload) -> Payload: ...

The runtime (Flower ClientApp or LocalTransport) looks the handler up by the action
named in the request. ``ctx.state`` survives between messages of one run at that party
(the runtime persists it at the party, never sends it anywhere): keep it picklable
(numpy arrays, plain Python values, ciphertexts serialized to ``bytes``). ``ctx.cache`` is
a process-local dict for things that are expensive to rebuild (loaded data frames, key
objects): it may be empty on any message, so rebuild from ``ctx.state`` when it is.

Extra protocol modules (a lab plugin, or a test-only protocol) are imported when named in
the environment variable ``FEDLAB_PROTOCOL_MODULES`` (comma-separated module names) on the
coordinator and on every party.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto.errors import ConfigError, ProtocolError
from federation.algorithms import ALGORITHMS, PLUGIN_ENV, load_plugins, plugin_modules
from federation.roles import PartyRole
from federation.transport import Payload


@dataclass
class PartyContext:
    """What a party's handler knows: its own name, role, data and local state.

    ``work_dir`` is this run's folder at the party (its model piece goes there): ``DIR/
    parties/NAME`` of a local or simulation run, ``WORK/runs/<run>`` on a SuperNode. ``home``
    is a SuperNode's own work dir ``WORK``, which outlives its runs (long-term files such as
    a host's PSI key; other runs' folders); None where the run's folder is all there is.
    ``private`` is the party-private folder whose ``.state/`` holds its run state between
    messages (:mod:`federation.runtime.state`); None where the state stays in memory."""

    name: str
    role: PartyRole
    data_path: Path | None
    work_dir: Path
    node_config: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    home: Path | None = None
    private: Path | None = None


Handler = Callable[[PartyContext, Payload], Payload]
HANDLERS: dict[str, Handler] = {}


def register(action: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` as the party-side handler of ``action``."""

    def deco(fn: Handler) -> Handler:
        if action in HANDLERS and HANDLERS[action] is not fn:
            raise ProtocolError(f"action {action!r} registered twice")
        HANDLERS[action] = fn
        return fn

    return deco


def get_handler(action: str) -> Handler:
    load_protocols()
    try:
        return HANDLERS[action]
    except KeyError:
        raise ProtocolError(f"no party handler for action {action!r}") from None


#: Modules whose handlers every party needs whatever the algorithm (run control, PSI,
#: scoring); the algorithms' own modules come from the registry.
_COMMON_MODULES = (
    "federation.runtime.actions",
    "federation.alignment",
    "federation.scoring",
)


def protocol_modules() -> list[str]:
    """Every module with party handlers: the common ones, then each algorithm's."""
    out = list(_COMMON_MODULES)
    for spec in ALGORITHMS.values():
        out += [m for m in spec.party_modules if m not in out]
    return out


def load_protocols() -> None:
    """Import every protocol module (and plugin) so its handlers are registered."""
    for mod in protocol_modules():
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
    try:
        load_plugins()
    except ConfigError as exc:
        raise ProtocolError(str(exc)) from None


__all__ = [
    "HANDLERS",
    "PLUGIN_ENV",
    "Handler",
    "PartyContext",
    "get_handler",
    "load_protocols",
    "plugin_modules",
    "protocol_modules",
    "register",
]
