"""Hetero (vertical) logistic regression with the coordinator as arbiter (key holder).

FATE-style coordinated LR with a Taylor approximation of the logistic loss. The coordinator
generates the key pair and is the only party that can decrypt; the guest holds the label;
every party keeps its own weights. Message by message, see docs/protocols/hetero_lr.md.

What leaves each party, and to whom (all messages travel through the coordinator):

1. Every party sends the coordinator an X25519 public key (``lr.init``); the coordinator
   relays the guest's key to each host and the hosts' keys to the guest. Guest and host
   derive a pairwise secret the coordinator cannot compute; it seeds the masks of 2. and 3.
2. A host sends ``0.25 * X_h w_h + r`` for the rows of one mini-batch, masked with ``r``
   from its guest-host key (uniform noise to the coordinator, which cannot derive ``r``).
   The coordinator adds the hosts' masked vectors, *encrypts the sum* under its own key
   and sends the ciphertext to the guest: the guest can neither decrypt it nor remove one
   host's mask without the others', it only strips the sum of masks homomorphically.
   (This is FATE's ``[[X_h w_h]]`` step with the encryption done once, by the key holder,
   instead of once per host: the coordinator could decrypt the hosts' ciphertexts anyway,
   so what protects host scores from it is the pairwise mask in both variants.)
3. The guest sends ``[[d + r']]`` for each host, with ``d = cw * (0.25 z + 0.5 - y)``
   (``r'`` from that host's guest-host key). A host never sees ``d`` in the clear, the
   coordinator never sees it unmasked.
4. Each party sends ``[[X^T d + m]]`` (its own uniform mask ``m``); the coordinator decrypts
   and returns the masked sums ``X^T d + m`` only. The party removes ``m`` and updates its
   own weights locally: weights never leave a party.
5. The guest sends the indices (positions in the aligned order) of its validation rows;
   hosts send masked partial scores of those rows once per epoch; the guest learns the sum
   over hosts of their partial scores on validation rows (needed for the loss, AUC and KS).
6. The guest sends the coordinator public metrics (loss per epoch, AUC, KS, counts).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crypto.errors import ConfigError, DataValidationError, ProtocolError
from crypto.pairwise import (
    MaskStream,
    new_keypair,
    open_sealed,
    seal,
    secret_permutation,
    shared_key,
)
from features.encoding import Standardizer
from features.metrics import CURVE_KEYS, ks, validation_split
from federation.config import ExperimentConfig
from federation.lr_backends import LrBackend, get_backend
from federation.party import PartyContext, register
from federation.protocol import (
    Exchanger,
    ProgressFn,
    ProtocolResult,
    no_progress,
    require_parties,
)
from federation.roles import PartyRole
from federation.transport import Envelope, Payload, Transport

#: Pairwise masks (forward, residual, validation scores) are uniform in [-bound, bound).
PAIRWISE_MASK_BOUND = float(2**20)
#: Exact mode: masks of the logit shares (plain floats, never encrypted, so no CKKS bound);
#: a logit of size v is hidden up to a statistical distance of about v / 2^30, and the
#: masks cancel in the coordinator's float64 sum to about 2^-22.
FORWARD_MASK_BOUND = float(2**30)
MODEL_FILE = "model.json"
_STATE_KEY = "hetero_lr"

_FWD, _RESID, _VALID = 1, 2, 3  # purposes of pairwise masks
_PLAN, _PERM = 1, 2  # purposes of the guest's secret permutations (keyed by its seed)


# ---------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------


class LrParams(BaseModel):
    """``[params]`` of a hetero LR experiment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(10, ge=1, le=10_000, description="maximum number of epochs")
    sigmoid: Literal["exact", "taylor"] = Field(
        "exact",
        description="exact: the coordinator applies the sigmoid to the batch's "
        "permuted logits; taylor: FATE's first-order approximation 0.25 z + 0.5",
    )
    batch_size: int = Field(-1, description="rows per mini-batch; -1 = full batch")
    learning_rate: float = Field(0.15, gt=0)
    lr_schedule: Literal["constant", "decay"] = "constant"
    decay_rate: float = Field(0.5, ge=0, description="decay: lr / (1 + decay_rate * epoch)")
    l2: float = Field(0.0, ge=0, description="L2 penalty alpha: mean loss + alpha/2 * |w|^2")
    l1: float = Field(0.0, ge=0, description="L1 penalty (proximal step): + l1 * |w|_1")
    early_stopping: bool = True
    tol: float = Field(1e-4, ge=0, description="stop when the validation loss moves less")
    class_weight: Literal["balanced"] | dict[str, float] | None = None
    valid_fraction: float = Field(0.2, gt=0, lt=1)
    fit_intercept: bool = True
    key_bits: int = Field(2048, ge=1024, description="Paillier modulus size")
    ckks_profile: str = "fast"
    precompute_epochs: int = Field(
        0,
        ge=0,
        description="Paillier: epochs of encryption "
        "randomness the coordinator prepares before training",
    )
    workers: int = Field(
        0,
        ge=0,
        le=64,
        description="crypto worker processes per party (0: FEDLAB_CRYPTO_WORKERS, else 1)",
    )
    coordinator_workers: int = Field(
        0,
        ge=0,
        le=64,
        description="Paillier: crypto worker "
        "processes of the coordinator for its encryptions (0: "
        "its CPU count; every party waits while it encrypts)",
    )

    @field_validator("batch_size")
    @classmethod
    def _batch(cls, v: int) -> int:
        if v != -1 and v < 1:
            raise ValueError(f"batch_size must be -1 (full batch) or >= 1, got {v}")
        return v

    @field_validator("class_weight")
    @classmethod
    def _cw(cls, v: Any) -> Any:
        if isinstance(v, dict):
            if set(v) - {"0", "1"} or any(w <= 0 for w in v.values()):
                raise ValueError(f"class_weight must map '0'/'1' to positive weights, got {v}")
        return v

    def learning_rate_at(self, epoch: int) -> float:
        if self.lr_schedule == "decay":
            return self.learning_rate / (1.0 + self.decay_rate * epoch)
        return self.learning_rate

    def backend(self, name: str) -> LrBackend:
        workers = {"workers": self.workers} if self.workers else {}
        if name == "paillier":
            return get_backend(
                name,
                key_bits=self.key_bits,
                **workers,
                coordinator_workers=self.coordinator_workers or os.cpu_count(),
            )
        if name == "ckks":
            return get_backend(name, profile=self.ckks_profile)
        return get_backend(name)


