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

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto.errors import ProtocolError
from federation.roles import PartyRole
from federation.transport import Payload


@dataclass
class PartyContext:
    """What a party's handler knows: its own name, role, data and local state.

    ``work_dir`` is this run's folder at the party (its model piece goes there): ``DIR/
    parties/NAME`` of a local or simulation run, ``WORK/runs/<run>`` on a SuperNode. ``home``
    is a SuperNode's own work dir ``WORK``, which outlives its runs (long-term files such as
    a host's PSI key; other runs' folders); None where the run's folder is all there is."""

    name: str
    role: PartyRole
    data_path: Path | None
    work_dir: Path
    node_config: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    home: Path | None = None


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


_PROTOCOL_MODULES = (
    "federation.runtime.actions",
    "federation.alignment",
    "federation.hetero_lr",
    "federation.scoring",
    "federation.secureboost",
    "federation.scorecard",
    "federation.homo",
    "federation.sample_profile",
)


PLUGIN_ENV = "FEDLAB_PROTOCOL_MODULES"


def plugin_modules() -> list[str]:
    """Module names listed in ``FEDLAB_PROTOCOL_MODULES``."""
    raw = os.environ.get(PLUGIN_ENV, "")
    return [m.strip() for m in raw.split(",") if m.strip()]


def load_protocols() -> None:
    """Import every protocol module so its handlers are registered."""
    import importlib

    for mod in _PROTOCOL_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
    for mod in plugin_modules():
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            raise ProtocolError(
                f"protocol module {mod!r} named in {PLUGIN_ENV} cannot be imported: {exc}"
            ) from None


__all__ = [
    "HANDLERS",
    "PLUGIN_ENV",
    "Handler",
    "PartyContext",
    "get_handler",
    "load_protocols",
    "plugin_modules",
    "register",
]
