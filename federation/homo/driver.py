"""The coordinator's FedAvg loop over the banks, phase by phase.

Phases: :func:`_init_banks` (``homo.init``: layouts, model size, public keys),
:func:`_deal_keys` (``ckks``: the dealer's public context and sealed secrets, relayed),
:func:`_global_stats` (``homo.stats``: the protected sum of the banks' scaled statistics),
:func:`_train_rounds` (``homo.train`` per round, protected aggregation, checkpoints) and
:func:`_evaluate` (``homo.evaluate``: pooled (score bin, label) counts -> global AUC, KS).

What the coordinator learns: with ``ckks`` the public context and ciphertexts only (never
a model, an update, a row count or a loss of any bank; it sees how many banks answered);
with ``masked`` / ``secaggplus`` the aggregate (global model, loss, statistics); with
``plaintext`` every update. From evaluation it learns each bank's held-out AUC and size,
training size and the pooled histogram counts (no single score).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crypto.errors import ConfigError, DataValidationError, ProtocolError
from features.metrics import auc_ks_from_histogram
from federation.config import ExperimentConfig
from federation.default_rule import rule_json
from federation.homo.checkpoint import (
    load_checkpoint,
    load_public_context,
    save_checkpoint,
    save_public_context,
)
from federation.homo.coordinator import (
    Aggregator,
    Rounds,
    SecureRound,
    payload_value,
    sample_banks,
)
from federation.homo.messages import (
    AGG,
    AGG_ROUND,
    EVALUATE,
    INIT,
    KEYS,
    SEALED,
    STATS,
    STATS_AGG,
    TRAIN,
    EvaluateReply,
    InitReply,
    InitRequest,
    previous_loss,
)
from federation.homo.params import ALGORITHMS, HomoParams, model_kind, parse_params, resolve_backend
from federation.homo.party import MODEL_FILE
from federation.homo.secaggplus_mean import SecAggPlusAggregator, channel_for
from federation.partydata import note_data_warnings
from federation.protocol import ProgressFn, ProtocolResult, no_progress
from federation.transport import Envelope, Payload, Transport


def _iso(d: dt.date | None) -> str:
    return d.isoformat() if d else ""


@dataclass
class _Run:
    """What the coordinator knows of one run (all of it public to the coordinator)."""

    transport: Transport
    config: ExperimentConfig
    params: HomoParams
    backend: str
    banks: list[str]
    ck_dir: Path | None
    resumed: tuple[dict[str, Any], Any] | None
    session: str
    rounds: Rounds
    progress: ProgressFn
    run_id: str = field(default_factory=lambda: os.urandom(8).hex())
    seconds: dict[str, float] = field(default_factory=dict)
    losses: dict[int, float] = field(default_factory=dict)

    @property
    def algorithm(self) -> str:
        return self.config.experiment.algorithm

    @property
    def seed(self) -> int:
        return int(self.config.experiment.seed)

    def note_losses(self, replies: dict[str, Envelope]) -> None:
        for r in replies.values():
            prev = previous_loss(r.payload)
            if prev is not None:
                self.losses[prev[0]] = prev[1]


def _check_banks(transport: Transport, config: ExperimentConfig) -> list[str]:
    banks = sorted(p.name for p in config.parties)
    known = transport.party_roles()
    for b in banks:
        if b not in known:
            raise ConfigError(
                f"bank {b!r} of the config is not connected to this run",
                hint="Start its SuperNode (or fix the party name) and run again.",
            )
        if not config.party(b).label:
            raise ConfigError(
                f"bank {b!r} names no label column; every bank of a homo "
                "experiment holds its own labels"
            )
    return banks


def _plan(transport: Transport, config: ExperimentConfig, progress: ProgressFn) -> _Run:
    algorithm = config.experiment.algorithm
    params = parse_params(config.params, algorithm)
    backend = resolve_backend(config, params)
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"federation.homo runs {ALGORITHMS}, not {algorithm!r}")
    banks = _check_banks(transport, config)
    ck_dir = Path(params.checkpoint_dir).resolve() if params.checkpoint_dir else None
    resumed = load_checkpoint(ck_dir) if (ck_dir is not None and params.resume) else None
    if resumed is not None and resumed[0].get("backend") != backend:
        raise ConfigError(
            f"checkpoint in {ck_dir} was written by backend "
            f"{resumed[0].get('backend')!r}, this run uses {backend!r}"
        )
    session = resumed[0]["session"] if resumed else os.urandom(12).hex()
    rounds = Rounds(transport, params, progress)
    return _Run(
        transport, config, params, backend, banks, ck_dir, resumed, session, rounds, progress
    )


def _init_banks(run: _Run) -> dict[str, InitReply]:
    """``homo.init`` to every bank; their layouts must agree."""
    config, params = run.config, run.params
    feats = params.features or (config.experiment.features or {}).get(run.banks[0])
    reqs = {}
    for b in run.banks:
        spec = config.party(b)
        req = InitRequest(
            run_id=run.run_id,
            role=spec.role.value,
            id_column=config.experiment.id_column,
            label=spec.label or "",
            seed=run.seed,
            features=list(feats) if feats else None,
            params=params.model_dump_json(),
            backend=run.backend,
            session=run.session,
            kind=model_kind(run.algorithm),
            resume=run.resumed is not None,
            contract=spec.contract().to_json(),
            min_cell=config.min_cell,
            authorization=config.experiment.authorization,
            as_of=config.experiment.as_of or "",
            authorizations=str(spec.authorizations or ""),
            sample_ids=str(spec.sample_ids or ""),
            date_column=spec.date_column,
            observation_start=_iso(spec.observation_start),
            observation_end=_iso(spec.observation_end),
            default_rule=rule_json(spec.default_rule),
            audit_receipt=spec.audit_receipt or "",
            run_authorization=spec.run_authorization or "",
        )
        reqs[b] = (INIT, req.to_payload())
    replies, _ = run.rounds.ask(reqs, allow_drop=False)
    note_data_warnings(run.transport.log, {b: r.payload for b, r in replies.items()})
    init = {b: InitReply.from_payload(r.payload) for b, r in replies.items()}
    layouts = {b: r.layout for b, r in init.items()}
    if len(set(layouts.values())) != 1:
        raise DataValidationError(
            f"banks encode different feature layouts {layouts}; every "
            "bank must hold the same columns",
            hint="Name the shared columns in params.features and text "
            "columns with differing categories in params.categorical.",
        )
    return init


def _deal_keys(run: _Run, init: dict[str, InitReply], extras: dict[str, Payload]) -> bytes:
    """ckks: the public context (the dealer's, relayed; or the checkpoint's on resume)."""
    banks = run.banks
    if run.resumed is not None:
        lacking = [b for b in banks if not init[b].has_key]
        if lacking:
            raise ProtocolError(
                f"cannot resume: bank(s) {lacking} hold no CKKS key of session {run.session}",
                hint="Start without resume.",
            )
        assert run.ck_dir is not None
        return load_public_context(run.ck_dir)
    dealer, others = banks[0], banks[1:]
    kr, _ = run.rounds.ask(
        {dealer: (KEYS, {"peers": others, "peer_pubs": [init[o].dh_pub for o in others]})},
        allow_drop=False,
    )
    public_ctx = bytes(kr[dealer].payload["public_context"])
    for o in others:
        extras[o][SEALED] = bytes(kr[dealer].payload[f"sealed.{o}"])
    if run.ck_dir is not None:
        save_public_context(run.ck_dir, public_ctx)
    return public_ctx


def _secure_round(
    run: _Run, init: dict[str, InitReply], observe: Callable[[Any], None] | None
) -> SecureRound:
    """The protected aggregation of this run's backend (keys dealt, peers introduced)."""
    banks, params = run.banks, run.params
    extras: dict[str, Payload] = {b: {} for b in banks}  # delivered until the bank answers
    public_ctx = _deal_keys(run, init, extras) if run.backend == "ckks" else None
    if run.backend == "masked":
        for b in banks:
            extras[b].update(peers=banks, peer_pubs=[init[p].dh_pub for p in banks])
    aggregator = Aggregator(run.backend, public_ctx, observe=observe)
    secure_mean = None
    if run.backend == "secaggplus":
        secure_mean = SecAggPlusAggregator(
            channel_for(run.transport, params.round_timeout),
            params.secaggplus,
            timeout=params.round_timeout,
            log=run.transport.log,
            progress=run.progress,
        )
    return SecureRound(run.rounds, params, aggregator, secure_mean, extras)