def parse_params(raw: dict[str, Any]) -> LrParams:
    try:
        return LrParams.model_validate(raw)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid hetero_lr [params]: {errs}") from None


# ---------------------------------------------------------------------------------------
# shared helpers: batches, validation split, pairwise masks
# ---------------------------------------------------------------------------------------


def batch_plan(n_train: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Positions (into the training rows) of each mini-batch of ``epoch``; same at every party."""
    if batch_size == -1 or batch_size >= n_train:
        return [np.arange(n_train)]
    perm = np.random.default_rng([seed, epoch]).permutation(n_train)
    return [np.sort(perm[i : i + batch_size]) for i in range(0, n_train, batch_size)]


def n_batches(n_train: int, batch_size: int) -> int:
    return 1 if batch_size == -1 or batch_size >= n_train else math.ceil(n_train / batch_size)


def secret_batch_plan(seed: bytes, n_train: int, batch_size: int, epoch: int) -> list[np.ndarray]:
    """Mini-batches drawn from a seed the guest shares with the hosts only (exact mode): the
    coordinator learns the batch sizes, not which rows form a batch."""
    if batch_size == -1 or batch_size >= n_train:
        return [np.arange(n_train)]
    perm = secret_permutation(seed, _PLAN, epoch, 0, n_train)
    return [np.sort(perm[i : i + batch_size]) for i in range(0, n_train, batch_size)]


def batch_sizes(n_train: int, batch_size: int) -> list[int]:
    """Rows per mini-batch (public: the same for the public and the secret batch plans)."""
    if batch_size == -1 or batch_size >= n_train:
        return [n_train]
    return [min(batch_size, n_train - i) for i in range(0, n_train, batch_size)]


def _pair(st: dict[str, Any], peer: str, bound: float | None = None) -> MaskStream:
    """Masks from the guest-host key shared with ``peer`` (``"guest"`` at a host)."""
    return MaskStream(st["pair_keys"][peer], float(st["mask_bound"] if bound is None else bound))


def mask_bound(backend: str, n_hosts: int) -> float:
    """Pairwise mask bound: CKKS must keep the coordinator's sum of masked host vectors
    inside its encoding range (``crypto.ckks.MAX_ABS_VALUE``)."""
    if backend == "ckks":
        from crypto.ckks import MAX_ABS_VALUE

        return float(2 ** math.floor(math.log2(MAX_ABS_VALUE / (2 * max(1, n_hosts)))))
    return PAIRWISE_MASK_BOUND


def _dh_shared(priv: bytes, peer_pub: bytes, public: bytes) -> bytes:
    """Guest-host key: X25519 + HKDF bound to this run's public key."""
    return shared_key(priv, peer_pub, context=public, label=b"fedlab/hetero_lr/v1")


# ---------------------------------------------------------------------------------------
# model pieces
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelPiece:
    """What one party keeps after training: its own features' part of the model."""

    party: str
    role: str
    backend: str
    feature_names: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    intercept: float | None = None  # guest only
    metrics: dict[str, Any] = field(default_factory=dict)  # guest only
    #: the fitted table encoding (``features.encoding.TableEncoder.to_dict``): scoring
    #: encodes new rows with the training rows' medians, categories and shares
    encoder: dict[str, Any] | None = None

    def partial_score(self, X: np.ndarray) -> np.ndarray:
        """This party's share of the linear score for raw (locally encoded) rows ``X``."""
        X = np.asarray(X, dtype=np.float64)
        mean, scale = np.asarray(self.mean), np.asarray(self.scale)
        Z = (X - mean) / scale
        out = Z @ np.asarray(self.weights, dtype=np.float64)
        return out + (self.intercept or 0.0)


def save_piece(work_dir: Path, piece: ModelPiece) -> Path:
    """Write ``model.json`` into ``work_dir`` atomically (temporary file + rename)."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / MODEL_FILE
    tmp = work_dir / f".{MODEL_FILE}.{os.getpid()}.tmp"
    tmp.write_text(
        json.dumps({"algorithm": "hetero_lr", **asdict(piece)}, indent=2), encoding="utf-8"
    )
    os.replace(tmp, path)
    return path


def load_piece(work_dir: Path) -> ModelPiece:
    """Read a party's hetero LR model piece from ``work_dir``."""
    path = Path(work_dir) / MODEL_FILE
    if not path.is_file():
        raise DataValidationError(
            f"no hetero LR model piece at {path}", hint="Train the model first (fedlab train)."
        )
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.pop("algorithm", None) != "hetero_lr":
        raise DataValidationError(f"{path} is not a hetero LR model piece")
    return ModelPiece(**raw)


# ---------------------------------------------------------------------------------------
# party side
# ---------------------------------------------------------------------------------------


#: Other data sources hetero LR can train on, by name (e.g. the scorecard's WOE columns).
#: A protocol that wraps hetero LR sets ``ctx.state[MATRIX_SOURCE_KEY]`` at the party.
MATRIX_SOURCES: dict[str, Callable[[PartyContext], Any]] = {}
MATRIX_SOURCE_KEY = "lr.matrix_source"


def _matrix(ctx: PartyContext) -> Any:
    """This party's aligned, locally encoded features (``federation.partydata``), or the
    registered source named in its state."""
    source = ctx.state.get(MATRIX_SOURCE_KEY)
    if source:
        try:
            return MATRIX_SOURCES[str(source)](ctx)
        except KeyError:
            raise ProtocolError(
                f"party {ctx.name!r}: unknown hetero LR data source {source!r}"
            ) from None
    from federation.partydata import aligned_matrix

    return aligned_matrix(ctx)


#: Per-process cache of each party's matrices (never in ``ctx.state``, which the runtime
#: persists between messages): (party, run) -> {"raw": X, "y": y, "X": standardized X}.
_DATA: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()


def _data(ctx: PartyContext, st: dict[str, Any]) -> dict[str, Any]:
    key = (ctx.name, st["run"])
    d = _DATA.get(key)
    if d is None:
        m = _matrix(ctx)
        X = np.asarray(m.X, dtype=np.float64)
        if X.shape[0] != st["n"]:
            raise ProtocolError(f"party {ctx.name!r}: its aligned rows changed during the run")
        d = {"raw": X, "y": None if m.y is None else np.asarray(m.y, dtype=np.float64)}
        _DATA[key] = d
        while len(_DATA) > 16:
            _DATA.popitem(last=False)
    if "X" not in d and "mean" in st:
        d["X"] = (d["raw"] - st["mean"]) / st["scale"]
    return d


def _X(ctx: PartyContext, st: dict[str, Any]) -> np.ndarray:
    return _data(ctx, st)["X"]  # type: ignore[no-any-return]


def _st(ctx: PartyContext) -> dict[str, Any]:
    st = ctx.state.get(_STATE_KEY)
    if st is None:
        raise ProtocolError(
            f"party {ctx.name!r}: hetero LR message before lr.init",
            hint="Restart the training run.",
        )
    return st  # type: ignore[no-any-return]


def _setup_rows(ctx: PartyContext, st: dict[str, Any], valid_idx: np.ndarray) -> None:
    party = ctx.name
    n = st["n"]
    valid_idx = np.asarray(valid_idx, dtype=np.int64)
    if valid_idx.size and (valid_idx.min() < 0 or valid_idx.max() >= n):
        raise ProtocolError(f"party {party!r}: validation indices outside its {n} aligned rows")
    mask = np.ones(n, dtype=bool)
    mask[valid_idx] = False
    train = np.flatnonzero(mask)
    if train.size == 0:
        raise ProtocolError(f"party {party!r}: no training rows left after the validation split")
    d = _data(ctx, st)
    std = Standardizer().fit(d["raw"], train)
    st.update(train=train, valid=valid_idx, mean=std.mean_, scale=std.scale_)
    d["X"] = std.transform(d["raw"])


@register("lr.init")
def _init(ctx: PartyContext, payload: Payload) -> Payload:
    params = LrParams.model_validate(json.loads(str(payload["params"])))
    _apply_commit(ctx, payload)
    m = _matrix(ctx)
    X = np.asarray(m.X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] == 0:
        raise DataValidationError(
            f"party {ctx.name!r}: no feature columns (matrix {X.shape})",
            hint="Name at least one feature column for this party.",
        )
    if not np.all(np.isfinite(X)):
        bad = [m.feature_names[j] for j in np.flatnonzero(~np.isfinite(X).all(axis=0))]
        raise DataValidationError(
            f"party {ctx.name!r}: columns {bad} hold missing or infinite "
            "values after local encoding",
            hint="Encode the party's table with features.encoding first.",
        )
    priv, pub = new_keypair()
    public = bytes(payload["public"])
    st: dict[str, Any] = {
        "run": hashlib.sha256(public).hexdigest()[:16],
        "name": ctx.name,
        "backend": str(payload["backend"]),
        "public": public,
        "params": params.model_dump_json(),
        "seed": int(payload["seed"]),
        "mask_bound": float(payload["mask_bound"]),
        "n": X.shape[0],
        "feature_names": [str(f) for f in m.feature_names],
        "encoder": None if getattr(m, "encoder", None) is None else m.encoder.to_dict(),
        "w": np.zeros(X.shape[1]),
        "b": 0.0,
        "dh_priv": priv,
        "pending": None,
    }
    ctx.state[_STATE_KEY] = st
    _DATA[(ctx.name, st["run"])] = {
        "raw": X,
        "y": None if m.y is None else np.asarray(m.y, dtype=np.float64),
    }
    reply: Payload = {"dh_pub": pub, "n_rows": int(X.shape[0]), "n_features": int(X.shape[1])}
    if ctx.role == PartyRole.GUEST:
        if m.y is None:
            raise DataValidationError(f"guest {ctx.name!r} has no label column")
        y = np.asarray(m.y, dtype=np.float64)
        if not np.all(np.isin(y, (0.0, 1.0))):
            raise DataValidationError(f"guest {ctx.name!r}: the label must be 0/1")
        if len(np.unique(y)) < 2:
            raise DataValidationError(
                f"guest {ctx.name!r}: the aligned rows hold one class only",
                hint="Check the label column and the intersection.",
            )
        valid = validation_split(y, params.valid_fraction, st["seed"])
        _setup_rows(ctx, st, valid)
        st["losses"] = []
        if params.sigmoid == "exact":
            st["perm_seed"] = _new_batch_seed()  # batch plan and row order, hosts only
        reply.update(valid_idx=valid, n_train=int(st["train"].size), n_valid=int(valid.size))
    return reply


def _class_weights(params: LrParams, y: np.ndarray, train: np.ndarray) -> np.ndarray | None:
    """Per-row class weights (``balanced``: from the training rows' class counts)."""
    cw = params.class_weight
    if cw is None:
        return None
    y_train = y[train]
    if cw == "balanced":
        counts = np.bincount(y_train.astype(int), minlength=2).astype(np.float64)
        w = y_train.size / (2.0 * counts)
    else:
        w = np.array([cw.get("0", 1.0), cw.get("1", 1.0)])  # type: ignore[union-attr]
    return np.asarray(w[y.astype(int)], dtype=np.float64)


def _params(st: dict[str, Any]) -> LrParams:
    return LrParams.model_validate_json(st["params"])


def _apply_gradient(st: dict[str, Any], grad_masked: np.ndarray) -> None:
    """Unmask the decrypted gradient and take one (proximal) gradient step."""
    pend = st.get("pending")
    if pend is None:
        raise ProtocolError("received a gradient without a pending masked gradient")
    params = _params(st)
    g = (np.asarray(grad_masked, dtype=np.float64) - pend["mask"]) / pend["n"]
    lr = params.learning_rate_at(pend["epoch"])
    k = st["w"].size
    gw = g[:k] + params.l2 * st["w"]
    w = st["w"] - lr * gw
    if params.l1 > 0:
        w = np.sign(w) * np.maximum(np.abs(w) - lr * params.l1, 0.0)
    st["w"] = w
    if g.size > k and params.fit_intercept:
        st["b"] = float(st["b"] - lr * g[k])
    st["pending"] = None


def _plan(st: dict[str, Any], epoch: int) -> list[np.ndarray]:
    """This epoch's mini-batches (positions into the training rows), cached per process."""
    d = _DATA.get((st["name"], st["run"]))
    cached = None if d is None else d.get("plan")
    if cached is not None and cached[0] == epoch:
        return cached[1]  # type: ignore[no-any-return]
    params = _params(st)
    seed = st.get("perm_seed")
    n_train = st["train"].size
    if seed is None:
        plan = batch_plan(n_train, params.batch_size, st["seed"], epoch)
    else:
        plan = secret_batch_plan(seed, n_train, params.batch_size, epoch)
    if d is not None:
        d["plan"] = (epoch, plan)
    return plan


def _rows(st: dict[str, Any], epoch: int, batch: int) -> np.ndarray:
    """The batch's rows (aligned positions) in the order its vectors cross the coordinator:
    sorted (taylor) or in the guest's secret permutation of the batch (exact)."""
    rows = st["train"][_plan(st, epoch)[batch]]
    if st.get("perm_seed") is not None:
        rows = rows[secret_permutation(st["perm_seed"], _PERM, epoch, batch, rows.size)]
    return rows  # type: ignore[no-any-return]


def _pending(st: dict[str, Any], mask: np.ndarray, n: int, epoch: int) -> None:
    """Keep the mask of the gradient the coordinator is decrypting for this party."""
    st["pending"] = {"mask": np.asarray(mask, dtype=np.float64), "n": n, "epoch": epoch}


def _masked_xtd(sess: Any, st: dict[str, Any], d: Any, X: np.ndarray, epoch: int) -> bytes:
    rng = np.random.default_rng(int.from_bytes(os.urandom(16), "little"))
    blob, mask = sess.masked_xtd(d, X, rng)
    _pending(st, mask, X.shape[0], epoch)
    return bytes(blob)


def _session(st: dict[str, Any]) -> Any:
    return _params(st).backend(st["backend"]).session(st["public"])


def _host_setup(ctx: PartyContext, st: dict[str, Any], payload: Payload) -> None:
    """First messages at a host: validation rows, the guest's key, the sealed batch seed."""
    if "valid_idx" in payload:
        _setup_rows(ctx, st, np.asarray(payload["valid_idx"]))
    if "guest_dh" in payload:
        st["pair_keys"] = {
            "guest": _dh_shared(st["dh_priv"], bytes(payload["guest_dh"]), st["public"])
        }
    if "seed" in payload:
        st["perm_seed"] = open_sealed(
            st["pair_keys"]["guest"],
            bytes(payload["seed"]),
            aad=st["public"],
            what=f"batch seed for {ctx.name!r}",
        )


def _new_batch_seed() -> bytes:
    """The guest's secret seed of the batch plan and row order (exact mode)."""
    return os.urandom(32)


@register("lr.host_step")
def _host_step(ctx: PartyContext, payload: Payload) -> Payload:
    """Apply the last gradient; report validation scores; send the next masked forward
    (taylor: ``0.25 z_h + r_h`` in sorted row order)."""
    st = _st(ctx)
    _host_setup(ctx, st, payload)
    if "grad" in payload:
        _apply_gradient(st, np.asarray(payload["grad"]))
    out: Payload = {}
    if bool(payload.get("report_valid", False)):
        ve = int(payload["valid_epoch"])
        z = _X(ctx, st)[st["valid"]] @ st["w"]
        out["valid"] = z + _pair(st, "guest").mask(_VALID, ve, 0, z.size)
    if bool(payload.get("forward", False)):
        epoch, batch = int(payload["epoch"]), int(payload["batch"])
        rows = _rows(st, epoch, batch)
        # masked with the guest-host key: the coordinator sees uniform noise only
        out["fwd"] = 0.25 * (_X(ctx, st)[rows] @ st["w"]) + _pair(st, "guest").mask(
            _FWD, epoch, batch, rows.size
        )
    return out


@register("lr.forward")
def _forward(ctx: PartyContext, payload: Payload) -> Payload:
    """Exact mode, every party: apply the last gradient, send this batch's masked logit share
    in the secret row order (hosts ``z_h + r_h``, the guest ``z_g + b - sum_h r_h``), and
    (hosts, at an epoch start) masked validation scores."""
    st = _st(ctx)
    host = ctx.role != PartyRole.GUEST
    if host:
        _host_setup(ctx, st, payload)
    if "grad" in payload:
        _apply_gradient(st, np.asarray(payload["grad"]))
    out: Payload = {}
    epoch, batch = int(payload["epoch"]), int(payload["batch"])
    rows = _rows(st, epoch, batch)
    z = _X(ctx, st)[rows] @ st["w"]
    if host:
        if bool(payload.get("report_valid", False)):
            ve = int(payload["valid_epoch"])
            zv = _X(ctx, st)[st["valid"]] @ st["w"]
            out["valid"] = zv + _pair(st, "guest").mask(_VALID, ve, 0, zv.size)
        out["z"] = z + _pair(st, "guest", FORWARD_MASK_BOUND).mask(_FWD, epoch, batch, rows.size)
    else:
        out["z"] = (
            z
            + st["b"]
            - sum(
                _pair(st, h, FORWARD_MASK_BOUND).mask(_FWD, epoch, batch, rows.size)
                for h in st["pair_keys"]
            )
        )
    return out


@register("lr.backward")
def _host_backward(ctx: PartyContext, payload: Payload) -> Payload:
    """Remove the guest's pairwise mask from [[d]] and return the masked [[X_h^T d]]."""
    st = _st(ctx)
    _host_setup(ctx, st, payload)
    epoch, batch = int(payload["epoch"]), int(payload["batch"])
    rows = _rows(st, epoch, batch)
    sess = _session(st)
    rng = np.random.default_rng(int.from_bytes(os.urandom(16), "little"))
    blob, mask = sess.masked_xtd_shifted(
        sess.load(bytes(payload["d"])),
        _pair(st, "guest").mask(_RESID, epoch, batch, rows.size),
        _X(ctx, st)[rows],
        rng,
    )
    _pending(st, mask, rows.size, epoch)
    return {"grad": bytes(blob)}


def _guest_valid_loss(
    ctx: PartyContext, st: dict[str, Any], valid_sum: np.ndarray, valid_epoch: int
) -> float:
    from sklearn.metrics import log_loss

    v = st["valid"]
    host_z = np.asarray(valid_sum, dtype=np.float64) - sum(
        _pair(st, h).mask(_VALID, valid_epoch, 0, v.size) for h in st["pair_keys"]
    )
    d = _data(ctx, st)
    z = d["X"][v] @ st["w"] + st["b"] + host_z
    st["valid_z"] = z
    y = d["y"][v]
    cw = _class_weights(_params(st), d["y"], st["train"])
    sw = None if cw is None else cw[v]
    p = 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))
    loss = float(log_loss(y, p, sample_weight=sw, labels=[0, 1]))
    st["losses"].append(loss)
    return loss


