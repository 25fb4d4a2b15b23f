"""Horizontal FedAvg across banks (``homo_lr`` / ``homo_nn``) with protected aggregation.

Every bank holds the same indicators for its own borrowers (each party is a ``guest`` with
its own label). The coordinator drives FedAvg rounds and only ever sums protected vectors;
message by message, see docs/protocols/homo_ckks.md.

What leaves each bank, and to whom (everything travels through the coordinator):

1. ``homo.init``: an X25519 public key, its number of feature columns, a hash of the
   feature layout, and per numeric column the decimal order of magnitude of its largest
   absolute value (a coarse public scale for the statistics of step 3).
2. ``ckks`` only, the key dealer (first bank by name): the public CKKS context (to the
   coordinator) and the secret context sealed to each other bank's X25519 key (opaque to
   the coordinator; opened by that bank only).
3. ``homo.stats``: the bank's training-row count and the sums of its scaled numeric columns
   and of their squares, protected by the backend; the coordinator returns the protected
   sum, from which every bank derives the same global mean and standard deviation.
4. ``homo.train`` per round (sampled banks): the vector
   ``[n_k/U * theta_k, n_k/U, n_k/U * loss_k]`` (``U`` = 1000 rows) protected by the
   backend: ``ckks`` ciphertext bytes, ``masked`` pairwise-masked uint64, ``plaintext`` as
   is. The coordinator sums the round's vectors and sends the sum with the next request;
   banks divide by the summed weight (dropouts re-normalise by construction).
   ``masked`` with dropouts: survivors send their masks with the dropped banks.
   ``secaggplus``: the reply carries nothing; the coordinator then runs Flower's SecAgg+
   (``federation.homo_secaggplus``) over the answering banks, which yields the weighted
   mean of ``[theta_k, 1, loss_k]`` (weights ``n_k``) instead of the sum.
5. ``homo.evaluate``: per bank, counts of (score bin, label) on its held-out rows, its AUC
   and its held-out size; the coordinator pools the counts into the global AUC and KS.

With ``ckks`` the coordinator holds the public context and ciphertexts only: it never sees
a model, an update, a row count or a loss of any bank (it sees how many banks answered).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crypto.errors import ConfigError, DataValidationError, PartyUnavailableError, ProtocolError
from federation.config import ExperimentConfig
from federation.homo_secaggplus import SecAggPlusParams
from federation.party import PartyContext, register
from federation.protocol import ProgressFn, ProtocolResult, no_progress
from federation.transport import Envelope, Payload, Transport

ALGORITHMS = ("homo_lr", "homo_nn")
BACKENDS = ("ckks", "plaintext", "masked", "secaggplus")
#: updates are weighted by n_k / WEIGHT_UNIT (keeps CKKS values well inside their bound)
WEIGHT_UNIT = 1000.0
MODEL_FILE = "homo_model.json"
CHECKPOINT_FILE = "homo_checkpoint.json"
_STATE = "homo"
_KEY_DIR = "homo_keys"
_LOGIT_CLIP = 12.0
#: |[1, mean z, mean z^2]| <= 1 for the statistics (z = x / 10^c with 10^c >= max |x|)
STATS_BOUND = 1.0


class HomoParams(BaseModel):
    """``[params]`` of a ``homo_lr`` / ``homo_nn`` experiment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rounds: int = Field(10, ge=1, le=100_000)
    local_epochs: int = Field(1, ge=1)
    batch_size: int = Field(128, description="-1 = full batch")
    learning_rate: float = Field(0.05, gt=0)
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    mu: float = Field(0.0, ge=0, description="FedProx proximal weight (0 = FedAvg)")
    fraction: float = Field(1.0, gt=0, le=1, description="share of banks sampled per round")
    min_clients: int = Field(1, ge=1, description="fewest answering banks a round accepts")
    valid_fraction: float = Field(0.2, gt=0, lt=1)
    features: list[str] | None = None
    categorical: list[str] = Field(default_factory=list)
    buckets: int = Field(64, ge=2, description="hash buckets per categorical column")
    embedding_dim: int = Field(4, ge=1)
    hidden: list[int] = Field(default_factory=lambda: [32, 16])
    aggregation: Literal["ckks", "plaintext", "masked", "secaggplus"] | None = None
    secaggplus: SecAggPlusParams = Field(default_factory=SecAggPlusParams)
    ckks_profile: str = "aggregate"
    round_timeout: float | None = Field(None, gt=0)
    checkpoint_dir: str | None = None
    resume: bool = False
    score_bins: int = Field(2400, ge=10)


def parse_params(raw: dict[str, Any]) -> HomoParams:
    try:
        return HomoParams.model_validate(raw)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid homo [params]: {errs}") from None


def resolve_backend(config: ExperimentConfig, params: HomoParams) -> str:
    """``params.aggregation`` (kept for older configs) wins over ``experiment.backend``."""
    name = params.aggregation or config.experiment.backend
    if name not in BACKENDS:
        raise ConfigError(
            f"homo experiments aggregate with one of {list(BACKENDS)}, not {name!r}",
            hint="Set experiment.backend = 'ckks' (or 'secaggplus' "
            "for Flower's SecAgg+, 'masked' for single pairwise masks, "
            "'plaintext' for benchmarks).",
        )
    return name


