"""The algorithm registry: one entry per algorithm, the single source of what it is.

An :class:`AlgorithmSpec` names an algorithm's coordinator driver, the modules that hold
its party handlers, the backends it runs with (recommended first), its topology (vertical:
one guest with the label and hosts with features; horizontal: banks with the same columns;
guest-only: a job at one bank) and its pydantic parameter model with defaults and bounds.
From it come the experiment config's validation (``federation.config`` parses ``[params]``
with the model when the config is read, before any party is contacted), the catalog's
算法库 entries (``lab.seed`` files :func:`catalog_entry`) and the sandbox's parameter forms
(generated from that catalog schema).

Nothing here touches data: the registry is metadata every party and the lab may read.
Drivers and parameter models are named as ``"module:attribute"`` and imported on first use,
so reading the registry does not load torch or the crypto stacks.

Plugin algorithms (modules named in ``FEDLAB_PROTOCOL_MODULES`` that declare ``ALGORITHM``
and ``drive``, optionally ``PARAMS``, ``BACKENDS`` and ``KIND``) join the registry when
:func:`load_plugins` runs; without ``PARAMS`` their ``[params]`` are passed through as given.
"""

from __future__ import annotations

import importlib
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from crypto.errors import ConfigError

Kind = Literal["vertical", "horizontal", "guest_only"]
#: Every backend name an experiment may give (an algorithm accepts a subset).
ALL_BACKENDS: tuple[str, ...] = ("paillier", "ckks", "plaintext", "masked", "secaggplus")
#: The environment variable naming extra protocol modules (comma-separated).
PLUGIN_ENV = "FEDLAB_PROTOCOL_MODULES"


class AlignmentParams(BaseModel):
    """``[params]`` keys that the PSI alignment of every vertical algorithm reads."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id_kind: Literal["uscc", "opaque"] | None = Field(
        None, description="uscc: IDs are unified social credit codes (checked); default by name"
    )
    cardinality_only: bool = Field(
        False, description="stop after PSI with intersection sizes only (no rows aligned)"
    )


#: The keys of :class:`AlignmentParams`, taken out of ``[params]`` before the algorithm's
#: own model sees them.
ALIGNMENT_KEYS = frozenset(AlignmentParams.model_fields)


def _load(target: str) -> Any:
    mod_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(mod_name), attr)


@dataclass(frozen=True)
class AlgorithmSpec:
    """One algorithm: what runs it, who takes part, which backends, which parameters.

    ``params`` and ``parse`` name the pydantic model and (optionally) a function that turns
    a raw ``[params]`` table into it (for algorithms whose tables have aliases); ``sections``
    names models for ``dict``-typed parameters that another algorithm parses (the
    scorecard's ``lr``). ``choices`` narrows a parameter to the values the lab offers (the
    model may accept more for tests and configs). ``form`` lists the parameters a form
    shows first; the others are marked ``advanced`` in the catalog schema. ``hidden``
    parameters stay out of the catalog (configs and the SDK may still set them).
    """

    name: str
    kind: Kind
    title: str
    title_en: str
    description: str
    description_en: str
    backends: tuple[str, ...]
    driver: str
    party_modules: tuple[str, ...]
    params: str | None = None
    parse: str | None = None
    sections: Mapping[str, str] = field(default_factory=dict)
    form: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    choices: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    in_catalog: bool = True
    version: str = "1"
    plugin_driver: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    def load_driver(self) -> Callable[..., Any]:
        """The coordinator's driver (imported on first use)."""
        if self.plugin_driver is not None:
            return self.plugin_driver
        try:
            return _load(self.driver)  # type: ignore[no-any-return]
        except ModuleNotFoundError as exc:
            if exc.name and self.driver.startswith(exc.name):
                raise ConfigError(
                    f"algorithm {self.name!r} is not available in this build"
                ) from None
            raise

    def params_model(self) -> type[BaseModel] | None:
        """The pydantic model of ``[params]`` (None: a plugin without one)."""
        if self.params is None:
            return None
        model: type[BaseModel] = _load(self.params)
        return model

    def validate_params(self, raw: Mapping[str, Any]) -> BaseModel | None:
        """``raw`` parsed by the algorithm's model; :class:`ConfigError` names every bad key.

        A vertical algorithm's alignment keys (:data:`ALIGNMENT_KEYS`) are checked by
        :class:`AlignmentParams` and left out of the algorithm's own model.
        """
        if self.kind == "vertical":
            common = {k: v for k, v in raw.items() if k in ALIGNMENT_KEYS}
            _check(AlignmentParams, common, f"{self.name} [params]")
            raw = {k: v for k, v in raw.items() if k not in ALIGNMENT_KEYS}
        if self.parse is not None:
            return _load(self.parse)(dict(raw))  # type: ignore[no-any-return]
        model = self.params_model()
        return None if model is None else _check(model, raw, f"{self.name} [params]")

    def param_schema(self) -> dict[str, dict[str, Any]]:
        """The catalog's flat schema: ``{"binning.max_bins": {"type": "int", ...}}``."""
        model = self.params_model()
        if model is None:
            return {}
        out = _schema_of(model, "", {k: _load(v) for k, v in self.sections.items()})
        out = {k: v for k, v in out.items() if k not in self.hidden}
        for key, allowed in self.choices.items():
            if key in out:
                for bound in ("min", "max", "min_exclusive", "max_exclusive"):
                    out[key].pop(bound, None)
                out[key]["choices"] = list(allowed)
        first = [k for k in self.form if k in out]
        for key, spec in out.items():
            spec["advanced"] = key not in first
        return {k: out[k] for k in [*first, *(k for k in out if k not in first)]}