def _should_stop(st: dict[str, Any]) -> bool:
    params = _params(st)
    losses = st["losses"]
    return params.early_stopping and len(losses) >= 2 and abs(losses[-2] - losses[-1]) < params.tol


@register("lr.guest_step")
def _guest_step(ctx: PartyContext, payload: Payload) -> Payload:
    """Apply the last gradient (taylor); evaluate an epoch; form [[d]] and the masked
    [[X_g^T d]]. Exact mode: [[d]] = cw ([[s]] - y) from the coordinator's encrypted
    sigmoid of the permuted logits; taylor: from the encrypted sum of host forwards."""
    st = _st(ctx)
    out: Payload = {}
    if "host_dh" in payload:
        names = [str(n) for n in payload["host_names"]]  # type: ignore[union-attr]
        pubs = [bytes(p) for p in payload["host_dh"]]  # type: ignore[union-attr]
        st["pair_keys"] = {
            n: _dh_shared(st["dh_priv"], p, st["public"]) for n, p in zip(names, pubs, strict=False)
        }
        if st.get("perm_seed") is not None:
            for n, key in st["pair_keys"].items():
                out[f"seed.{n}"] = seal(key, st["perm_seed"], aad=st["public"])
    if "grad" in payload:
        _apply_gradient(st, np.asarray(payload["grad"]))
    if "valid" in payload:
        out["loss"] = _guest_valid_loss(
            ctx, st, np.asarray(payload["valid"]), int(payload["valid_epoch"])
        )
        if _should_stop(st):
            out["stop"] = True
            return out
    if "fwd" not in payload and "s" not in payload:
        return out
    epoch, batch = int(payload["epoch"]), int(payload["batch"])
    rows = _rows(st, epoch, batch)
    sess = _session(st)
    hosts = list(st["pair_keys"])
    data = _data(ctx, st)
    Xg = data["X"][rows]
    y = data["y"][rows]
    cw = _class_weights(_params(st), data["y"], st["train"])
    if "s" in payload:
        # [[s]]: the coordinator's encryption of sigmoid(z) in the secret row order
        d = sess.add_plain(sess.load(bytes(payload["s"])), -y)
        if cw is not None:
            d = sess.mul_plain(d, cw[rows])
    else:
        # [[S]] = [[sum_h (0.25 z_h + r_h)]], encrypted by the coordinator (fresh randomness
        # the hosts do not know); remove the hosts' masks and add the guest's own term
        fwd = sess.load(bytes(payload["fwd"]))
        r_sum = sum(_pair(st, h).mask(_FWD, epoch, batch, rows.size) for h in hosts)
        own = 0.25 * (Xg @ st["w"] + st["b"]) + 0.5 - y
        if cw is None:
            d = sess.add_plain(fwd, own - r_sum)
        else:
            d = sess.add_plain(
                sess.mul_plain(sess.add_plain(fwd, -r_sum), cw[rows]), own * cw[rows]
            )
    for h in hosts:
        out[f"d.{h}"] = sess.dump(
            sess.add_plain(d, _pair(st, h).mask(_RESID, epoch, batch, rows.size))
        )
    if _params(st).fit_intercept:
        Xg = np.hstack([Xg, np.ones((rows.size, 1))])
    out["grad"] = _masked_xtd(sess, st, d, Xg, epoch)
    return out