def model_kind(algorithm: str) -> str:
    return "lr" if algorithm == "homo_lr" else "mlp"


# ---------------------------------------------------------------------------------------
# local data (shared with the centralized reference in tests and benchmarks)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BankData:
    """One bank's rows as model inputs (raw numeric, hashed categorical codes, label)."""

    xnum: np.ndarray
    xcat: np.ndarray
    y: np.ndarray
    numeric_names: list[str]
    categorical: list[str]

    def layout_hash(self, buckets: int) -> str:
        text = json.dumps([self.numeric_names, self.categorical, buckets])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def hash_codes(values: pd.Series, column: str, buckets: int) -> np.ndarray:
    """Stable bucket of ``column=value`` per row (the same at every bank, no vocabulary)."""
    codes, uniq = pd.factorize(values.astype(str), sort=False)
    table = np.array(
        [
            int.from_bytes(
                hashlib.blake2b(f"{column}={u}".encode(), digest_size=8).digest(), "little"
            )
            % buckets
            for u in uniq
        ],
        dtype=np.int64,
    )
    out = np.where(codes >= 0, table[np.maximum(codes, 0)] if len(table) else 0, 0)
    return out.astype(np.int64)


def bank_data(
    df: pd.DataFrame,
    *,
    id_column: str,
    label: str,
    features: Sequence[str] | None,
    categorical: Sequence[str],
    buckets: int,
) -> BankData:
    """Encode a bank's table: numeric columns via ``party_matrix``, categorical hashed."""
    from features.encoding import party_matrix

    cols = list(features) if features else [c for c in df.columns if c not in (id_column, label)]
    missing = [c for c in [*cols, *categorical] if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"column(s) {missing} named in the homo params are not in "
            f"the bank's table; its columns are {list(df.columns)}"
        )
    cat = [c for c in cols if c in set(categorical)]
    num = [c for c in cols if c not in set(categorical)]
    m = party_matrix(df[[id_column, label, *num]], id_column=id_column, label=label)
    xcat = (
        np.column_stack([hash_codes(df[c], c, buckets) for c in cat])
        if cat
        else np.zeros((len(df), 0), dtype=np.int64)
    )
    assert m.y is not None
    return BankData(
        np.asarray(m.X, dtype=np.float64),
        xcat,
        np.asarray(m.y, dtype=np.float64),
        list(m.feature_names),
        cat,
    )


def bank_seed(seed: int, bank: str, *extra: int) -> int:
    h = hashlib.sha256(json.dumps([int(seed), bank, *map(int, extra)]).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


def holdout_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid) positions: stratified by label, deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    valid = []
    for c in (0.0, 1.0):
        rows = np.flatnonzero(y == c)
        k = int(round(fraction * rows.size))
        valid.append(rng.permutation(rows)[:k])
    va = np.sort(np.concatenate(valid)).astype(np.int64)
    mask = np.ones(len(y), dtype=bool)
    mask[va] = False
    return np.flatnonzero(mask).astype(np.int64), va


def rank_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (ties get average ranks)."""
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ProtocolError("held-out rows hold one class only; AUC is undefined")
    s = np.asarray(score, dtype=np.float64)
    uniq, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
    r = (np.cumsum(counts) - (counts - 1) / 2.0)[inv]  # average rank of ties
    return float((r[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def model_spec(kind: str, n_numeric: int, n_cat: int, params: HomoParams) -> Any:
    from federation.homo_models import ModelSpec

    return ModelSpec(
        kind=kind,
        n_numeric=n_numeric,  # type: ignore[arg-type]
        cat_buckets=tuple([params.buckets] * n_cat),
        embedding_dim=params.embedding_dim,
        hidden=tuple(params.hidden),
    )


def train_config(params: HomoParams, *, epochs: int | None = None) -> Any:
    from federation.homo_models import TrainConfig

    return TrainConfig(
        epochs=epochs or params.local_epochs,
        batch_size=params.batch_size,
        learning_rate=params.learning_rate,
        optimizer=params.optimizer,
        momentum=params.momentum,
        weight_decay=params.weight_decay,
        mu=params.mu,
    )


def magnitudes(x: np.ndarray) -> np.ndarray:
    """Per column, the decimal exponent ``c`` with ``max|x| <= 10^c`` (coarse, public)."""
    top = np.abs(x).max(axis=0, initial=0.0) if x.size else np.zeros(x.shape[1])
    return np.ceil(np.log10(np.maximum(top, 1e-12))).astype(np.int64)


def stats_vector(x: np.ndarray, exps: np.ndarray) -> np.ndarray:
    """``[n/U, sum(z)/U, sum(z^2)/U]`` with ``z = x / 10^exps`` over the training rows."""
    z = x / 10.0**exps
    return np.concatenate([[x.shape[0]], z.sum(axis=0), (z * z).sum(axis=0)]) / WEIGHT_UNIT


def stats_from_sum(total: np.ndarray, exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) from the summed stats vectors (population std; constant column -> 1)."""
    d = exps.size
    n = total[0]
    mz = total[1 : 1 + d] / n
    vz = np.maximum(total[1 + d : 1 + 2 * d] / n - mz * mz, 0.0)
    scale = 10.0**exps
    std = np.sqrt(vz) * scale
    std[~(std > 1e-12 * scale)] = 1.0
    return mz * scale, std


