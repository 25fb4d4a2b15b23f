"""Flower's SecAgg+ at the coordinator: the workflow's runs and the channels to the banks.

:class:`SecAggPlusAggregator` runs ``flwr.server.workflow.SecAggPlusWorkflow`` once per
aggregation over the banks that answered a round's query (:mod:`federation.homo.secaggplus`
holds the bank's side); :class:`GridChannel` (Flower runtimes) and :class:`LocalChannel`
(in-process banks, messages serialized to protobuf and back) carry its messages. Every
message is logged with its size; a bank's error reply stops the aggregation.

What the coordinator learns per aggregation: the weighted mean ``sum n_k v_k / sum n_k`` of
the contributing banks' vectors, which banks answered each of the four stages, the public
keys and the encrypted shares it relays, and the sum of the quantized weights (about the
total training rows over ``max_weight``). It never holds both kinds of shares of one bank
(honest-but-curious; see docs/protocols/homo_ckks.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from crypto.errors import ConfigError, PartyUnavailableError, ProtocolError
from federation.homo.secaggplus import (
    ACTION_PREFIX,
    ROUND_KEY,
    SecAggPlusParams,
    error_reply,
    register_train,
    stretch,
    wire_payload,
)
from federation.party import PartyContext
from federation.transport import Envelope, MessageLog

if TYPE_CHECKING:
    from flwr.app import Message

ProgressFn = Callable[[str, dict[str, Any]], None]


class GridChannel:
    """The Flower runtimes: the run's grid, the banks' node IDs, fast polling."""

    def __init__(self, grid: Any, nodes: Mapping[str, int], *, timeout: float, poll: float) -> None:
        self.grid = grid
        self.nodes = dict(nodes)
        self.timeout = timeout
        self.poll = poll

    def send(self, messages: Sequence[Message], timeout: float | None) -> list[Message]:
        from federation.flower_transport import send_and_collect  # loads flwr

        replies, _ = send_and_collect(
            self.grid,
            {str(i): m for i, m in enumerate(messages)},
            timeout=timeout or self.timeout,
            poll=self.poll,
        )
        return list(replies.values())


class LocalChannel:
    """The local runtime: each bank's ClientApp ``train`` function in this process.

    Messages are serialized to Flower's protobuf and back in both directions (each bank
    gets its own copy, as on the wire); a bank in ``unavailable()`` does not answer.
    """

    def __init__(
        self,
        parties: Mapping[str, PartyContext],
        unavailable: Callable[[], Iterable[str]] = frozenset,
    ) -> None:
        from flwr.app import Context, RecordDict
        from flwr.clientapp import ClientApp

        self.parties = dict(parties)
        self.nodes = {name: i + 1 for i, name in enumerate(sorted(self.parties))}
        self._names = {i: n for n, i in self.nodes.items()}
        self._unavailable = unavailable
        self._contexts = {
            i: Context(run_id=0, node_id=i, node_config={}, state=RecordDict(), run_config={})
            for i in self._names
        }
        self.app = ClientApp()
        register_train(self.app, lambda context: self.parties[self._names[context.node_id]])

    def _party(self, node: int) -> PartyContext:
        return self.parties[self._names[node]]

    def send(self, messages: Sequence[Message], timeout: float | None) -> list[Message]:
        from flwr.common.serde import message_from_proto, message_to_proto

        gone = set(self._unavailable())
        replies = []
        for msg in messages:
            node = msg.metadata.dst_node_id
            if self._names[node] in gone:
                continue
            wire = message_from_proto(message_to_proto(msg))
            try:
                reply = self.app(wire, self._contexts[node])
            except Exception as exc:  # noqa: BLE001 - as the Flower runtimes: an error reply
                reply = error_reply(wire, exc, partial(self._party, node))
            replies.append(message_from_proto(message_to_proto(reply)))
        return replies


def channel_for(transport: Any, timeout: float | None) -> GridChannel | LocalChannel:
    """The SecAgg+ channel of a runtime's transport (Flower grid, or in-process parties)."""
    if getattr(transport, "grid", None) is not None and hasattr(transport, "nodes"):
        return GridChannel(
            transport.grid,
            transport.nodes,
            timeout=timeout or float(getattr(transport, "timeout", 600.0)),
            poll=float(getattr(transport, "poll", 0.05)),
        )
    if hasattr(transport, "parties"):
        return LocalChannel(
            transport.parties, lambda: getattr(transport, "unavailable", frozenset())
        )
    raise ConfigError(
        "backend 'secaggplus' needs the local, simulation or deployment runtime "
        f"(this transport, {type(transport).__name__}, has neither a Flower grid "
        "nor in-process parties)"
    )