@register("lr.finish")
def _finish(ctx: PartyContext, payload: Payload) -> Payload:
    """Apply the last gradient (guest), evaluate, and save this party's model piece."""
    st = _st(ctx)
    out: Payload = {}
    metrics: dict[str, Any] = {}
    if ctx.role == PartyRole.GUEST:
        from sklearn.metrics import roc_auc_score

        if "grad" in payload:
            _apply_gradient(st, np.asarray(payload["grad"]))
        if "valid" in payload:
            _guest_valid_loss(ctx, st, np.asarray(payload["valid"]), int(payload["valid_epoch"]))
        if "valid_z" not in st:
            raise ProtocolError(f"guest {ctx.name!r}: no validation scores to evaluate")
        yv = _data(ctx, st)["y"][st["valid"]]
        z = st["valid_z"]
        from features.metrics import curve_aggregates

        metrics = {
            "auc": float(roc_auc_score(yv, z)),
            "ks": ks(yv, z),
            **curve_aggregates(yv, z),
            "loss": [float(x) for x in st["losses"]],
            "epochs": len(st["losses"]),
            "n_train": int(st["train"].size),
            "n_valid": int(st["valid"].size),
        }
        out["metrics"] = json.dumps(metrics)
    piece = ModelPiece(
        party=ctx.name,
        role=ctx.role.value,
        backend=st["backend"],
        feature_names=list(st["feature_names"]),
        mean=[float(x) for x in st["mean"]],
        scale=[float(x) for x in st["scale"]],
        weights=[float(x) for x in st["w"]],
        intercept=float(st["b"]) if ctx.role == PartyRole.GUEST else None,
        metrics=metrics,
        encoder=st.get("encoder"),
    )
    save_piece(ctx.work_dir, piece)
    out["n_features"] = len(piece.weights)
    return out


