"""The contract between a runtime and a protocol driver.

A *driver* runs on the coordinator. It receives a :class:`~federation.transport.Transport`
(already connected to every party of the experiment), the validated experiment config and a
progress callback, drives the protocol by exchanging messages, tells every party to save its
own model piece (into its ``PartyContext.work_dir``), and returns a :class:`ProtocolResult`.

The runtime (``federation.run``) writes ``metrics.json`` and ``disclosure.json`` from the
result and the transport's message log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from crypto.errors import ConfigError, ProtocolError
from federation.algorithms import algorithm_names, get_algorithm
from federation.config import ExperimentConfig
from federation.transport import Envelope, Transport

#: progress(event, fields): e.g. progress("epoch", {"epoch": 3, "loss": 0.41})
ProgressFn = Callable[[str, dict[str, Any]], None]


def no_progress(event: str, fields: dict[str, Any]) -> None:  # noqa: ARG001
    """A progress callback that ignores everything."""


@dataclass
class ProtocolResult:
    """What a driver returns: public metrics and a coordinator-side model summary.

    ``metrics`` goes to metrics.json as is (auc, ks, n_aligned, loss per epoch, seconds per
    phase, ...). Nothing secret and no per-enterprise value may be in here.
    """

    metrics: dict[str, Any] = field(default_factory=dict)
    model_summary: dict[str, Any] = field(default_factory=dict)


class Driver(Protocol):
    def __call__(
        self, transport: Transport, config: ExperimentConfig, *, progress: ProgressFn
    ) -> ProtocolResult: ...


def require_parties(transport: Transport, names: Sequence[str]) -> None:
    """Fail clearly when a party the config names is not connected to this run."""
    known = transport.party_roles()
    for p in names:
        if p not in known:
            raise ConfigError(
                f"party {p!r} of the config is not connected to this run",
                hint="Start its SuperNode (or fix the party name) and run again.",
            )


class Exchanger:
    """Sends one exchange, counts it, and checks every addressed party replied."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.count = 0

    def __call__(self, requests: Sequence[Envelope]) -> dict[str, Envelope]:
        if not requests:
            return {}
        self.count += 1
        replies = self.transport.exchange(requests)
        for req in requests:
            if req.party not in replies:
                raise ProtocolError(f"party {req.party!r} sent no reply to {req.action!r}")
        return replies


def known_algorithms() -> list[str]:
    """Every algorithm of the registry (``federation.algorithms``), plugins included."""
    return algorithm_names()


def get_driver(algorithm: str) -> Driver:
    """The driver of ``algorithm`` as the registry names it (imported on first use)."""
    return get_algorithm(algorithm).load_driver()


__all__ = [
    "Driver",
    "Exchanger",
    "require_parties",
    "ProgressFn",
    "ProtocolResult",
    "get_driver",
    "known_algorithms",
    "no_progress",
]