# ---------------------------------------------------------------------------------------
# bank side
# ---------------------------------------------------------------------------------------

_DATA: OrderedDict[tuple[str, str], BankData] = OrderedDict()


def _st(ctx: PartyContext) -> dict[str, Any]:
    st = ctx.state.get(_STATE)
    if st is None:
        raise ProtocolError(
            f"bank {ctx.name!r}: homo message before homo.init", hint="Restart the training run."
        )
    return st  # type: ignore[no-any-return]


def _params(st: dict[str, Any]) -> HomoParams:
    return HomoParams.model_validate_json(st["params"])


def _data(ctx: PartyContext, st: dict[str, Any]) -> BankData:
    key = (ctx.name, st["run"])
    d = _DATA.get(key)
    if d is None:
        from federation.partydata import load_table, party_setup

        setup = party_setup(ctx)
        p = _params(st)
        d = bank_data(
            load_table(ctx),
            id_column=setup.id_column,
            label=setup.label,
            features=p.features,
            categorical=p.categorical,
            buckets=p.buckets,
        )
        _DATA[key] = d
        while len(_DATA) > 16:
            _DATA.popitem(last=False)
    return d


def _key_path(ctx: PartyContext, session: str) -> Path:
    """A training session can span runs (``resume``): on a SuperNode its key lives in the
    node's own work dir, not in one run's folder."""
    return Path(ctx.home or ctx.work_dir) / _KEY_DIR / f"{session}.ckks"


def _save_key(ctx: PartyContext, session: str, secret: bytes) -> None:
    path = _key_path(ctx, session)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret)
    os.replace(tmp, path)


def _secret_ctx(ctx: PartyContext, st: dict[str, Any]) -> Any:
    from crypto.ckks import CkksContext

    key = ("homo_ckks", st["session"])
    sc = ctx.cache.get(key)
    if sc is None:
        path = _key_path(ctx, st["session"])
        if not path.is_file():
            raise ProtocolError(
                f"bank {ctx.name!r} holds no CKKS key for training session {st['session']}",
                hint="Start the training without resume.",
            )
        sc = CkksContext.from_bytes(path.read_bytes())
        ctx.cache[key] = sc
    return sc


def _info(st: dict[str, Any], bank: str) -> bytes:
    return f"fedlab/homo/ckks-key|{st['session']}|{bank}".encode()


def _protect(
    ctx: PartyContext,
    st: dict[str, Any],
    vec: np.ndarray,
    round_no: int,
    participants: Sequence[str],
    weight_at: int,
) -> Payload:
    """The reply carrying ``vec`` (whose slot ``weight_at`` holds ``n/U``) for the backend.

    secaggplus: ``vec / (n/U)`` waits at the bank for SecAgg+; the statistics (round 0) are
    known to lie in [-1, 1] and use the whole quantization range (:data:`STATS_BOUND`).
    """
    backend = st["backend"]
    if backend == "ckks":
        from federation.homo_ckks import encrypt_update

        return {"update": encrypt_update(_secret_ctx(ctx, st), vec)}
    if backend == "secaggplus":  # nothing leaves now; SecAgg+ asks for it next
        from federation.homo_secaggplus import stash_update

        w = float(vec[weight_at])
        stash_update(
            ctx.state,
            ctx.name,
            round_no,
            vec / w,
            int(round(w * WEIGHT_UNIT)),
            _params(st).secaggplus,
            bound=STATS_BOUND if round_no == 0 else None,
        )
        return {}
    if backend == "masked":
        from federation.homo_ckks import mask_update

        return {
            "update": mask_update(
                vec, st["seeds"], me=ctx.name, participants=participants, round_no=round_no
            )
        }
    return {"update": np.asarray(vec, dtype=np.float64)}


def _reveal(ctx: PartyContext, st: dict[str, Any], payload: Payload, key: str) -> np.ndarray:
    if st["backend"] == "ckks":
        from federation.homo_ckks import decrypt_aggregate

        return decrypt_aggregate(_secret_ctx(ctx, st), bytes(payload[key]))
    return np.asarray(payload[key], dtype=np.float64)


def _absorb(ctx: PartyContext, st: dict[str, Any], payload: Payload) -> None:
    """Take what the coordinator delivers once: sealed key, peers' keys, global statistics."""
    if "sealed" in payload and st["backend"] == "ckks":
        from federation.homo_ckks import open_sealed

        secret = open_sealed(
            st["dh_priv"], st["dh_pub"], bytes(payload["sealed"]), info=_info(st, ctx.name)
        )
        _save_key(ctx, st["session"], secret)
    if "peers" in payload and st["backend"] == "masked":
        from federation.homo_ckks import pair_seed

        peers = [str(p) for p in payload["peers"]]  # type: ignore[union-attr]
        pubs = [bytes(p) for p in payload["peer_pubs"]]  # type: ignore[union-attr]
        st["seeds"] = {
            p: pair_seed(st["dh_priv"], k, me=ctx.name, peer=p, run=st["run"])
            for p, k in zip(peers, pubs, strict=False)
            if p != ctx.name
        }
    if "stats_agg" in payload and "mean" not in st:
        mean, std = stats_from_sum(_reveal(ctx, st, payload, "stats_agg"), st["exps"])
        st["mean"], st["std"] = mean, std