def _global_stats(run: _Run, sr: SecureRound, exps: np.ndarray) -> list[str]:
    """``homo.stats``: the protected sum, delivered to every bank with its next request."""
    n_stats = 1 + 2 * exps.size
    stats_agg, stats_dropped, _ = sr.run(
        STATS, run.banks, {b: {"exps": exps} for b in run.banks}, 0, n_stats
    )
    stats_value = payload_value(run.backend, stats_agg)
    for b in run.banks:
        sr.extras[b][STATS_AGG] = stats_value
    return stats_dropped


def _train_rounds(run: _Run, sr: SecureRound, n_par: int) -> tuple[Any, list[dict[str, Any]]]:
    """FedAvg rounds from the first one not yet done; (last aggregate, per-round facts)."""
    params, backend, log = run.params, run.backend, run.transport.log
    start, agg = 0, None
    if run.resumed is not None:
        start, agg = int(run.resumed[0]["round"]) + 1, run.resumed[1]
    per_round: list[dict[str, Any]] = []
    for rnd in range(start, params.rounds):
        members = sample_banks(run.banks, params, run.seed, rnd)
        run.progress("round", {"round": rnd, "sampled": members})
        mark, t_r = len(log.messages), time.perf_counter()
        pl: dict[str, Payload] = {}
        for b in members:
            pl[b] = {"round": rnd}
            if agg is not None:
                pl[b].update({AGG: payload_value(backend, agg), AGG_ROUND: rnd - 1})
        total, dropped, replies = sr.run(TRAIN, members, pl, rnd + 1, n_par + 2)
        run.note_losses(replies)
        if backend != "ckks":  # the coordinator knows the aggregate anyway
            tv = np.asarray(total, dtype=np.float64)
            run.losses[rnd] = float(tv[n_par + 1] / tv[n_par])
        agg = total
        nbytes = sum(m.nbytes for m in log.messages[mark:])
        per_round.append(
            {
                "round": rnd,
                "sampled": members,
                "dropped": dropped,
                "bytes": nbytes,
                "seconds": round(time.perf_counter() - t_r, 4),
            }
        )
        if run.ck_dir is not None:
            ck = {"session": run.session, "round": rnd, "backend": backend}
            save_checkpoint(run.ck_dir, {**ck, "algorithm": run.algorithm, "n_params": n_par}, agg)
        loss = run.losses.get(rnd - 1 if backend == "ckks" else rnd)
        run.progress("epoch", {"epoch": rnd, "loss": loss})
    return agg, per_round


