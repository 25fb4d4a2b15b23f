"""The coordinator's exchanges with the banks and its aggregation of their protected vectors.

The coordinator only ever sums protected vectors. What it sees, per backend: ``ckks``:
ciphertexts, their count and sizes, the public context (never a model, an update, a row
count or a loss of any bank); ``masked``: uniformly random uint64 vectors, the survivors'
masks with dropped banks, and the sum; ``secaggplus``: Flower's SecAgg+ messages and the
weighted mean (:mod:`federation.homo.secaggplus_mean`); ``plaintext``: every update. In
all cases it learns which banks answered each exchange.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from crypto.errors import PartyUnavailableError
from federation.homo.ckks import CiphertextAggregator, unmask_sum
from federation.homo.messages import UNMASK
from federation.homo.params import STATS_BOUND, HomoParams
from federation.homo.secaggplus_mean import SecAggPlusAggregator
from federation.protocol import ProgressFn
from federation.transport import Envelope, Payload, Transport

Requests = dict[str, tuple[str, Payload]]


def _dropped_from(exc: PartyUnavailableError, asked: Sequence[str]) -> list[str]:
    named = set(re.findall(r"'([^']+)'", str(exc)))
    return [p for p in asked if p in named]


class Rounds:
    """Exchanges with dropout handling and per-exchange byte accounting."""

    def __init__(self, transport: Transport, params: HomoParams, progress: ProgressFn) -> None:
        self.transport = transport
        self.params = params
        self.progress = progress
        self.exchanges = 0

    def ask(
        self, requests: Requests, *, allow_drop: bool, timeout: float | None = None
    ) -> tuple[dict[str, Envelope], list[str]]:
        """Send; on a dropout retry with the rest. Returns (replies, dropped banks)."""
        pending = dict(requests)
        dropped: list[str] = []
        while True:
            self.exchanges += 1
            try:
                replies = self.transport.exchange(
                    [Envelope(p, a, pl) for p, (a, pl) in pending.items()], timeout=timeout
                )
                return replies, dropped
            except PartyUnavailableError as exc:
                gone = _dropped_from(exc, list(pending))
                if not allow_drop or not gone:
                    raise
                for p in gone:
                    pending.pop(p)
                dropped += gone
                self.progress("dropout", {"parties": gone})
                if len(pending) < self.params.min_clients:
                    raise PartyUnavailableError(
                        f"only {len(pending)} bank(s) answered; min_clients is "
                        f"{self.params.min_clients} (dropped: {dropped})"
                    ) from None


class Aggregator:
    """Coordinator-side sum for each backend (CKKS: ciphertexts only)."""

    def __init__(
        self,
        backend: str,
        public_context: bytes | None,
        observe: Callable[[Any], None] | None = None,
    ) -> None:
        self.backend = backend
        self.ckks = None
        if backend == "ckks":
            assert public_context is not None
            self.ckks = CiphertextAggregator(public_context, observe=observe)

    def total(self, updates: list[Any], corrections: list[Any]) -> Any:
        if self.ckks is not None:
            return self.ckks.sum([bytes(u) for u in updates])
        if self.backend == "masked":
            return unmask_sum([np.asarray(u, dtype=np.uint64) for u in updates], corrections)
        out = np.zeros_like(np.asarray(updates[0], dtype=np.float64))
        for u in updates:
            out += np.asarray(u, dtype=np.float64)
        return out


def sample_banks(banks: Sequence[str], params: HomoParams, seed: int, rnd: int) -> list[str]:
    """The banks asked in round ``rnd`` (all of them unless ``params.fraction`` < 1)."""
    k = max(params.min_clients, math.ceil(params.fraction * len(banks)))
    k = min(k, len(banks))
    if k == len(banks):
        return list(banks)
    rng = np.random.default_rng([seed, rnd, 7])
    return sorted(rng.choice(list(banks), size=k, replace=False).tolist())


def payload_value(backend: str, agg: Any) -> Any:
    """An aggregate as it travels back to the banks."""
    return bytes(agg) if backend == "ckks" else np.asarray(agg, dtype=np.float64)


class SecureRound:
    """One protected aggregation over the banks: ask, then sum (or SecAgg+'s mean).

    ``extras`` holds, per bank, what is delivered with the next request that bank answers
    (sealed key, peers' keys, global statistics); it is emptied once the bank answered.
    """

    def __init__(
        self,
        rounds: Rounds,
        params: HomoParams,
        aggregator: Aggregator,
        secure_mean: SecAggPlusAggregator | None,
        extras: dict[str, Payload],
    ) -> None:
        self.rounds = rounds
        self.params = params
        self.aggregator = aggregator
        self.secure_mean = secure_mean
        self.extras = extras

    def run(
        self,
        action: str,
        members: list[str],
        payloads: dict[str, Payload],
        round_no: int,
        n_values: int,
    ) -> tuple[Any, list[str], dict[str, Envelope]]:
        """(aggregate, dropped banks, the replies of the banks in the aggregate)."""
        extras = self.extras
        reqs = {b: (action, {**extras[b], **payloads[b], "participants": members}) for b in members}
        replies, dropped = self.rounds.ask(reqs, allow_drop=True, timeout=self.params.round_timeout)
        for b in replies:
            extras[b] = {}
        if self.secure_mean is not None:  # Flower's SecAgg+ over the banks that answered
            return self._secaggplus(self.secure_mean, replies, dropped, round_no)
        corrections: list[Any] = []
        if self.aggregator.backend == "masked" and dropped:
            corrections = self._corrections(replies, dropped, round_no, n_values)
        total = self.aggregator.total(
            [replies[b].payload["update"] for b in sorted(replies)], corrections
        )
        return total, dropped, replies

    def _secaggplus(
        self,
        secure_mean: SecAggPlusAggregator,
        replies: dict[str, Envelope],
        dropped: list[str],
        round_no: int,
    ) -> tuple[Any, list[str], dict[str, Envelope]]:
        mean = secure_mean.mean(
            sorted(replies), round_no, bound=STATS_BOUND if round_no == 0 else None
        )
        self.rounds.exchanges += mean.exchanges
        if mean.dropped:
            dropped = dropped + mean.dropped
            self.rounds.progress("dropout", {"parties": mean.dropped})
        if len(mean.contributors) < self.params.min_clients:
            raise PartyUnavailableError(
                f"only {len(mean.contributors)} bank(s) completed SecAgg+; min_clients "
                f"is {self.params.min_clients} (dropped: {dropped})"
            )
        return mean.values, dropped, {b: replies[b] for b in mean.contributors}

    def _corrections(
        self, replies: dict[str, Envelope], dropped: list[str], round_no: int, n_values: int
    ) -> list[Any]:
        """masked: the survivors' masks with the dropped banks (the coordinator removes them)."""
        ur, _ = self.rounds.ask(
            {
                b: (UNMASK, {"dropped": dropped, "round_no": round_no, "n": n_values})
                for b in replies
            },
            allow_drop=False,
            timeout=self.params.round_timeout,
        )
        return [np.asarray(r.payload["correction"], dtype=np.uint64) for r in ur.values()]


__all__ = ["Aggregator", "Requests", "Rounds", "SecureRound", "payload_value", "sample_banks"]
