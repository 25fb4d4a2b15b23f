"""Flower's SecAgg+ as the aggregation of horizontal FedAvg (``backend = "secaggplus"``).

The banks' sample-weighted mean is computed by Flower's own implementation of SecAgg+
(Bell et al., CCS 2020): ``flwr.server.workflow.SecAggPlusWorkflow`` at the coordinator and
``flwr.client.mod.secaggplus_mod`` in every bank's ClientApp. Nothing of the protocol is
re-implemented here; this module (the bank's side) and :mod:`federation.homo.secaggplus_mean`
(the coordinator's side, the channels to the banks) only connect it to the FedAvg driver:

* bank side, in the query handler of a round (``homo.train`` / ``homo.stats``):
  :func:`stash_update` keeps the bank's vector ``v`` (the update divided by its weight) and
  its training-row count ``n`` in the bank's own run state; nothing is sent yet.
* coordinator, right after: ``SecAggPlusAggregator.mean`` (in ``secaggplus_mean``) runs the
  workflow's four stages over Flower ``train`` messages to the banks that answered
  (``setup``: public keys; ``share_keys``: Shamir shares of each bank's mask seed and key,
  encrypted bank to bank; ``collect_masked_vectors``: each bank quantizes
  ``n/max_weight * v``, adds its private mask and its pairwise masks, and uploads the masked
  integers; ``unmask``: survivors send the shares the coordinator needs to remove the
  masks). The result is ``sum n_k v_k / sum n_k``.
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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from crypto.errors import ConfigError, PrivacyViolationError, ProtocolError
from federation.guard import check_outgoing
from federation.party import PartyContext

if TYPE_CHECKING:
    from flwr.app import Context, Message, RecordDict
    from flwr.clientapp import ClientApp

#: where a bank keeps the vector of the current round until SecAgg+ asks for it
PENDING_KEY = "secaggplus_pending"
#: the FitIns config key naming the round a masked vector belongs to
ROUND_KEY = "fedlab.round"
ACTION_PREFIX = "homo.secaggplus."


@dataclass(frozen=True)
class PendingUpdate:
    """A bank's stashed vector for one SecAgg+ round (kept in its own run state only)."""

    round: int
    values: np.ndarray
    rows: int


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

    num_shares: int | float = Field(default=1.0, gt=0)
    reconstruction_threshold: int | float = Field(default=0.75, gt=0)
    clipping_range: float = Field(default=8.0, gt=0)
    quantization_range: int = Field(default=2**24, gt=1)
    modulus_range: int = Field(default=2**32, gt=2, le=2**32)
    max_weight: float = Field(
        default=100_000.0, gt=0, description="largest training-row count of a bank"
    )

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
        # Flower's own checks (SecAggPlusWorkflow), here so that they fail at parse time
        shares, threshold = self.num_shares, self.reconstruction_threshold
        if isinstance(shares, int) and shares == 2:
            raise ValueError("secaggplus.num_shares as an integer must be 1 or more than 2")
        if isinstance(shares, int) and isinstance(threshold, int) and shares > 1:
            if 1 < threshold and threshold >= shares:
                raise ValueError("secaggplus.reconstruction_threshold must be less than num_shares")
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
    state[PENDING_KEY] = PendingUpdate(int(round_no), v, int(rows))


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
    round_no = int(ins.config.get(ROUND_KEY, -1))
    pending = state.get(PENDING_KEY)
    if not isinstance(pending, PendingUpdate) or pending.round != round_no:
        raise ProtocolError(
            f"bank {party!r} holds no update for SecAgg+ round {round_no}",
            hint="The bank must answer the round's query first; restart.",
        )
    res = FitRes(Status(Code.OK, ""), ndarrays_to_parameters([pending.values]), pending.rows, {})
    return Message(compat.fitres_to_recorddict(res, keep_input=False), reply_to=msg)


def wire_payload(content: RecordDict, *, decode: bool = True) -> dict[str, Any]:
    """A Flower message's content as one flat dict (masked vectors decoded to arrays)."""
    from flwr.common import bytes_to_ndarray
    from flwr.common.secure_aggregation.secaggplus_constants import Key

    out: dict[str, Any] = {}
    for name, crec in content.config_records.items():
        for key, value in crec.items():
            if decode and key == Key.MASKED_PARAMETERS:  # a list of serialized arrays
                blobs = cast("list[bytes]", value)
                out[f"{name}.{key}"] = np.concatenate([bytes_to_ndarray(b).ravel() for b in blobs])
            else:
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


def error_reply(msg: Message, exc: BaseException, party_of: Callable[[], PartyContext]) -> Message:
    """The Flower error reply to ``msg`` for ``exc``: its public facts only
    (:mod:`federation.failures`)."""
    from flwr.app import Error, Message
    from flwr.common.constant import ErrorCode

    from federation.failures import public_failure  # loads flwr: only where a reply is built

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
            return error_reply(msg, exc, lambda: party_of(context))
        return out

    def only_masked_leaves(msg: Message, context: Context, call_next: Any) -> Message:
        out: Message = call_next(msg, context)
        if out.has_content():
            if "fitres.num_examples" in out.content.metric_records:
                out.content.metric_records["fitres.num_examples"] = MetricRecord(
                    {"num_examples": 0}
                )  # the weight travels masked, inside the vector
            check_outgoing(party_of(context), wire_payload(out.content), "homo.secaggplus")
        return out

    @app.train(mods=[errors_stay_home, only_masked_leaves, secaggplus_mod])
    def train(msg: Message, context: Context) -> Message:
        ctx = party_of(context)
        return train_reply(msg, ctx.state, ctx.name)


__all__ = [
    "ACTION_PREFIX",
    "PENDING_KEY",
    "ROUND_KEY",
    "PendingUpdate",
    "SecAggPlusParams",
    "error_reply",
    "register_train",
    "stash_update",
    "stretch",
    "train_reply",
    "wire_payload",
]