def _check(model: type[BaseModel], raw: Mapping[str, Any], what: str) -> BaseModel:
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid {what}: {errs}") from None


def _bounds(info: FieldInfo) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in info.metadata:
        if isinstance(m, annotated_types.Ge):
            out["min"] = m.ge
        elif isinstance(m, annotated_types.Gt):
            out["min"], out["min_exclusive"] = m.gt, True
        elif isinstance(m, annotated_types.Le):
            out["max"] = m.le
        elif isinstance(m, annotated_types.Lt):
            out["max"], out["max_exclusive"] = m.lt, True
    return out


_SCALARS: dict[Any, str] = {bool: "bool", int: "int", float: "float", str: "str"}


def _field_spec(info: FieldInfo) -> dict[str, Any] | None:
    """A scalar field as a schema entry; None for lists, dicts, unions and optional values."""
    ann = info.annotation
    if typing.get_origin(ann) is Literal:
        choices = list(typing.get_args(ann))
        kinds = {_SCALARS.get(type(c)) for c in choices}
        if len(kinds) != 1 or None in kinds:
            return None
        spec: dict[str, Any] = {"type": kinds.pop(), "choices": choices}
    elif ann in _SCALARS:
        spec = {"type": _SCALARS[ann], **_bounds(info)}
    else:
        return None
    if info.default_factory is not None or info.is_required():
        return None
    if info.default is None:
        return None
    spec["default"] = info.default
    if info.description:
        spec["help"] = info.description
    return spec