def _evaluate(run: _Run, sr: SecureRound, agg: Any) -> tuple[dict[str, EvaluateReply], list[str]]:
    """``homo.evaluate`` with the final aggregate; (replies, dropped banks)."""
    if agg is None:
        raise ProtocolError("no round was trained (rounds already complete in the checkpoint?)")
    value = payload_value(run.backend, agg)
    reqs = {
        b: (EVALUATE, {**sr.extras[b], AGG: value, AGG_ROUND: run.params.rounds - 1})
        for b in run.banks
    }
    ev, ev_dropped = run.rounds.ask(reqs, allow_drop=True, timeout=run.params.round_timeout)
    run.note_losses(ev)
    return {b: EvaluateReply.from_payload(r.payload) for b, r in ev.items()}, ev_dropped


def _metrics(
    run: _Run,
    n_par: int,
    per_round: list[dict[str, Any]],
    ev: dict[str, EvaluateReply],
    dropped: dict[str, list[str]],
    auc_ks: tuple[float, float],
) -> dict[str, Any]:
    params = run.params
    auc, ks = auc_ks
    round_bytes = [r["bytes"] for r in per_round]
    start = int(run.resumed[0]["round"]) + 1 if run.resumed is not None else 0
    metrics: dict[str, Any] = {
        "algorithm": run.algorithm,
        "backend": run.backend,
        "auc": auc,
        "ks": ks,
        "n_banks": len(run.banks),
        "n_train": int(sum(r.n_train for r in ev.values())),
        "n_valid": int(sum(r.n_valid for r in ev.values())),
        "bank_auc": {b: r.auc for b, r in sorted(ev.items())},
        "bank_n_valid": {b: r.n_valid for b, r in sorted(ev.items())},
        "rounds": params.rounds,
        "rounds_run": len(per_round),
        "resumed_from_round": (start - 1) if run.resumed else None,
        "local_epochs": params.local_epochs,
        "loss": [run.losses.get(r) for r in range(params.rounds)],
        "n_params": n_par,
        "per_round": per_round,
        "bytes_per_round": float(np.mean(round_bytes)) if round_bytes else 0.0,
        "seconds_per_round": float(np.mean([r["seconds"] for r in per_round]))
        if per_round
        else 0.0,
        "stats_dropped": dropped["stats"],
        "evaluate_dropped": dropped["evaluate"],
        "exchanges": run.rounds.exchanges,
        "seconds": {k: round(v, 4) for k, v in run.seconds.items()},
    }
    if run.backend == "secaggplus":
        metrics["secaggplus"] = params.secaggplus.model_dump()
    return metrics