# ---------------------------------------------------------------------------------------
# coordinator side
# ---------------------------------------------------------------------------------------


def _align(transport: Transport, config: ExperimentConfig, progress: ProgressFn) -> Any:
    """PSI alignment; the hosts' commit is left for ``lr.init`` to carry (one exchange less)."""
    from federation.alignment import align

    return align(transport, config, progress=progress, commit=False)


def _apply_commit(ctx: PartyContext, payload: Payload) -> None:
    if "idx" in payload:
        from federation.alignment import apply_commit

        apply_commit(ctx, {"idx": payload["idx"]})


_Exchanger = Exchanger


def drive(
    transport: Transport, config: ExperimentConfig, *, progress: ProgressFn = no_progress
) -> ProtocolResult:
    """Run alignment and hetero LR training/evaluation; every party saves its own piece."""
    progress("phase", {"phase": "alignment"})
    t = time.perf_counter()
    aligned = _align(transport, config, progress)
    seconds = {"alignment": time.perf_counter() - t}
    return train_aligned(
        transport,
        config,
        progress=progress,
        seconds=seconds,
        n_aligned=getattr(aligned, "n_aligned", None),
        pending_commit=getattr(aligned, "pending_commit", None),
        align_exchanges=int(getattr(aligned, "exchanges", 0)),
    )


