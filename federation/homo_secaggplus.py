"""Flower's SecAgg+ as the aggregation of horizontal FedAvg (``backend = "secaggplus"``).

The banks' sample-weighted mean is computed by Flower's own implementation of SecAgg+
(Bell et al., CCS 2020): ``flwr.server.workflow.SecAggPlusWorkflow`` at the coordinator and
``flwr.client.mod.secaggplus_mod`` in every bank's ClientApp. Nothing of the protocol is
re-implemented here; this module only connects it to the lab's FedAvg driver:

* bank side, in the query handler of a round (``homo.train`` / ``homo.stats``):
  :func:`stash_update` keeps the bank's vector ``v`` (the update divided by its weight) and
  its training-row count ``n`` in the bank's own run state; nothing is sent yet.
* coordinator, right after: :meth:`SecAggPlusAggregator.mean` runs the workflow's four
  stages over Flower ``train`` messages to the banks that answered (``setup``: public keys;
  ``share_keys``: Shamir shares of each bank's mask seed and key, encrypted bank to bank;
  ``collect_masked_vectors``: each bank quantizes ``n/max_weight * v``, adds its private mask
  and its pairwise masks, and uploads the masked integers; ``unmask``: survivors send the
  shares the coordinator needs to remove the masks). The result is ``sum n_k v_k / sum n_k``.
* bank side, in the ClientApp's ``train`` function (:func:`register_train`): ``secaggplus_mod``
  asks the handler for the stashed vector as a Flower ``FitRes`` and masks it; the handler
  refuses to answer outside the masked-vector stage, and an outer mod replaces the
  ``num_examples`` that Flower's FitRes would otherwise carry in clear by 0 (the weight
  still travels, masked, as the first element of the masked vector) and runs the privacy
  guard on what actually leaves.

What the coordinator learns per round: the weighted mean of the answering banks' vectors
(the global model, loss and statistics, as with the ``masked`` backend), which banks
answered each stage, the public keys and the encrypted shares it relays, and the sum of the
quantized weights (about the total training rows over ``max_weight``). With
``reconstruction_threshold`` t it can remove a bank's masks only with t shares from that
bank's neighbours: honest-but-curious, it never holds both kinds of shares of one bank.
Quantization error of the mean: per element at most
``K * 2 * clipping_range / quantization_range / sum_k(n_k / max_weight)`` for K banks
(stochastic rounding, so usually far less). See docs/protocols/homo_ckks.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from crypto.errors import ConfigError, PartyUnavailableError, PrivacyViolationError, ProtocolError

if TYPE_CHECKING:
    from flwr.app import Context, Message, RecordDict
    from flwr.clientapp import ClientApp

    from federation.party import PartyContext
    from federation.transport import MessageLog

#: where a bank keeps the vector of the current round until SecAgg+ asks for it
PENDING_KEY = "secaggplus_pending"
#: the FitIns config key naming the round a masked vector belongs to
ROUND_KEY = "fedlab.round"
ACTION_PREFIX = "homo.secaggplus."

ProgressFn = Callable[[str, dict[str, Any]], None]


class SecAggPlusParams(BaseModel):
    """``[params.secaggplus]``: Flower's SecAgg+ settings (its names and meanings).

    ``num_shares`` / ``reconstruction_threshold``: an int is a count, a float a share of the
    round's banks / of ``num_shares`` (Flower's convention). Each bank's vector is multiplied
    by ``n / max_weight`` (``n`` = its training rows, at most ``max_weight``), clipped to
    ``[-clipping_range, clipping_range]`` and quantized to ``quantization_range`` levels;
    masks live modulo ``modulus_range`` (a power of two, more than banks x
    ``quantization_range``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_shares: int | float = Field(1.0, gt=0)
    reconstruction_threshold: int | float = Field(0.75, gt=0)
    clipping_range: float = Field(8.0, gt=0)
    quantization_range: int = Field(2**24, gt=1)
    modulus_range: int = Field(2**32, gt=2, le=2**32)
    max_weight: float = Field(100_000.0, gt=0, description="largest training-row count of a bank")

    @model_validator(mode="after")
    def _ranges(self) -> SecAggPlusParams:
        if self.modulus_range & (self.modulus_range - 1):
            raise ValueError("secaggplus.modulus_range must be a power of two")
        if self.modulus_range <= self.quantization_range:
            raise ValueError("secaggplus.modulus_range must exceed quantization_range")
        if isinstance(self.reconstruction_threshold, float) and self.reconstruction_threshold > 1:
            raise ValueError(
                "secaggplus.reconstruction_threshold as a float is a share (0, 1] of num_shares"
            )
        return self

    def workflow(self, timeout: float | None) -> Any:
        from flwr.server.workflow import SecAggPlusWorkflow

        try:
            return SecAggPlusWorkflow(
                num_shares=self.num_shares,
                reconstruction_threshold=self.reconstruction_threshold,
                max_weight=float(self.max_weight),
                clipping_range=float(self.clipping_range),
                quantization_range=int(self.quantization_range),
                modulus_range=int(self.modulus_range),
                timeout=timeout,
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid [params.secaggplus]: {exc}") from None

    def error_bound(self, weights: Sequence[float]) -> float:
        """Largest possible per-element error of the mean for banks of these row counts."""
        step = 2.0 * self.clipping_range / self.quantization_range
        total = sum(float(w) / self.max_weight for w in weights)
        return len(weights) * step / total if total > 0 else float("inf")


# ---------------------------------------------------------------------------------------
# bank side
# ---------------------------------------------------------------------------------------


def stash_update(
    state: dict[str, Any],
    party: str,
    round_no: int,
    values: np.ndarray,
    rows: int,
    params: SecAggPlusParams,
    *,
    bound: float | None = None,
) -> None:
    """Keep ``values`` (weight ``rows``) for this round's SecAgg+ in the bank's own state.

    ``bound``: a public bound on ``|values|`` (e.g. 1 for the scaled statistics); the values
    are then stretched by ``clipping_range / bound`` to use the whole quantization range
    (the coordinator's :meth:`SecAggPlusAggregator.mean` with the same ``bound`` undoes it).
    Refuses values that Flower's quantization would silently clip, and weights above
    ``max_weight`` (which would overflow the masked sum).
    """
    v = np.asarray(values, dtype=np.float64) * stretch(params, bound)
    if not np.all(np.isfinite(v)):
        raise ProtocolError(
            f"bank {party!r}: the update holds NaN or infinite values",
            hint="Lower the learning rate; the local model diverged.",
        )
    if rows < 1 or rows > params.max_weight:
        raise ConfigError(
            f"bank {party!r}: its training-row count is outside 1.."
            f"{params.max_weight:g} (params.secaggplus.max_weight)",
            hint="Raise params.secaggplus.max_weight to at least the largest bank's training rows.",
        )
    top = float(np.abs(v).max(initial=0.0))
    if top > params.clipping_range:
        raise ConfigError(
            f"bank {party!r}: a model value exceeds params.secaggplus."
            f"clipping_range = {params.clipping_range:g}; SecAgg+ would clip it",
            hint="Raise params.secaggplus.clipping_range (precision falls in "
            "proportion) or regularise the model (weight_decay).",
        )
    state[PENDING_KEY] = {"round": int(round_no), "values": v, "rows": int(rows)}


def stretch(params: SecAggPlusParams, bound: float | None) -> float:
    """The factor values known to lie in ``[-bound, bound]`` are multiplied by (1 if None)."""
    return 1.0 if bound is None else params.clipping_range / float(bound)


def train_reply(msg: Message, state: Mapping[str, Any], party: str) -> Message:
    """The ``train`` handler behind ``secaggplus_mod``: the stashed vector as a FitRes."""
    from flwr.app import Message
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
    from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key
    from flwr.compat.common import recorddict_compat as compat

    cfg = msg.content.config_records.get(RECORD_KEY_CONFIGS)
    if cfg is None or Key.CIPHERTEXT_LIST not in cfg:
        raise PrivacyViolationError(
            f"bank {party!r}: an update was asked for outside "
            "SecAgg+'s masked-vector stage; it would leave unmasked"
        )
    ins = compat.recorddict_to_fitins(msg.content, keep_input=True)
    round_no = int(ins.config.get(ROUND_KEY, -1))  # type: ignore[arg-type]
    pending = state.get(PENDING_KEY)
    if not pending or int(pending["round"]) != round_no:
        raise ProtocolError(
            f"bank {party!r} holds no update for SecAgg+ round {round_no}",
            hint="The bank must answer the round's query first; restart.",
        )
    res = FitRes(
        Status(Code.OK, ""), ndarrays_to_parameters([pending["values"]]), int(pending["rows"]), {}
    )
    return Message(compat.fitres_to_recorddict(res, keep_input=False), reply_to=msg)


def wire_payload(content: RecordDict, *, decode: bool = True) -> dict[str, Any]:
    """A Flower message's content as one flat dict (masked vectors decoded to arrays)."""
    from flwr.common import bytes_to_ndarray
    from flwr.common.secure_aggregation.secaggplus_constants import Key

    out: dict[str, Any] = {}
    for name, crec in content.config_records.items():
        for key, value in crec.items():
            if decode and key == Key.MASKED_PARAMETERS:
                value = np.concatenate([bytes_to_ndarray(b).ravel() for b in value])  # type: ignore[union-attr]
            out[f"{name}.{key}"] = value
    for name, arec in content.array_records.items():
        for key, arr in arec.items():
            out[f"{name}.{key}"] = _array_value(arr) if decode else b""
    for name, mrec in content.metric_records.items():
        for key, value in mrec.items():
            out[f"{name}.{key}"] = value
    return out


def _array_value(arr: Any) -> Any:
    try:
        return arr.numpy()
    except TypeError:  # legacy Parameters with no tensor type: opaque bytes
        return bytes(arr.data)


def _error_message(
    msg: Message, exc: BaseException, party_of: Callable[[], PartyContext]
) -> Message:
    """The Flower error reply to ``msg`` for ``exc``: its public facts only
    (:mod:`federation.failures`)."""
    from flwr.app import Error, Message
    from flwr.common.constant import ErrorCode

    from federation.failures import public_failure

    try:
        ctx: PartyContext | None = party_of()
    except Exception:  # noqa: BLE001 - the party's own context failed: name it as unknown
        ctx = None
    failure = public_failure(
        ctx.name if ctx is not None else "?", ACTION_PREFIX + "train", exc, ctx
    )
    return Message(
        Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=failure.reason()), reply_to=msg
    )


def register_train(app: ClientApp, party_of: Callable[[Context], PartyContext]) -> None:
    """Give ``app`` the SecAgg+ ``train`` function (``secaggplus_mod`` + :func:`train_reply`)."""
    from flwr.app import MetricRecord
    from flwr.client.mod import secaggplus_mod

    def errors_stay_home(msg: Message, context: Context, call_next: Any) -> Message:
        try:
            out: Message = call_next(msg, context)
        except Exception as exc:  # noqa: BLE001 - only the error's public facts leave
            return _error_message(msg, exc, lambda: party_of(context))
        return out

    def only_masked_leaves(msg: Message, context: Context, call_next: Any) -> Message:
        out: Message = call_next(msg, context)
        if out.has_content():
            if "fitres.num_examples" in out.content.metric_records:
                out.content.metric_records["fitres.num_examples"] = MetricRecord(
                    {"num_examples": 0}
                )  # the weight travels masked, inside the vector
            from federation.guard import check_outgoing

            check_outgoing(party_of(context), wire_payload(out.content), "homo.secaggplus")
        return out

    @app.train(mods=[errors_stay_home, only_masked_leaves, secaggplus_mod])
    def train(msg: Message, context: Context) -> Message:
        ctx = party_of(context)
        return train_reply(msg, ctx.state, ctx.name)


# ---------------------------------------------------------------------------------------
# how SecAgg+ messages reach the banks
# ---------------------------------------------------------------------------------------


class GridChannel:
    """The Flower runtimes: the run's grid, the banks' node IDs, fast polling."""

    def __init__(self, grid: Any, nodes: Mapping[str, int], *, timeout: float, poll: float) -> None:
        self.grid = grid
        self.nodes = dict(nodes)
        self.timeout = timeout
        self.poll = poll

    def send(self, messages: Sequence[Message], timeout: float | None) -> list[Message]:
        from federation.flower_transport import send_and_collect

        replies, _ = send_and_collect(
            self.grid, dict(enumerate(messages)), timeout=timeout or self.timeout, poll=self.poll
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
                reply = _error_message(wire, exc, lambda n=node: self.parties[self._names[n]])
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

        from federation.transport import Envelope

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
def _task_identity() -> Any:
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
            strategy=strategy,
        )  # type: ignore[arg-type]
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
    "ACTION_PREFIX",
    "PENDING_KEY",
    "GridChannel",
    "LocalChannel",
    "SecAggPlusAggregator",
    "SecAggPlusParams",
    "SecureMean",
    "channel_for",
    "register_train",
    "stash_update",
    "stretch",
    "train_reply",
    "wire_payload",
]