def _apply_global(st: dict[str, Any], payload: Payload, ctx: PartyContext) -> None:
    if "agg" not in payload:
        return
    total = _reveal(ctx, st, payload, "agg")
    n_par = st["n_params"]
    weight = total[n_par]
    if not weight > 0:
        raise ProtocolError(f"bank {ctx.name!r}: aggregate carries no weight")
    st["global"] = total[:n_par] / weight
    st["global_loss"] = float(total[n_par + 1] / weight)
    st["global_round"] = int(payload.get("agg_round", -1))


def _xz(ctx: PartyContext, st: dict[str, Any], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = _data(ctx, st)
    return (d.xnum[rows] - st["mean"]) / st["std"], d.xcat[rows]


@register("homo.init")
def _init(ctx: PartyContext, payload: Payload) -> Payload:
    from federation.homo_ckks import x25519_keypair
    from federation.partydata import setup_party

    setup = setup_party(ctx, payload)
    params = HomoParams.model_validate_json(str(payload["params"]))
    priv, pub = x25519_keypair()
    st: dict[str, Any] = {
        "run": str(payload["run_id"]),
        "session": str(payload["session"]),
        "backend": str(payload["backend"]),
        "params": params.model_dump_json(),
        "kind": str(payload["kind"]),
        "seed": setup.seed,
        "dh_priv": priv,
        "dh_pub": pub,
    }
    ctx.state[_STATE] = st
    d = _data(ctx, st)
    if not np.all(np.isin(d.y, (0.0, 1.0))) or len(np.unique(d.y)) < 2:
        raise DataValidationError(f"bank {ctx.name!r}: the label must be 0/1 with both classes")
    if not np.all(np.isfinite(d.xnum)):
        raise DataValidationError(
            f"bank {ctx.name!r}: numeric columns hold missing values after encoding"
        )
    train, valid = holdout_split(d.y, params.valid_fraction, bank_seed(setup.seed, ctx.name, 0))
    st.update(train=train, valid=valid, exps=magnitudes(d.xnum[train]))
    spec = model_spec(st["kind"], d.xnum.shape[1], d.xcat.shape[1], params)
    from federation.homo_models import build_model, flat_params

    init = flat_params(build_model(spec, seed=setup.seed))
    st["n_params"] = int(init.size)
    st["global"] = init
    reply: Payload = {
        "dh_pub": pub,
        "layout": d.layout_hash(params.buckets),
        "n_params": int(init.size),
        "exps": st["exps"],
    }
    if st["backend"] == "ckks" and bool(payload.get("resume", False)):
        reply["has_key"] = _key_path(ctx, st["session"]).is_file()
    return reply


@register("homo.keys")
def _keys(ctx: PartyContext, payload: Payload) -> Payload:
    """The key dealer: create the shared CKKS context, seal it to every other bank."""
    from federation.homo_ckks import new_shared_context, seal

    st = _st(ctx)
    sc = new_shared_context(_params(st).ckks_profile)
    secret = sc.to_bytes(secret=True)
    _save_key(ctx, st["session"], secret)
    ctx.cache[("homo_ckks", st["session"])] = sc
    out: Payload = {"public_context": sc.to_bytes()}
    for peer, pub in zip(payload["peers"], payload["peer_pubs"], strict=False):  # type: ignore[arg-type]
        out[f"sealed.{peer}"] = seal(bytes(pub), secret, info=_info(st, str(peer)))
    return out


@register("homo.stats")
def _stats(ctx: PartyContext, payload: Payload) -> Payload:
    st = _st(ctx)
    _absorb(ctx, st, payload)
    st["exps"] = np.asarray(payload["exps"], dtype=np.int64)
    d = _data(ctx, st)
    vec = stats_vector(d.xnum[st["train"]], st["exps"])
    members = [str(p) for p in payload["participants"]]  # type: ignore[union-attr]
    return _protect(ctx, st, vec, 0, members, weight_at=0)


@register("homo.train")
def _train(ctx: PartyContext, payload: Payload) -> Payload:
    """Apply the last aggregate, train locally, return the protected weighted update."""
    from federation.homo_models import build_model, flat_params, load_flat, train_local

    st = _st(ctx)
    _absorb(ctx, st, payload)
    if "mean" not in st:
        raise ProtocolError(f"bank {ctx.name!r}: no global statistics before training")
    _apply_global(st, payload, ctx)
    params = _params(st)
    rnd = int(payload["round"])
    d = _data(ctx, st)
    xz, xc = _xz(ctx, st, st["train"])
    spec = model_spec(st["kind"], d.xnum.shape[1], d.xcat.shape[1], params)
    model = build_model(spec, seed=st["seed"])
    load_flat(model, st["global"])
    loss = train_local(
        model,
        xz,
        xc,
        d.y[st["train"]],
        train_config(params),
        seed=bank_seed(st["seed"], ctx.name, 1, rnd),
        prox_ref=st["global"],
    )
    n_w = st["train"].size / WEIGHT_UNIT
    vec = np.concatenate([n_w * flat_params(model), [n_w, n_w * loss]])
    members = [str(p) for p in payload["participants"]]  # type: ignore[union-attr]
    out = _protect(ctx, st, vec, rnd + 1, members, weight_at=st["n_params"])
    if "global_loss" in st:
        out["prev_loss"] = st["global_loss"]  # the aggregate of the previous round
        out["prev_round"] = st["global_round"]
    if _TRAIN_HOOK is not None:
        _TRAIN_HOOK(ctx.name, rnd, vec)
    return out


@register("homo.unmask")
def _unmask(ctx: PartyContext, payload: Payload) -> Payload:
    """masked: this survivor's masks with the banks that dropped out of a round."""
    from federation.homo_ckks import dropout_correction

    st = _st(ctx)
    dropped = [str(p) for p in payload["dropped"]]  # type: ignore[union-attr]
    if ctx.name in dropped:
        raise ProtocolError(f"bank {ctx.name!r} was asked to unmask its own dropout")
    return {
        "correction": dropout_correction(
            st["seeds"],
            me=ctx.name,
            dropped=dropped,
            round_no=int(payload["round_no"]),
            n=int(payload["n"]),
        )
    }


def score_histogram(y: np.ndarray, p: np.ndarray, bins: int) -> np.ndarray:
    """Counts of (logit bin, label): shape (bins, 2); bins span [-12, 12] in logit."""
    p = np.clip(p, 1e-12, 1 - 1e-12)
    z = np.clip(np.log(p / (1 - p)), -_LOGIT_CLIP, _LOGIT_CLIP)
    b = np.minimum(((z + _LOGIT_CLIP) / (2 * _LOGIT_CLIP) * bins).astype(np.int64), bins - 1)
    out = np.zeros((bins, 2), dtype=np.int64)
    np.add.at(out, (b, y.astype(np.int64)), 1)
    return out


def auc_ks_from_histogram(hist: np.ndarray) -> tuple[float, float]:
    """AUC (ties within a bin count one half) and KS from pooled (bin, label) counts."""
    neg, pos = hist[:, 0].astype(np.float64), hist[:, 1].astype(np.float64)
    n_neg, n_pos = neg.sum(), pos.sum()
    if n_neg == 0 or n_pos == 0:
        raise ProtocolError("held-out rows hold one class only; AUC is undefined")
    below = np.cumsum(neg) - neg
    auc = float((pos * (below + 0.5 * neg)).sum() / (n_pos * n_neg))
    ks = float(np.max(np.abs(np.cumsum(pos) / n_pos - np.cumsum(neg) / n_neg)))
    return auc, ks


@register("homo.evaluate")
def _evaluate(ctx: PartyContext, payload: Payload) -> Payload:
    """Apply the final aggregate, score the held-out rows, save the global model."""
    from federation.homo_models import build_model, load_flat, predict_proba

    st = _st(ctx)
    _absorb(ctx, st, payload)
    _apply_global(st, payload, ctx)
    params = _params(st)
    d = _data(ctx, st)
    spec = model_spec(st["kind"], d.xnum.shape[1], d.xcat.shape[1], params)
    model = build_model(spec, seed=st["seed"])
    load_flat(model, st["global"])
    xz, xc = _xz(ctx, st, st["valid"])
    yv = d.y[st["valid"]]
    p = predict_proba(model, xz, xc)
    piece = {
        "algorithm": "homo_" + ("lr" if st["kind"] == "lr" else "nn"),
        "backend": st["backend"],
        "spec": {
            "kind": spec.kind,
            "n_numeric": spec.n_numeric,
            "cat_buckets": list(spec.cat_buckets),
            "embedding_dim": spec.embedding_dim,
            "hidden": list(spec.hidden),
        },
        "numeric": d.numeric_names,
        "categorical": d.categorical,
        "mean": st["mean"].tolist(),
        "std": st["std"].tolist(),
        "params": st["global"].tolist(),
    }
    Path(ctx.work_dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(ctx.work_dir) / f".{MODEL_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(piece), encoding="utf-8")
    os.replace(tmp, Path(ctx.work_dir) / MODEL_FILE)
    if bool(payload.get("final", True)):  # the run is over: the shared key goes
        _key_path(ctx, st["session"]).unlink(missing_ok=True)
    out: Payload = {
        "hist": score_histogram(yv, p, params.score_bins),
        "auc": rank_auc(yv, p),
        "n_valid": int(yv.size),
        "n_train": int(st["train"].size),
    }
    if "global_loss" in st:
        out["prev_loss"], out["prev_round"] = st["global_loss"], st["global_round"]
    return out


#: tests: called at a bank with (bank, round, plaintext update vector) after local training
_TRAIN_HOOK: Callable[[str, int, np.ndarray], None] | None = None


def set_train_hook(fn: Callable[[str, int, np.ndarray], None] | None) -> None:
    global _TRAIN_HOOK
    _TRAIN_HOOK = fn


# ---------------------------------------------------------------------------------------
# coordinator side
# ---------------------------------------------------------------------------------------


def _dropped_from(exc: PartyUnavailableError, asked: Sequence[str]) -> list[str]:
    named = set(re.findall(r"'([^']+)'", str(exc)))
    return [p for p in asked if p in named]


class _Rounds:
    """Exchanges with dropout handling and per-exchange byte accounting."""

    def __init__(self, transport: Transport, params: HomoParams, progress: ProgressFn) -> None:
        self.transport = transport
        self.params = params
        self.progress = progress
        self.exchanges = 0

    def ask(
        self,
        requests: dict[str, tuple[str, Payload]],
        *,
        allow_drop: bool,
        timeout: float | None = None,
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


class _Aggregator:
    """Coordinator-side sum for each backend (CKKS: ciphertexts only)."""

    def __init__(self, backend: str, public_context: bytes | None, observe: Any = None) -> None:
        self.backend = backend
        self.ckks = None
        if backend == "ckks":
            from federation.homo_ckks import CiphertextAggregator

            assert public_context is not None
            self.ckks = CiphertextAggregator(public_context, observe=observe)

    def total(self, updates: list[Any], corrections: list[Any]) -> Any:
        if self.ckks is not None:
            return self.ckks.sum([bytes(u) for u in updates])
        if self.backend == "masked":
            from federation.homo_ckks import unmask_sum

            return unmask_sum([np.asarray(u, dtype=np.uint64) for u in updates], corrections)
        out = np.zeros_like(np.asarray(updates[0], dtype=np.float64))
        for u in updates:
            out += np.asarray(u, dtype=np.float64)
        return out


def _save_checkpoint(folder: Path, ck: dict[str, Any], agg: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    blob = (
        bytes(agg)
        if isinstance(agg, (bytes, bytearray))
        else np.asarray(agg, dtype=np.float64).tobytes()
    )
    agg_name = f"homo_round{ck['round']:05d}.bin"
    tmp = folder / f".{agg_name}.tmp"
    tmp.write_bytes(blob)
    os.replace(tmp, folder / agg_name)
    meta = {**ck, "agg_file": agg_name, "agg_kind": "ckks" if isinstance(agg, bytes) else "f64"}
    tmp = folder / f".{CHECKPOINT_FILE}.tmp"
    tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    os.replace(tmp, folder / CHECKPOINT_FILE)
    for old in folder.glob("homo_round*.bin"):
        if old.name != agg_name:
            old.unlink(missing_ok=True)


def load_checkpoint(folder: str | Path) -> tuple[dict[str, Any], Any] | None:
    """(meta, aggregate) of the last completed round in ``folder``, or None."""
    path = Path(folder) / CHECKPOINT_FILE
    if not path.is_file():
        return None
    meta = json.loads(path.read_text(encoding="utf-8"))
    blob = (Path(folder) / meta["agg_file"]).read_bytes()
    agg = blob if meta["agg_kind"] == "ckks" else np.frombuffer(blob, dtype=np.float64).copy()
    return meta, agg


def _sample(banks: Sequence[str], params: HomoParams, seed: int, rnd: int) -> list[str]:
    k = max(params.min_clients, math.ceil(params.fraction * len(banks)))
    k = min(k, len(banks))
    if k == len(banks):
        return list(banks)
    rng = np.random.default_rng([seed, rnd, 7])
    return sorted(rng.choice(list(banks), size=k, replace=False).tolist())


def _payload_value(backend: str, agg: Any) -> Any:
    return bytes(agg) if backend == "ckks" else np.asarray(agg, dtype=np.float64)


#: tests: called with every object the coordinator's CKKS aggregation holds
AGGREGATION_OBSERVER: Callable[[Any], None] | None = None


def drive(
    transport: Transport, config: ExperimentConfig, *, progress: ProgressFn = no_progress
) -> ProtocolResult:
    """Run FedAvg over every bank of ``config``; each bank saves the global model."""
    params = parse_params(config.params)
    backend = resolve_backend(config, params)
    algorithm = config.experiment.algorithm
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"federation.homo runs {ALGORITHMS}, not {algorithm!r}")
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
    seed = int(config.experiment.seed)
    ck_dir = Path(params.checkpoint_dir).resolve() if params.checkpoint_dir else None
    resumed = load_checkpoint(ck_dir) if (ck_dir is not None and params.resume) else None
    if resumed is not None and resumed[0].get("backend") != backend:
        raise ConfigError(
            f"checkpoint in {ck_dir} was written by backend "
            f"{resumed[0].get('backend')!r}, this run uses {backend!r}"
        )
    session = resumed[0]["session"] if resumed else os.urandom(12).hex()
    run_id = os.urandom(8).hex()
    rounds = _Rounds(transport, params, progress)
    seconds: dict[str, float] = {}
    log = transport.log

    # ---- setup: init, key dealing, global statistics ------------------------------------
    t = time.perf_counter()
    progress("phase", {"phase": "setup"})
    feats = params.features or (config.experiment.features or {}).get(banks[0])
    init_reqs = {}
    for b in banks:
        spec = config.party(b)
        init_reqs[b] = (
            "homo.init",
            {
                "run_id": run_id,
                "role": spec.role.value,
                "id_column": config.experiment.id_column,
                "id_kind": "opaque",
                "label": spec.label or "",
                "seed": seed,
                **({"features": list(feats)} if feats else {}),
                "params": params.model_dump_json(),
                "backend": backend,
                "session": session,
                "kind": model_kind(algorithm),
                "resume": resumed is not None,
            },
        )
    init, _ = rounds.ask(init_reqs, allow_drop=False)
    layouts = {b: str(r.payload["layout"]) for b, r in init.items()}
    if len(set(layouts.values())) != 1:
        raise DataValidationError(
            f"banks encode different feature layouts {layouts}; every "
            "bank must hold the same columns",
            hint="Name the shared columns in params.features and text "
            "columns with differing categories in params.categorical.",
        )
    n_par = int(init[banks[0]].payload["n_params"])
    exps = np.max([np.asarray(init[b].payload["exps"], dtype=np.int64) for b in banks], axis=0)
    pubs = {b: bytes(init[b].payload["dh_pub"]) for b in banks}
    extras: dict[str, Payload] = {b: {} for b in banks}  # delivered until the bank answers
    public_ctx: bytes | None = None
    if backend == "ckks":
        if resumed is not None:
            lacking = [b for b in banks if not init[b].payload.get("has_key")]
            if lacking:
                raise ProtocolError(
                    f"cannot resume: bank(s) {lacking} hold no CKKS key of session {session}",
                    hint="Start without resume.",
                )
            public_ctx = (ck_dir / "homo_public_context.bin").read_bytes()  # type: ignore[union-attr]
        else:
            dealer, others = banks[0], banks[1:]
            kr, _ = rounds.ask(
                {dealer: ("homo.keys", {"peers": others, "peer_pubs": [pubs[o] for o in others]})},
                allow_drop=False,
            )
            public_ctx = bytes(kr[dealer].payload["public_context"])
            for o in others:
                extras[o]["sealed"] = bytes(kr[dealer].payload[f"sealed.{o}"])
            if ck_dir is not None:
                ck_dir.mkdir(parents=True, exist_ok=True)
                (ck_dir / "homo_public_context.bin").write_bytes(public_ctx)
    if backend == "masked":
        for b in banks:
            extras[b].update(peers=banks, peer_pubs=[pubs[p] for p in banks])
    agg_engine = _Aggregator(backend, public_ctx, observe=AGGREGATION_OBSERVER)
    secure_mean = None
    if backend == "secaggplus":
        from federation.homo_secaggplus import SecAggPlusAggregator, channel_for

        secure_mean = SecAggPlusAggregator(
            channel_for(transport, params.round_timeout),
            params.secaggplus,
            timeout=params.round_timeout,
            log=log,
            progress=progress,
        )

    def secure_round(
        action: str, members: list[str], payloads: dict[str, Payload], round_no: int, n_values: int
    ) -> tuple[Any, list[str], dict[str, Envelope]]:
        reqs = {b: (action, {**extras[b], **payloads[b], "participants": members}) for b in members}
        replies, dropped = rounds.ask(reqs, allow_drop=True, timeout=params.round_timeout)
        for b in replies:
            extras[b] = {}
        if secure_mean is not None:  # Flower's SecAgg+ over the banks that answered
            mean = secure_mean.mean(
                sorted(replies), round_no, bound=STATS_BOUND if round_no == 0 else None
            )
            rounds.exchanges += mean.exchanges
            if mean.dropped:
                dropped = dropped + mean.dropped
                progress("dropout", {"parties": mean.dropped})
            if len(mean.contributors) < params.min_clients:
                raise PartyUnavailableError(
                    f"only {len(mean.contributors)} bank(s) completed SecAgg+; min_clients "
                    f"is {params.min_clients} (dropped: {dropped})"
                )
            return mean.values, dropped, {b: replies[b] for b in mean.contributors}
        corrections: list[Any] = []
        if backend == "masked" and dropped:
            ur, _ = rounds.ask(
                {
                    b: ("homo.unmask", {"dropped": dropped, "round_no": round_no, "n": n_values})
                    for b in replies
                },
                allow_drop=False,
                timeout=params.round_timeout,
            )
            corrections = [
                np.asarray(r.payload["correction"], dtype=np.uint64) for r in ur.values()
            ]
        total = agg_engine.total(
            [replies[b].payload["update"] for b in sorted(replies)], corrections
        )
        return total, dropped, replies

    n_stats = 1 + 2 * exps.size
    stats_agg, stats_dropped, _ = secure_round(
        "homo.stats", banks, {b: {"exps": exps} for b in banks}, 0, n_stats
    )
    stats_value = _payload_value(backend, stats_agg)
    for b in banks:
        extras[b]["stats_agg"] = stats_value
    seconds["setup"] = time.perf_counter() - t

    # ---- FedAvg rounds --------------------------------------------------------------------
    progress("phase", {"phase": "train"})
    t = time.perf_counter()
    start = 0
    agg: Any = None
    if resumed is not None:
        start = int(resumed[0]["round"]) + 1
        agg = resumed[1]
    losses: dict[int, float] = {}
    per_round: list[dict[str, Any]] = []
    for rnd in range(start, params.rounds):
        members = _sample(banks, params, seed, rnd)
        progress("round", {"round": rnd, "sampled": members})
        mark, t_r = len(log.messages), time.perf_counter()
        pl: dict[str, Payload] = {}
        for b in members:
            pl[b] = {"round": rnd}
            if agg is not None:
                pl[b].update(agg=_payload_value(backend, agg), agg_round=rnd - 1)
        total, dropped, replies = secure_round("homo.train", members, pl, rnd + 1, n_par + 2)
        for r in replies.values():
            if "prev_loss" in r.payload:
                losses[int(r.payload["prev_round"])] = float(r.payload["prev_loss"])  # type: ignore[arg-type]
        if backend != "ckks":  # the coordinator knows the aggregate anyway
            tv = np.asarray(total, dtype=np.float64)
            losses[rnd] = float(tv[n_par + 1] / tv[n_par])
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
        if ck_dir is not None:
            _save_checkpoint(
                ck_dir,
                {
                    "session": session,
                    "round": rnd,
                    "backend": backend,
                    "algorithm": algorithm,
                    "n_params": n_par,
                },
                agg,
            )
        progress("epoch", {"epoch": rnd, "loss": losses.get(rnd - 1 if backend == "ckks" else rnd)})
    seconds["train"] = time.perf_counter() - t

    # ---- evaluation -----------------------------------------------------------------------
    progress("phase", {"phase": "evaluate"})
    t = time.perf_counter()
    if agg is None:
        raise ProtocolError("no round was trained (rounds already complete in the checkpoint?)")
    ev_reqs = {
        b: (
            "homo.evaluate",
            {**extras[b], "agg": _payload_value(backend, agg), "agg_round": params.rounds - 1},
        )
        for b in banks
    }
    ev, ev_dropped = rounds.ask(ev_reqs, allow_drop=True, timeout=params.round_timeout)
    for r in ev.values():
        if "prev_loss" in r.payload:
            losses[int(r.payload["prev_round"])] = float(r.payload["prev_loss"])  # type: ignore[arg-type]
    hist = sum(np.asarray(r.payload["hist"], dtype=np.int64) for r in ev.values())
    auc, ks = auc_ks_from_histogram(np.asarray(hist))
    seconds["evaluate"] = time.perf_counter() - t
    round_bytes = [r["bytes"] for r in per_round]
    metrics: dict[str, Any] = {
        "algorithm": algorithm,
        "backend": backend,
        "auc": auc,
        "ks": ks,
        "n_banks": len(banks),
        "n_train": int(sum(int(r.payload["n_train"]) for r in ev.values())),
        "n_valid": int(sum(int(r.payload["n_valid"]) for r in ev.values())),
        "bank_auc": {b: float(r.payload["auc"]) for b, r in sorted(ev.items())},  # type: ignore[arg-type]
        "bank_n_valid": {b: int(r.payload["n_valid"]) for b, r in sorted(ev.items())},  # type: ignore[call-overload]
        "rounds": params.rounds,
        "rounds_run": len(per_round),
        "resumed_from_round": (start - 1) if resumed else None,
        "local_epochs": params.local_epochs,
        "loss": [losses.get(r) for r in range(params.rounds)],
        "n_params": n_par,
        "per_round": per_round,
        "bytes_per_round": float(np.mean(round_bytes)) if round_bytes else 0.0,
        "seconds_per_round": float(np.mean([r["seconds"] for r in per_round]))
        if per_round
        else 0.0,
        "stats_dropped": stats_dropped,
        "evaluate_dropped": ev_dropped,
        "exchanges": rounds.exchanges,
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
    }
    if backend == "secaggplus":
        metrics["secaggplus"] = params.secaggplus.model_dump()
    summary = {
        "algorithm": algorithm,
        "backend": backend,
        "n_params": n_par,
        "banks": banks,
        "model_file": MODEL_FILE,
        "note": "every bank holds the global model in its own work dir; the "
        "coordinator holds " + ("ciphertexts only" if backend == "ckks" else "the aggregate"),
    }
    progress("homo.done", {"auc": auc, "ks": ks})
    return ProtocolResult(metrics=metrics, model_summary=summary)


__all__ = [
    "AGGREGATION_OBSERVER",
    "ALGORITHMS",
    "BACKENDS",
    "BankData",
    "HomoParams",
    "MODEL_FILE",
    "WEIGHT_UNIT",
    "auc_ks_from_histogram",
    "bank_data",
    "bank_seed",
    "drive",
    "hash_codes",
    "holdout_split",
    "load_checkpoint",
    "magnitudes",
    "model_spec",
    "parse_params",
    "rank_auc",
    "resolve_backend",
    "score_histogram",
    "set_train_hook",
    "stats_from_sum",
    "stats_vector",
    "train_config",
]