@dataclass
class _Run:
    """Coordinator-side state of one training run (public values and decrypted masked
    gradients waiting for their party's next message)."""

    ex: _Exchanger
    keys: Any
    backend: str
    guest: str
    hosts: list[str]
    params: LrParams
    nb: int
    sizes: list[int]
    valid_idx: np.ndarray
    guest_dh: bytes
    host_dh: list[bytes]
    progress: ProgressFn
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    stopped: bool = False
    epochs_run: int = 0

    def guest_step(self, payload: Payload, epoch: int) -> Payload | None:
        """One ``lr.guest_step``; reports the loss of the epoch that ended (1-based, once per
        epoch), keeps the guest's decrypted masked gradient; None when the guest stops."""
        gr = self.ex([Envelope(self.guest, "lr.guest_step", payload)])[self.guest].payload
        if "loss" in gr:
            self.progress("epoch", {"epoch": epoch, "loss": float(gr["loss"])})  # type: ignore[arg-type]
        if gr.get("stop"):
            self.stopped = True
            return None
        self.grads[self.guest] = self.keys.decrypt_gradient(bytes(gr["grad"]))
        return gr


def _checked_forward(run: _Run, total: np.ndarray, epoch: int) -> np.ndarray:
    """CKKS (taylor): the masked sum must fit the encoding range; it only leaves it when the
    hosts' scores explode (masks are bounded by ``mask_bound``), i.e. training diverges."""
    if run.backend == "ckks":
        from crypto.ckks import MAX_ABS_VALUE

        if total.size and float(np.abs(total).max()) > MAX_ABS_VALUE:
            raise ProtocolError(
                f"hetero LR diverged in epoch {epoch + 1}: the hosts' scores left CKKS's "
                f"encoding range (|x| <= {MAX_ABS_VALUE:g})",
                hint='Lower [params] learning_rate, or use sigmoid = "exact" (bounded residuals).',
            )
    return total


