"""The bank's handlers of horizontal FedAvg (``homo.*``), and the tests' train hook.

What leaves each bank, message by message (``homo.init``, ``homo.stats``, ``homo.train``,
``homo.unmask``, ``homo.evaluate``), is listed in the package docstring
(:mod:`federation.homo`) and docs/protocols/homo_ckks.md: public keys, column counts and
scales, protected sums and model vectors, and (score bin, label) counts of held-out rows;
``homo.init`` adds the bank's data warnings when it has any (names of constant or
all-missing columns and its row count, :func:`federation.partydata.data_warnings`).
The bank saves the global model in its own work dir.

The bank learns the global statistics, the global model of every round it takes part in
and the loss of each aggregate; it never sees another bank's vector.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from crypto.atomic import atomic_write_text
from crypto.errors import DataValidationError, ProtocolError
from features.disclosure import require_min_cell
from features.metrics import auc, logit_histogram
from federation.homo.ckks import (
    dropout_correction,
    new_shared_context,
    open_sealed,
    pair_seed,
    seal,
    x25519_keypair,
)
from federation.homo.data import (
    BankData,
    bank_seed,
    cached_bank_data,
    holdout_split,
    magnitudes,
    stats_from_sum,
    stats_vector,
)
from federation.homo.keys import key_path, remember, save_key, seal_info
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
    UNMASK,
    EvaluateReply,
    InitReply,
    InitRequest,
)
from federation.homo.models import (
    ModelSpec,
    build_model,
    flat_params,
    load_flat,
    predict_proba,
    train_local,
)
from federation.homo.params import WEIGHT_UNIT, HomoParams, model_spec, train_config
from federation.homo.protection import protect, reveal
from federation.homo.state import STATE_KEY, BankState, bank_state, standardization
from federation.party import PartyContext, register
from federation.partydata import party_k, setup_party, warnings_field
from federation.transport import Payload

MODEL_FILE = "homo_model.json"

#: tests: called at a bank with (bank, round, plaintext update vector) after local training
_TRAIN_HOOK: Callable[[str, int, np.ndarray], None] | None = None


def set_train_hook(fn: Callable[[str, int, np.ndarray], None] | None) -> None:
    global _TRAIN_HOOK
    _TRAIN_HOOK = fn


def _absorb(ctx: PartyContext, st: BankState, payload: Payload) -> None:
    """Take what the coordinator delivers once: sealed key, peers' keys, global statistics."""
    if SEALED in payload and st.backend == "ckks":
        secret = open_sealed(
            st.dh_priv, st.dh_pub, bytes(payload[SEALED]), info=seal_info(st.session, ctx.name)
        )
        save_key(ctx, st.session, secret)
    if "peers" in payload and st.backend == "masked":
        peers = [str(p) for p in payload["peers"]]
        pubs = [bytes(p) for p in payload["peer_pubs"]]
        st.seeds = {
            p: pair_seed(st.dh_priv, k, me=ctx.name, peer=p, run=st.run)
            for p, k in zip(peers, pubs, strict=False)
            if p != ctx.name
        }
    if STATS_AGG in payload and st.mean is None:
        st.mean, st.std = stats_from_sum(reveal(ctx, st, payload[STATS_AGG]), st.exps)


def _apply_global(ctx: PartyContext, st: BankState, payload: Payload) -> None:
    if AGG not in payload:
        return
    total = reveal(ctx, st, payload[AGG])
    weight = total[st.n_params]
    if not weight > 0:
        raise ProtocolError(f"bank {ctx.name!r}: aggregate carries no weight")
    st.model = total[: st.n_params] / weight
    st.global_loss = float(total[st.n_params + 1] / weight)
    st.global_round = int(payload.get(AGG_ROUND, -1))


def _prev_loss(st: BankState) -> Payload:
    """The loss of the previous aggregate, for the reply (once the bank has one)."""
    if st.global_loss is None:
        return {}
    return {"prev_loss": st.global_loss, "prev_round": st.global_round}


