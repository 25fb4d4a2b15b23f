"""``[params]`` of a hetero LR experiment: the public training parameters.

The coordinator validates them and sends them to every party in ``lr.init``; every party
and the coordinator learn the same values (nothing here is secret).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crypto.errors import ConfigError
from federation.hetero_lr.backends import LrBackend, get_backend
from federation.param_checks import check_batch_size, check_ckks_profile


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
        return check_batch_size(v)

    @field_validator("ckks_profile")
    @classmethod
    def _profile(cls, v: str) -> str:
        return check_ckks_profile(v)

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


__all__ = ["LrParams", "parse_params"]