def _train_taylor(run: _Run) -> None:
    """FATE's flow: hosts' masked forwards, the encrypted sum to the guest, host backward."""
    ex, keys, guest, hosts = run.ex, run.keys, run.guest, run.hosts
    first_host, first_guest = True, True
    for epoch in range(run.params.epochs):
        for batch in range(run.nb):
            # (1) hosts: apply last gradient, validation scores at an epoch start, forward
            report = batch == 0 and epoch > 0
            reqs = []
            for h in hosts:
                pl: Payload = {"epoch": epoch, "batch": batch, "forward": True}
                if first_host:
                    pl.update(valid_idx=run.valid_idx, guest_dh=run.guest_dh)
                if h in run.grads:
                    pl["grad"] = run.grads.pop(h)
                if report:
                    pl.update(report_valid=True, valid_epoch=epoch - 1)
                reqs.append(Envelope(h, "lr.host_step", pl))
            first_host = False
            hr = ex(reqs)
            fwd = keys.encrypt(
                _checked_forward(run, _sum_arrays([hr[h].payload["fwd"] for h in hosts]), epoch)
            )
            # (2) guest: apply last gradient, loss of the previous epoch, [[d]], masked grad
            gp: Payload = {"epoch": epoch, "batch": batch, "fwd": fwd}
            if first_guest:
                gp.update(host_names=list(hosts), host_dh=run.host_dh)
                first_guest = False
            if guest in run.grads:
                gp["grad"] = run.grads.pop(guest)
            if report:
                gp.update(
                    valid=_sum_arrays([hr[h].payload["valid"] for h in hosts]),
                    valid_epoch=epoch - 1,
                )
            gr = run.guest_step(gp, epoch)
            if gr is None:
                return
            # (3) hosts: [[d]] -> masked [[X_h^T d]]
            br = ex(
                [
                    Envelope(
                        h, "lr.backward", {"epoch": epoch, "batch": batch, "d": bytes(gr[f"d.{h}"])}
                    )
                    for h in hosts
                ]
            )
            for h in hosts:
                run.grads[h] = keys.decrypt_gradient(bytes(br[h].payload["grad"]))
        run.epochs_run = epoch + 1


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64))))


def _train_exact(run: _Run) -> None:
    """Exact sigmoid: every party sends its masked logit share in the batch's secret row
    order; the coordinator sums them to the permuted logits, encrypts sigmoid(z) once per
    row and sends it to the guest; the rest is the taylor flow's backward."""
    ex, keys, guest, hosts = run.ex, run.keys, run.guest, run.hosts
    first = True
    for epoch in range(run.params.epochs):
        for batch in range(run.nb):
            report = batch == 0 and epoch > 0
            gp: Payload = {"epoch": epoch, "batch": batch}
            if first:
                # every weight starts at 0: z = 0 and s = 1/2 on the first batch (public),
                # so its forward exchange is skipped and the guest's batch seed can reach
                # the hosts with their first backward
                s = np.full(run.sizes[0], 0.5)
                gp.update(host_names=list(hosts), host_dh=run.host_dh)
            else:
                reqs = []
                for p in [guest, *hosts]:
                    pl: Payload = {"epoch": epoch, "batch": batch}
                    if p in run.grads:
                        pl["grad"] = run.grads.pop(p)
                    if report and p != guest:
                        pl.update(report_valid=True, valid_epoch=epoch - 1)
                    reqs.append(Envelope(p, "lr.forward", pl))
                fr = ex(reqs)
                s = _sigmoid(_sum_arrays([fr[p].payload["z"] for p in [guest, *hosts]]))
                if report:
                    gp.update(
                        valid=_sum_arrays([fr[h].payload["valid"] for h in hosts]),
                        valid_epoch=epoch - 1,
                    )
            gp["s"] = keys.encrypt(s)
            gr = run.guest_step(gp, epoch)
            if gr is None:
                return
            reqs = []
            for h in hosts:
                pl = {"epoch": epoch, "batch": batch, "d": bytes(gr[f"d.{h}"])}
                if first:
                    pl.update(
                        valid_idx=run.valid_idx, guest_dh=run.guest_dh, seed=bytes(gr[f"seed.{h}"])
                    )
                reqs.append(Envelope(h, "lr.backward", pl))
            first = False
            br = ex(reqs)
            for h in hosts:
                run.grads[h] = keys.decrypt_gradient(bytes(br[h].payload["grad"]))
        run.epochs_run = epoch + 1


