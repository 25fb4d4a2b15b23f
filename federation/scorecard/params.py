"""``[params]`` of a scorecard experiment and of its federated binning (public values).

The coordinator validates them and sends the binning parameters to every party in
``woe.bin``, the selection thresholds in ``sc.select``, the points scale in ``sc.points``
and the LR parameters in ``lr.init``: every party learns the same public values.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crypto.errors import ConfigError
from features import scorecard as S
from federation.hetero_lr.params import LrParams
from federation.hetero_lr.params import parse_params as parse_lr_params


class WoeParams(BaseModel):
    """Binning parameters (part of ``[params]`` of a scorecard experiment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_fine_bins: int = Field(20, ge=2, le=200, description="host quantile bins before merging")
    max_bins: int = Field(8, ge=1, le=50, description="final bins per feature (+ missing)")
    min_bin_size: int = Field(50, ge=1, description="fewest aligned rows in any revealed bin")
    monotonic: bool = True
    key_bits: int = Field(2048, ge=1024)
    publish_feature_names: list[str] = Field(
        default_factory=list,
        description="hosts whose column names the guest and the report may show",
    )
    share_woe: bool = True
    label_backend: Literal["paillier", "plaintext"] = "paillier"


def parse_woe_params(raw: dict[str, Any]) -> WoeParams:
    try:
        return WoeParams.model_validate(raw)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid WOE binning [params]: {errs}") from None


class ScorecardLrParams(LrParams):
    """``[params.lr]`` of a scorecard: hetero LR's keys, with defaults for WOE columns.

    WOE values are already on the log-odds scale, so a scorecard's LR takes full steps
    (learning rate 1.0) and needs more epochs than LR on standardised raw columns to reach
    the optimum: with hetero LR's own defaults (10 epochs, 0.15) the points stay near zero,
    the scores bunch below the base score and the best grades stay empty.
    """

    epochs: int = Field(30, ge=1, le=10_000, description="maximum number of epochs")
    learning_rate: float = Field(1.0, gt=0, description="step size (WOE columns: log-odds scale)")
    tol: float = Field(1e-6, ge=0, description="stop when the validation loss moves less")


class ScorecardParams(BaseModel):
    """``[params]`` of a scorecard experiment (binning keys as in ``WoeParams``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    binning: WoeParams = Field(default_factory=lambda: WoeParams.model_validate({}))
    iv_min: float = Field(0.02, ge=0)
    corr_max: float = Field(0.7, gt=0, le=1)
    max_features: int | None = Field(None, ge=1, description="per party")
    scaling: Literal["auto", "fixed"] = Field(
        "auto",
        description="points scale: auto (fitted to the model's validation scores so that "
        "they spread over min_score-max_score; base score, odds and PDO are then fitted) or "
        "fixed (base_score at base_odds, pdo); a config that gives any of those three and "
        "no scaling is fixed",
    )
    base_score: float = 600.0
    base_odds: float = Field(15.0, gt=0)
    pdo: float = Field(40.0, gt=0)
    min_score: float = 400.0
    max_score: float = 700.0
    lr: ScorecardLrParams = Field(default_factory=lambda: ScorecardLrParams.model_validate({}))

    @property
    def auto_scale(self) -> bool:
        """Whether the points scale is fitted to the model (``scaling = "auto"``)."""
        if "scaling" in self.model_fields_set:
            return self.scaling == "auto"
        return not (_FIXED_KEYS & self.model_fields_set)

    def points_scale(self) -> S.Scaling:
        """The configured scale (with ``auto``: its range; base score, odds and PDO are
        fitted after the LR)."""
        return S.Scaling(self.base_score, self.base_odds, self.pdo, self.min_score, self.max_score)


_FIXED_KEYS = {"base_score", "base_odds", "pdo"}


_WOE_KEYS = set(WoeParams.model_fields)


def parse_scorecard_params(raw: dict[str, Any]) -> ScorecardParams:
    """Binning keys (``n_fine_bins``, ``max_bins``, ``min_bin_size``, ...) sit at the top
    of ``[params]`` or in ``[params.binning]`` (the lab's ``binning.max_bins``); LR keys
    under ``[params.lr]``; ``key_bits`` applies to both."""
    raw = dict(raw)
    section = raw.pop("binning", None) or {}
    if not isinstance(section, dict):
        raise ConfigError(
            f"invalid scorecard [params]: binning must be a section "
            f"([params.binning]), got {type(section).__name__}"
        )
    binning = {k: raw.pop(k) for k in list(raw) if k in _WOE_KEYS}
    both = sorted(set(section) & set(binning))
    if both:
        raise ConfigError(
            f"invalid scorecard [params]: {both} given both at the top of "
            "[params] and in [params.binning]",
            hint="Give each key once.",
        )
    binning = {**section, **binning}
    if "key_bits" in binning:
        raw.setdefault("lr", {})
        raw["lr"] = {"key_bits": binning["key_bits"], **raw["lr"]}
    try:
        p = ScorecardParams.model_validate({**raw, "binning": binning})
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid scorecard [params]: {errs}") from None
    parse_lr_params(p.lr.model_dump())  # the same checks as a hetero LR run's
    p.points_scale()
    defaults = ScorecardParams.model_validate({})
    given = sorted(
        k for k in _FIXED_KEYS & p.model_fields_set if getattr(p, k) != getattr(defaults, k)
    )
    if p.auto_scale and given:
        raise ConfigError(
            f'invalid scorecard [params]: scaling = "auto" fits the points scale to the '
            f"model, but {given} fix it",
            hint='Drop those keys, or set scaling = "fixed".',
        )
    return p


__all__ = [
    "ScorecardLrParams",
    "ScorecardParams",
    "WoeParams",
    "parse_scorecard_params",
    "parse_woe_params",
]
