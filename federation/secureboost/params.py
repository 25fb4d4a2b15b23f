"""SecureBoost's ``[params]``: the options every party and the coordinator read.

Nothing here is revealed to anyone beyond the experiment's configuration, which every party
and the coordinator hold alike; what each option changes in what is revealed is in
docs/protocols/secureboost.md.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crypto.errors import ConfigError

Backend = Literal["paillier", "plaintext"]


class SecureBoostParams(BaseModel):
    """``[params]`` of an ``algorithm = "secureboost"`` experiment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_trees: int = Field(50, ge=1, le=10_000)
    max_depth: int = Field(5, ge=1, le=12)
    learning_rate: float = Field(0.3, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    gamma: float = Field(0.0, ge=0)
    min_child_weight: float = Field(1.0, ge=0)
    max_bins: int = Field(32, ge=2, le=254)
    subsample: float = Field(1.0, gt=0, le=1)
    colsample: float = Field(1.0, gt=0, le=1)
    validation_fraction: float = Field(0.2, ge=0, lt=1)
    early_stopping_rounds: int = Field(0, ge=0)
    scale_pos_weight: float = Field(1.0, gt=0)
    guest_only_first_trees: int = Field(0, ge=0)
    key_bits: int = Field(2048, ge=1024, description="Paillier modulus size")
    randomness_bits: int = Field(256, ge=128)
    precision_bits: int = Field(24, ge=8, le=36)
    publish_feature_names: list[str] = Field(default_factory=list)
    workers: int = Field(2, ge=1, le=64)  # >1: worker processes (guest randomness, host sums)


def parse_params(raw: dict[str, Any]) -> SecureBoostParams:
    """Validate ``[params]``; a :class:`~crypto.errors.ConfigError` names every bad field."""
    try:
        return SecureBoostParams.model_validate(raw)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid secureboost [params]: {errs}") from None


def n_active(params: SecureBoostParams, n_train: int) -> int:
    """Active rows per tree (row subsample)."""
    if params.subsample >= 1.0:
        return int(n_train)
    return max(1, int(round(params.subsample * n_train)))


__all__ = ["Backend", "SecureBoostParams", "n_active", "parse_params"]