def train_aligned(
    transport: Transport,
    config: ExperimentConfig,
    *,
    progress: ProgressFn = no_progress,
    seconds: dict[str, float] | None = None,
    n_aligned: int | None = None,
    pending_commit: dict[str, Payload] | None = None,
    align_exchanges: int = 0,
) -> ProtocolResult:
    """Hetero LR on parties that are already aligned (``drive`` without the alignment).

    ``pending_commit`` (host -> ``align.commit`` payload) rides on the hosts' ``lr.init``.
    """
    params = parse_params(config.params)
    backend_name = config.experiment.backend
    backend = params.backend(backend_name)
    guest = config.guest.name
    hosts = [h.name for h in config.hosts]
    require_parties(transport, [guest, *hosts])
    seconds = dict(seconds or {})

    progress("phase", {"phase": "setup"})
    t = time.perf_counter()
    ex = _Exchanger(transport)
    keys = backend.keygen()
    seed = int(config.experiment.seed)
    init = {
        "backend": backend_name,
        "public": keys.public_bytes,
        "seed": seed,
        "params": params.model_dump_json(),
        "mask_bound": mask_bound(backend_name, len(hosts)),
    }
    commits = pending_commit or {}
    replies = ex([Envelope(p, "lr.init", {**init, **commits.get(p, {})}) for p in [guest, *hosts]])
    rows = {p: int(r.payload["n_rows"]) for p, r in replies.items()}
    if len(set(rows.values())) != 1:
        raise ProtocolError(
            f"parties disagree on the number of aligned rows: {rows}",
            hint="Re-run the alignment; every party must hold the same rows.",
        )
    n_aligned = rows[guest] if n_aligned is None else int(n_aligned)
    g0 = replies[guest].payload
    n_train, n_valid = int(g0["n_train"]), int(g0["n_valid"])
    nb = n_batches(n_train, params.batch_size)
    run = _Run(
        ex=ex,
        keys=keys,
        backend=backend_name,
        guest=guest,
        hosts=hosts,
        params=params,
        nb=nb,
        sizes=batch_sizes(n_train, params.batch_size),
        valid_idx=np.asarray(g0["valid_idx"], dtype=np.int64),
        guest_dh=bytes(g0["dh_pub"]),
        host_dh=[bytes(replies[h].payload["dh_pub"]) for h in hosts],
        progress=progress,
    )
    seconds["setup"] = time.perf_counter() - t
    if params.precompute_epochs:
        t = time.perf_counter()
        keys.precompute(n_train * params.precompute_epochs)
        seconds["offline"] = time.perf_counter() - t
    progress(
        "lr.setup",
        {
            "n_aligned": n_aligned,
            "n_train": n_train,
            "n_valid": n_valid,
            "batches_per_epoch": nb,
            "backend": backend_name,
            "sigmoid": params.sigmoid,
        },
    )

    progress("phase", {"phase": "train"})
    t = time.perf_counter()
    train_exchanges_start = ex.count
    (_train_exact if params.sigmoid == "exact" else _train_taylor)(run)
    train_exchanges = ex.count - train_exchanges_start
    seconds["train"] = time.perf_counter() - t

    progress("phase", {"phase": "evaluate"})
    t = time.perf_counter()
    finish: dict[str, Payload] = {p: {} for p in [guest, *hosts]}
    if not run.stopped:
        # last epoch: hosts apply their last gradient and report validation scores
        last = run.epochs_run - 1
        hr = ex(
            [
                Envelope(
                    h,
                    "lr.host_step",
                    {"grad": run.grads.pop(h), "report_valid": True, "valid_epoch": last},
                )
                for h in hosts
            ]
        )
        finish[guest] = {
            "grad": run.grads.pop(guest),
            "valid_epoch": last,
            "valid": _sum_arrays([hr[h].payload["valid"] for h in hosts]),
        }
    fr = ex([Envelope(p, "lr.finish", pl) for p, pl in finish.items()])
    gm = json.loads(str(fr[guest].payload["metrics"]))
    seconds["evaluate"] = time.perf_counter() - t
    if not run.stopped:
        progress("epoch", {"epoch": run.epochs_run, "loss": gm["loss"][-1]})

    epochs = int(gm["epochs"])
    metrics: dict[str, Any] = {
        "algorithm": "hetero_lr",
        "backend": backend_name,
        "sigmoid": params.sigmoid,
        "auc": gm["auc"],
        "ks": gm["ks"],
        "n_aligned": n_aligned,
        "n_train": n_train,
        "n_valid": n_valid,
        **{k: gm[k] for k in CURVE_KEYS if k in gm},
        "loss": gm["loss"],
        "epochs": epochs,
        "early_stopped": run.stopped,
        "batches_per_epoch": nb,
        "exchanges": ex.count + align_exchanges,
        "lr_exchanges": ex.count,
        "train_exchanges": train_exchanges,
        "exchanges_per_epoch": 3 * nb,
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
    }
    summary = {
        "algorithm": "hetero_lr",
        "backend": backend_name,
        "parties": {
            p: {
                "role": "guest" if p == guest else "host",
                "n_features": int(r.payload["n_features"]),
            }
            for p, r in fr.items()
        },
    }
    progress("lr.done", {"auc": gm["auc"], "ks": gm["ks"], "epochs": epochs})
    return ProtocolResult(metrics=metrics, model_summary=summary)


def _sum_arrays(arrays: Sequence[Any]) -> np.ndarray:
    out = np.zeros_like(np.asarray(arrays[0], dtype=np.float64))
    for a in arrays:
        out = out + np.asarray(a, dtype=np.float64)
    return out


__all__ = [
    "LrParams",
    "MODEL_FILE",
    "ModelPiece",
    "batch_plan",
    "drive",
    "load_piece",
    "n_batches",
    "parse_params",
    "save_piece",
    "train_aligned",
    "validation_split",
]
