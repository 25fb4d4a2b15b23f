"""``[params]`` of a horizontal experiment (``homo_lr`` / ``homo_nn``) and what follows from them.

The coordinator validates the parameters and sends them, as JSON, to every bank with
``homo.init``; every bank builds the same model spec and local training configuration from
them. Nothing here is secret, and nothing of any bank's data is read: the parameters are
the experiment's own, known to the coordinator and to every bank alike.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crypto.errors import ConfigError
from federation.config import ExperimentConfig
from federation.homo.models import ModelSpec, TrainConfig
from federation.homo.secaggplus import SecAggPlusParams
from federation.param_checks import check_batch_size, check_ckks_profile

ALGORITHMS = ("homo_lr", "homo_nn")
BACKENDS = ("ckks", "plaintext", "masked", "secaggplus")
#: updates are weighted by n_k / WEIGHT_UNIT (keeps CKKS values well inside their bound)
WEIGHT_UNIT = 1000.0
#: |[1, mean z, mean z^2]| <= 1 for the statistics (z = x / 10^c with 10^c >= max |x|)
STATS_BOUND = 1.0


class HomoParams(BaseModel):
    """``[params]`` of a horizontal experiment: the fields ``homo_lr`` and ``homo_nn`` share.

    Each algorithm parses its ``[params]`` with its own model (:class:`HomoLrParams`,
    :class:`HomoNnParams`), which sets the defaults that fit it; the banks receive the
    coordinator's full parameter set and parse it with this base model.
    """

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

    @field_validator("batch_size")
    @classmethod
    def _batch(cls, v: int) -> int:
        return check_batch_size(v)

    @field_validator("ckks_profile")
    @classmethod
    def _profile(cls, v: str) -> str:
        return check_ckks_profile(v)


class HomoLrParams(HomoParams):
    """``homo_lr``'s defaults: full-batch Adam, 20 local steps per round, 10 rounds.

    On the Taiwan default data over 4 banks and on the synthetic banks (heavy-tailed
    amounts) they reach, with every backend, the AUC of the pooled rows' logistic
    regression within 0.01 (``benchmarks/homo_pooled.py``); mini-batch SGD stalls short of
    it on the synthetic banks.
    """

    rounds: int = Field(10, ge=1, le=100_000)
    local_epochs: int = Field(20, ge=1)
    batch_size: int = Field(-1, description="-1 = full batch")
    learning_rate: float = Field(0.05, gt=0)
    optimizer: Literal["sgd", "adam"] = "adam"


class HomoNnParams(HomoParams):
    """``homo_nn``'s defaults: Adam at learning rate 0.01, batches of 128, 10 rounds
    (SGD at 0.05 reached AUC 0.39 through the lab)."""

    rounds: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(128, description="-1 = full batch")
    learning_rate: float = Field(0.01, gt=0)
    optimizer: Literal["sgd", "adam"] = "adam"


#: each horizontal algorithm's parameter model (the registry names them too)
MODELS: dict[str, type[HomoParams]] = {"homo_lr": HomoLrParams, "homo_nn": HomoNnParams}


def parse_params(raw: dict[str, Any], algorithm: str | None = None) -> HomoParams:
    """``raw`` parsed by ``algorithm``'s model (None: the shared base, for tests)."""
    model = MODELS.get(algorithm, HomoParams) if algorithm else HomoParams
    try:
        return model.model_validate(raw)
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


def model_kind(algorithm: str) -> Literal["lr", "mlp"]:
    return "lr" if algorithm == "homo_lr" else "mlp"


def _kind(kind: str) -> Literal["lr", "mlp"]:
    if kind == "lr":
        return "lr"
    if kind == "mlp":
        return "mlp"
    raise ConfigError(f"unknown homo model kind {kind!r}; use 'lr' or 'mlp'")


def model_spec(kind: str, n_numeric: int, n_cat: int, params: HomoParams) -> ModelSpec:
    return ModelSpec(
        kind=_kind(kind),
        n_numeric=n_numeric,
        cat_buckets=tuple([params.buckets] * n_cat),
        embedding_dim=params.embedding_dim,
        hidden=tuple(params.hidden),
    )


def train_config(params: HomoParams, *, epochs: int | None = None) -> TrainConfig:
    return TrainConfig(
        epochs=epochs or params.local_epochs,
        batch_size=params.batch_size,
        learning_rate=params.learning_rate,
        optimizer=params.optimizer,
        momentum=params.momentum,
        weight_decay=params.weight_decay,
        mu=params.mu,
    )


__all__ = [
    "ALGORITHMS",
    "BACKENDS",
    "STATS_BOUND",
    "WEIGHT_UNIT",
    "MODELS",
    "HomoLrParams",
    "HomoNnParams",
    "HomoParams",
    "model_kind",
    "model_spec",
    "parse_params",
    "resolve_backend",
    "train_config",
]