# ---------------------------------------------------------------------------------------
# coordinator side
# ---------------------------------------------------------------------------------------


@dataclass
class SecureMean:
    """One SecAgg+ aggregation as the coordinator sees it."""

    values: np.ndarray  # sum_k n_k v_k / sum_k n_k over the contributors
    contributors: list[str]
    dropped: list[str]  # asked, but their masked vector is not in the mean
    exchanges: int
    bytes_sent: int  # coordinator -> banks (serialized Flower messages)
    bytes_received: int  # banks -> coordinator
    seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)  # waiting for the banks

    @property
    def nbytes(self) -> int:
        return self.bytes_sent + self.bytes_received


class _LoggedGrid:
    """The grid the workflow talks to: logs every message, fails on a bank's error reply."""

    def __init__(
        self,
        channel: GridChannel | LocalChannel,
        log: MessageLog | None,
        progress: ProgressFn,
        round_no: int,
    ) -> None:
        self.channel = channel
        self.log = log
        self.progress = progress
        self.round_no = round_no
        self.names = {i: n for n, i in channel.nodes.items()}
        self.exchanges = 0
        self.nbytes = {"to_party": 0, "from_party": 0}
        self.answered: dict[str, set[str]] = {}
        self.stage_seconds: dict[str, float] = {}

    def _record(self, direction: str, msg: Message, action: str) -> None:
        from flwr.common.serde import message_to_proto

        size = message_to_proto(msg).ByteSize()
        self.nbytes[direction] += size
        if self.log is not None:
            node = msg.metadata.dst_node_id if direction == "to_party" else msg.metadata.src_node_id
            payload = (
                wire_payload(msg.content, decode=self.log.keep_payloads)
                if msg.has_content()
                else {"error": msg.error.reason}
            )
            self.log.record(
                direction, Envelope(self.names.get(node, str(node)), action, payload), size
            )

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> list[Message]:
        from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key

        msgs = list(messages)
        stage = (
            str(msgs[0].content.config_records[RECORD_KEY_CONFIGS][Key.STAGE]) if msgs else "none"
        )
        action = ACTION_PREFIX + stage
        self.progress(
            "secaggplus.stage",
            {
                "round": self.round_no,
                "stage": stage,
                "parties": sorted(self.names[m.metadata.dst_node_id] for m in msgs),
            },
        )
        self.exchanges += 1
        if self.log is not None:
            self.log.exchanges += 1
        for m in msgs:
            self._record("to_party", m, action)
        t = time.perf_counter()
        replies = self.channel.send(msgs, timeout)
        self.stage_seconds[stage] = time.perf_counter() - t
        for r in replies:
            self._record("from_party", r, action)
        errors = [r for r in replies if r.has_error()]
        if errors:
            who = self.names.get(errors[0].metadata.src_node_id, "?")
            raise ProtocolError(f"party {who!r} failed in {action!r}: {errors[0].error.reason}")
        self.answered[stage] = {self.names[r.metadata.src_node_id] for r in replies}
        return replies


class _RoundStrategy:
    """The legacy Strategy the workflow asks for FitIns and hands the mean to."""

    def __init__(
        self, grid: Any, nodes: Mapping[str, int], members: Sequence[str], round_no: int
    ) -> None:
        self.grid = grid
        self.nodes = nodes
        self.members = list(members)
        self.round_no = round_no
        self.mean: np.ndarray | None = None
        self.contributors: list[int] = []

    # the parts of flwr.server.strategy.Strategy that SecAggPlusWorkflow calls
    def configure_fit(self, server_round: int, parameters: Any, client_manager: Any) -> list[Any]:
        from flwr.common import FitIns, Parameters
        from flwr.server.compat.grid_client_proxy import GridClientProxy

        return [
            (
                GridClientProxy(self.nodes[m], self.grid, 0),
                FitIns(Parameters(tensors=[], tensor_type=""), {ROUND_KEY: self.round_no}),
            )
            for m in self.members
        ]

    def aggregate_fit(
        self, server_round: int, results: list[Any], failures: list[Any]
    ) -> tuple[None, dict[str, Any]]:
        from flwr.common import parameters_to_ndarrays

        if results:
            arrays = parameters_to_ndarrays(results[0][1].parameters)
            self.mean = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
            self.contributors = [proxy.node_id for proxy, _ in results]
        return None, {}