def _schema_of(
    model: type[BaseModel], prefix: str, sections: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = info.annotation
        sub = sections.get(key)
        if sub is None and isinstance(ann, type) and issubclass(ann, BaseModel):
            sub = ann
        if sub is not None:
            out.update(_schema_of(sub, f"{key}.", sections))
            continue
        spec = _field_spec(info)
        if spec is not None:
            out[key] = spec
    return out


#: Paillier modulus sizes the lab offers (1024 bits is for tests; configs may give others).
_KEY_BITS = {"key_bits": (1024, 2048, 3072)}
_LR_FORM = ("epochs", "learning_rate", "batch_size", "l2", "valid_fraction", "early_stopping")
_HOMO_FORM = ("rounds", "local_epochs", "learning_rate", "optimizer", "batch_size")
#: SecAgg+'s ranges are tied to each other (a power of two above the quantization): configs
#: only, not a form.
_HOMO_HIDDEN = ("secaggplus.modulus_range", "secaggplus.quantization_range")

ALGORITHMS: dict[str, AlgorithmSpec] = {}


def register_algorithm(spec: AlgorithmSpec) -> AlgorithmSpec:
    """Add ``spec`` to the registry; a second spec of the same name is an error."""
    if spec.name in ALGORITHMS and ALGORITHMS[spec.name] != spec:
        raise ConfigError(f"algorithm {spec.name!r} registered twice")
    ALGORITHMS[spec.name] = spec
    return spec


for _spec in (
    AlgorithmSpec(
        name="hetero_lr",
        kind="vertical",
        title="纵向逻辑回归",
        title_en="Vertical logistic regression",
        description="纵向联邦逻辑回归：协调方作仲裁，同态加密（Paillier 或 CKKS）保护梯度。",
        description_en="Vertical logistic regression, coordinator as arbiter (Paillier or CKKS).",
        backends=("paillier", "ckks", "plaintext"),
        driver="federation.hetero_lr:drive",
        party_modules=("federation.hetero_lr",),
        params="federation.hetero_lr.params:LrParams",
        form=(*_LR_FORM, "key_bits"),
        choices=_KEY_BITS,
    ),
    AlgorithmSpec(
        name="secureboost",
        kind="vertical",
        title="SecureBoost 梯度提升树",
        title_en="SecureBoost gradient-boosted trees",
        description="纵向梯度提升树：数据提供方只见到加密的梯度。",
        description_en="Vertical gradient-boosted trees; hosts see only encrypted gradients.",
        backends=("paillier", "plaintext"),
        driver="federation.secureboost:drive",
        party_modules=("federation.secureboost",),
        params="federation.secureboost.params:SecureBoostParams",
        form=(
            "n_trees",
            "max_depth",
            "learning_rate",
            "max_bins",
            "min_child_weight",
            "reg_lambda",
            "subsample",
            "colsample",
            "validation_fraction",
            "early_stopping_rounds",
            "key_bits",
        ),
        choices=_KEY_BITS,
    ),
    AlgorithmSpec(
        name="scorecard",
        kind="vertical",
        title="WOE/IV 评分卡",
        title_en="WOE/IV scorecard",
        description="联邦 WOE 分箱 + 逻辑回归，按 PDO 刻度换算为分数与等级。",
        description_en="Federated WOE binning + logistic regression, scaled to points.",
        backends=("paillier", "ckks", "plaintext"),
        driver="federation.scorecard:drive",
        party_modules=("federation.scorecard",),
        params="federation.scorecard.params:ScorecardParams",
        parse="federation.scorecard.params:parse_scorecard_params",
        form=(
            "binning.max_bins",
            "binning.min_bin_size",
            "iv_min",
            "corr_max",
            "scaling",
            "base_score",
            "pdo",
            "lr.epochs",
            "lr.learning_rate",
        ),
        # the LR's key size follows the binning's unless a config sets it (parse_scorecard_params)
        hidden=("lr.key_bits",),
        choices={"binning.key_bits": _KEY_BITS["key_bits"]},
    ),
    AlgorithmSpec(
        name="homo_lr",
        kind="horizontal",
        title="横向逻辑回归",
        title_en="Horizontal logistic regression",
        description="横向联邦逻辑回归（FedAvg），各银行更新以 CKKS 或安全聚合汇总。",
        description_en="Horizontal FedAvg logistic regression across banks.",
        backends=("ckks", "secaggplus", "masked", "plaintext"),
        driver="federation.homo:drive",
        party_modules=("federation.homo",),
        params="federation.homo.params:HomoLrParams",
        form=_HOMO_FORM,
        hidden=_HOMO_HIDDEN,
    ),
    AlgorithmSpec(
        name="homo_nn",
        kind="horizontal",
        title="横向神经网络",
        title_en="Horizontal neural network",
        description="横向联邦神经网络（FedAvg/FedProx），各银行更新以 CKKS 或安全聚合汇总。",
        description_en="Horizontal FedAvg/FedProx neural network across banks.",
        backends=("ckks", "secaggplus", "masked", "plaintext"),
        driver="federation.homo:drive",
        party_modules=("federation.homo",),
        params="federation.homo.params:HomoNnParams",
        form=(*_HOMO_FORM, "embedding_dim"),
        hidden=_HOMO_HIDDEN,
    ),
    AlgorithmSpec(
        name="sample_profile",
        kind="guest_only",
        title="样本统计",
        title_en="Sample count",
        description="银行在本方节点统计样本集（只发布不少于 k 家的汇总）。",
        description_en="A bank counts its sample set at its own node (aggregates over ≥ k).",
        backends=("plaintext",),
        driver="federation.sample_profile:drive",
        party_modules=("federation.sample_profile",),
        params="federation.sample_profile:ProfileParams",
        in_catalog=False,
    ),
):
    register_algorithm(_spec)


def plugin_modules() -> list[str]:
    """Module names listed in ``FEDLAB_PROTOCOL_MODULES``."""
    raw = os.environ.get(PLUGIN_ENV, "")
    return [m.strip() for m in raw.split(",") if m.strip()]


def _plugin_spec(mod: types.ModuleType) -> AlgorithmSpec | None:
    algo = getattr(mod, "ALGORITHM", None)
    if not algo or not hasattr(mod, "drive"):
        return None
    params = getattr(mod, "PARAMS", None)
    summary = (mod.__doc__ or "").strip().split("\n")[0]
    return AlgorithmSpec(
        name=str(algo),
        kind=getattr(mod, "KIND", "vertical"),
        title=str(algo),
        title_en=str(algo),
        description=summary,
        description_en=summary,
        backends=tuple(getattr(mod, "BACKENDS", ALL_BACKENDS)),
        driver=f"{mod.__name__}:drive",
        party_modules=(mod.__name__,),
        params=None if params is None else f"{mod.__name__}:{params.__name__}",
        in_catalog=False,
        plugin_driver=mod.drive,
    )


def load_plugins() -> list[str]:
    """Import the plugin modules and register the algorithms they declare."""
    names = plugin_modules()
    for name in names:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"protocol module {name!r} named in {PLUGIN_ENV} cannot be imported: {exc}"
            ) from None
        spec = _plugin_spec(mod)
        if spec is not None and spec.name not in ALGORITHMS:
            register_algorithm(spec)
    return names