def _summary(run: _Run, n_par: int) -> dict[str, Any]:
    holds = "ciphertexts only" if run.backend == "ckks" else "the aggregate"
    return {
        "algorithm": run.algorithm,
        "backend": run.backend,
        "n_params": n_par,
        "banks": run.banks,
        "model_file": MODEL_FILE,
        "note": "every bank holds the global model in its own work dir; the "
        "coordinator holds " + holds,
    }


def drive(
    transport: Transport,
    config: ExperimentConfig,
    *,
    progress: ProgressFn = no_progress,
    observe: Callable[[Any], None] | None = None,
) -> ProtocolResult:
    """Run FedAvg over every bank of ``config``; each bank saves the global model.

    ``observe`` (tests) is called with every object the coordinator's CKKS aggregation holds.
    """
    run = _plan(transport, config, progress)
    t = time.perf_counter()
    progress("phase", {"phase": "setup"})
    init = _init_banks(run)
    n_par = init[run.banks[0]].n_params
    exps = np.max([init[b].exps for b in run.banks], axis=0)
    sr = _secure_round(run, init, observe)
    stats_dropped = _global_stats(run, sr, exps)
    run.seconds["setup"] = time.perf_counter() - t
    progress("phase", {"phase": "train"})
    t = time.perf_counter()
    agg, per_round = _train_rounds(run, sr, n_par)
    run.seconds["train"] = time.perf_counter() - t
    progress("phase", {"phase": "evaluate"})
    t = time.perf_counter()
    ev, ev_dropped = _evaluate(run, sr, agg)
    auc, ks = auc_ks_from_histogram(np.asarray(sum(r.hist for r in ev.values())))
    run.seconds["evaluate"] = time.perf_counter() - t
    dropped = {"stats": stats_dropped, "evaluate": ev_dropped}
    metrics = _metrics(run, n_par, per_round, ev, dropped, (auc, ks))
    progress("homo.done", {"auc": auc, "ks": ks})
    return ProtocolResult(metrics=metrics, model_summary=_summary(run, n_par))


__all__ = ["drive"]