def _inputs(
    ctx: PartyContext, st: BankState, d: BankData, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    mean, std = standardization(ctx, st)
    return (d.xnum[rows] - mean) / std, d.xcat[rows]


def _spec(st: BankState, d: BankData) -> ModelSpec:
    return model_spec(st.kind, d.xnum.shape[1], d.xcat.shape[1], st.params)


def _check_rows(ctx: PartyContext, d: BankData) -> None:
    if not np.all(np.isin(d.y, (0.0, 1.0))) or len(np.unique(d.y)) < 2:
        raise DataValidationError(f"bank {ctx.name!r}: the label must be 0/1 with both classes")
    if not np.all(np.isfinite(d.xnum)):
        raise DataValidationError(
            f"bank {ctx.name!r}: numeric columns hold missing values after encoding"
        )


@register(INIT)
def _init(ctx: PartyContext, payload: Payload) -> Payload:
    setup = setup_party(ctx, payload)
    req = InitRequest.from_payload(payload)
    params = HomoParams.model_validate_json(req.params)
    priv, pub = x25519_keypair()
    d = cached_bank_data(ctx, req.run_id, params)
    _check_rows(ctx, d)
    train, valid = holdout_split(d.y, params.valid_fraction, bank_seed(setup.seed, ctx.name, 0))
    require_min_cell(  # this bank's sizes, AUC and loss leave it: refused before training
        {"n_train": int(train.size), "n_valid": int(valid.size)},
        party_k(ctx),
        where=f"bank {ctx.name!r} split",
    )
    spec = model_spec(req.kind, d.xnum.shape[1], d.xcat.shape[1], params)
    init = flat_params(build_model(spec, seed=setup.seed))
    st = BankState(
        run=req.run_id,
        session=req.session,
        backend=req.backend,
        params=params,
        kind=req.kind,
        seed=setup.seed,
        dh_priv=priv,
        dh_pub=pub,
        train=train,
        valid=valid,
        exps=magnitudes(d.xnum[train]),
        n_params=int(init.size),
        model=init,
    )
    ctx.state[STATE_KEY] = st
    has_key = key_path(ctx, st.session).is_file() if st.backend == "ckks" and req.resume else None
    reply = InitReply(pub, d.layout_hash(params.buckets), st.n_params, st.exps, has_key)
    return {**reply.to_payload(), **warnings_field(ctx)}


@register(KEYS)
def _keys(ctx: PartyContext, payload: Payload) -> Payload:
    """The key dealer: create the shared CKKS context, seal it to every other bank."""
    st = bank_state(ctx)
    sc = new_shared_context(st.params.ckks_profile)
    secret = sc.to_bytes(secret=True)
    save_key(ctx, st.session, secret)
    remember(ctx, st.session, sc)
    out: Payload = {"public_context": sc.to_bytes()}
    for peer, pub in zip(payload["peers"], payload["peer_pubs"], strict=False):
        out[f"sealed.{peer}"] = seal(bytes(pub), secret, info=seal_info(st.session, str(peer)))
    return out


@register(STATS)
def _stats(ctx: PartyContext, payload: Payload) -> Payload:
    st = bank_state(ctx)
    _absorb(ctx, st, payload)
    st.exps = np.asarray(payload["exps"], dtype=np.int64)
    d = cached_bank_data(ctx, st.run, st.params)
    vec = stats_vector(d.xnum[st.train], st.exps)
    members = [str(p) for p in payload["participants"]]
    return protect(ctx, st, vec, 0, members, weight_at=0)


@register(TRAIN)
def _train(ctx: PartyContext, payload: Payload) -> Payload:
    """Apply the last aggregate, train locally, return the protected weighted update."""
    st = bank_state(ctx)
    _absorb(ctx, st, payload)
    standardization(ctx, st)  # refuses to train before the global statistics
    _apply_global(ctx, st, payload)
    rnd = int(payload["round"])
    d = cached_bank_data(ctx, st.run, st.params)
    xz, xc = _inputs(ctx, st, d, st.train)
    model = build_model(_spec(st, d), seed=st.seed)
    load_flat(model, st.model)
    loss = train_local(
        model,
        xz,
        xc,
        d.y[st.train],
        train_config(st.params),
        seed=bank_seed(st.seed, ctx.name, 1, rnd),
        prox_ref=st.model,
    )
    n_w = st.train.size / WEIGHT_UNIT
    vec = np.concatenate([n_w * flat_params(model), [n_w, n_w * loss]])
    members = [str(p) for p in payload["participants"]]
    out = protect(ctx, st, vec, rnd + 1, members, weight_at=st.n_params)
    out.update(_prev_loss(st))  # the aggregate of the previous round
    if _TRAIN_HOOK is not None:
        _TRAIN_HOOK(ctx.name, rnd, vec)
    return out


@register(UNMASK)
def _unmask(ctx: PartyContext, payload: Payload) -> Payload:
    """masked: this survivor's masks with the banks that dropped out of a round."""
    st = bank_state(ctx)
    dropped = [str(p) for p in payload["dropped"]]
    if ctx.name in dropped:
        raise ProtocolError(f"bank {ctx.name!r} was asked to unmask its own dropout")
    return {
        "correction": dropout_correction(
            st.seeds,
            me=ctx.name,
            dropped=dropped,
            round_no=int(payload["round_no"]),
            n=int(payload["n"]),
        )
    }


def _save_model(ctx: PartyContext, st: BankState, d: BankData, spec: ModelSpec) -> None:
    """The global model as this bank's model piece, in its own work dir."""
    mean, std = standardization(ctx, st)
    piece = {
        "algorithm": "homo_" + ("lr" if st.kind == "lr" else "nn"),
        "backend": st.backend,
        "spec": {
            "kind": spec.kind,
            "n_numeric": spec.n_numeric,
            "cat_buckets": list(spec.cat_buckets),
            "embedding_dim": spec.embedding_dim,
            "hidden": list(spec.hidden),
        },
        "numeric": d.numeric_names,
        "categorical": d.categorical,
        "mean": mean.tolist(),
        "std": std.tolist(),
        "params": st.model.tolist(),
    }
    atomic_write_text(Path(ctx.work_dir) / MODEL_FILE, json.dumps(piece))


@register(EVALUATE)
def _evaluate(ctx: PartyContext, payload: Payload) -> Payload:
    """Apply the final aggregate, score the held-out rows, save the global model."""
    st = bank_state(ctx)
    _absorb(ctx, st, payload)
    _apply_global(ctx, st, payload)
    d = cached_bank_data(ctx, st.run, st.params)
    spec = _spec(st, d)
    model = build_model(spec, seed=st.seed)
    load_flat(model, st.model)
    xz, xc = _inputs(ctx, st, d, st.valid)
    yv = d.y[st.valid]
    p = predict_proba(model, xz, xc)
    _save_model(ctx, st, d, spec)
    if bool(payload.get("final", True)):  # the run is over: the shared key goes
        key_path(ctx, st.session).unlink(missing_ok=True)
    if np.unique(yv).size != 2:
        raise ProtocolError("held-out rows hold one class only; AUC is undefined")
    reply = EvaluateReply(
        hist=logit_histogram(yv, p, st.params.score_bins),
        auc=auc(yv, p),
        n_valid=int(yv.size),
        n_train=int(st.train.size),
    )
    return {**reply.to_payload(), **_prev_loss(st)}


__all__ = ["MODEL_FILE", "set_train_hook"]