def algorithm_names() -> list[str]:
    """Every registered algorithm (built-in and plugin), sorted."""
    if plugin_modules():
        load_plugins()
    return sorted(ALGORITHMS)


def get_algorithm(name: str) -> AlgorithmSpec:
    """The registry entry of ``name``; :class:`ConfigError` lists the known ones."""
    if name not in ALGORITHMS and plugin_modules():
        load_plugins()
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ConfigError(
            f"unknown algorithm {name!r}; known: {algorithm_names()}",
            hint="Choose one of the algorithm library's entries (fedlab lab algorithms).",
        ) from None


def backends_for(name: str) -> tuple[str, ...]:
    """The backends ``name`` runs with, the recommended one first."""
    return get_algorithm(name).backends


def is_trial_backend(name: str, backend: str) -> bool:
    """Whether ``backend`` is only for local trials with algorithm ``name``: ``plaintext``
    where the algorithm has a protected backend (every party's values would cross in the
    clear). An algorithm whose only backend is ``plaintext`` (a count at one bank) is not
    affected."""
    return backend == "plaintext" and any(b != "plaintext" for b in backends_for(name))


def catalog_entry(name: str) -> dict[str, Any]:
    """The 算法库 row of ``name``: name, version, kind, description, parameter schema."""
    spec = get_algorithm(name)
    return {
        "name": spec.name,
        "version": spec.version,
        "kind": spec.kind,
        "description": f"{spec.description} / {spec.description_en}",
        "param_schema": spec.param_schema(),
    }


def catalog_algorithms() -> list[str]:
    """The algorithms the lab's 算法库 lists (jobs such as sample counts are not)."""
    return [n for n, s in ALGORITHMS.items() if s.in_catalog]


__all__ = [
    "ALGORITHMS",
    "ALIGNMENT_KEYS",
    "ALL_BACKENDS",
    "AlgorithmSpec",
    "AlignmentParams",
    "Kind",
    "PLUGIN_ENV",
    "algorithm_names",
    "backends_for",
    "catalog_algorithms",
    "catalog_entry",
    "get_algorithm",
    "is_trial_backend",
    "load_plugins",
    "plugin_modules",
    "register_algorithm",
]