@contextmanager
def _task_identity() -> Iterator[None]:
    """Flower messages need a task identity; outside a ServerApp (local runtime) set one."""
    from flwr.supercore.task_identity import TaskIdentity

    if TaskIdentity._run_id is not None:  # inside a Flower ServerApp (simulation, deployment)
        yield
        return
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 0, 0
    try:
        yield
    finally:
        TaskIdentity._task_id = TaskIdentity._run_id = TaskIdentity._node_id = None


class SecAggPlusAggregator:
    """The coordinator's side: Flower's SecAggPlusWorkflow, one run of it per aggregation."""

    def __init__(
        self,
        channel: GridChannel | LocalChannel,
        params: SecAggPlusParams,
        *,
        timeout: float | None = None,
        log: MessageLog | None = None,
        progress: ProgressFn | None = None,
    ) -> None:
        self.channel = channel
        self.params = params
        self.timeout = timeout
        self.log = log
        self.progress = progress or (lambda event, fields: None)

    def mean(
        self, members: Sequence[str], round_no: int, *, bound: float | None = None
    ) -> SecureMean:
        """``sum n_k v_k / sum n_k`` over ``members`` that stay through the masking stage.

        ``bound``: the same public bound the banks stashed their values with (if any).
        """
        from flwr.app import ArrayRecord, ConfigRecord, Context, RecordDict
        from flwr.server.compat.legacy_context import LegacyContext
        from flwr.server.strategy import Strategy
        from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
        from flwr.server.workflow.constant import Key as WorkflowKey

        members = sorted(members)
        if len(members) < 2:
            raise PartyUnavailableError(
                f"SecAgg+ needs at least 2 banks; only {members} answered round {round_no}"
            )
        if len(members) * self.params.quantization_range >= self.params.modulus_range:
            raise ConfigError(
                f"{len(members)} banks x secaggplus.quantization_range "
                "overflow secaggplus.modulus_range",
                hint="Lower quantization_range or raise modulus_range.",
            )
        grid = _LoggedGrid(self.channel, self.log, self.progress, round_no)
        strategy = _RoundStrategy(grid, self.channel.nodes, members, round_no)
        context = LegacyContext(
            Context(run_id=0, node_id=0, node_config={}, state=RecordDict(), run_config={}),
            strategy=cast("Strategy", strategy),  # the parts of a Strategy the workflow calls
        )
        context.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord(
            {WorkflowKey.CURRENT_ROUND: int(round_no)}
        )
        context.state.array_records[MAIN_PARAMS_RECORD] = ArrayRecord()
        t = time.perf_counter()
        flwr_log = logging.getLogger("flwr")
        level = flwr_log.level
        flwr_log.setLevel(max(level, logging.WARNING))  # the workflow logs each stage at INFO
        try:
            with _task_identity():
                self.params.workflow(self.timeout)(grid, context)
        finally:
            flwr_log.setLevel(level)
        seconds = time.perf_counter() - t
        if strategy.mean is None:
            counts = {s: len(a) for s, a in grid.answered.items()}
            raise PartyUnavailableError(
                f"SecAgg+ halted in round {round_no}: too few banks answered a stage "
                f"(answers per stage {counts}; threshold "
                f"{self.params.reconstruction_threshold} of {self.params.num_shares} shares)",
                hint="Lower params.secaggplus.reconstruction_threshold or bring the banks back.",
            )
        names = {i: n for n, i in self.channel.nodes.items()}
        contributors = sorted(names[i] for i in strategy.contributors)
        return SecureMean(
            values=strategy.mean / stretch(self.params, bound),
            contributors=contributors,
            dropped=[m for m in members if m not in contributors],
            exchanges=grid.exchanges,
            bytes_sent=grid.nbytes["to_party"],
            bytes_received=grid.nbytes["from_party"],
            seconds=seconds,
            stage_seconds=dict(grid.stage_seconds),
        )


__all__ = [
    "GridChannel",
    "LocalChannel",
    "SecAggPlusAggregator",
    "SecureMean",
    "channel_for",
]
