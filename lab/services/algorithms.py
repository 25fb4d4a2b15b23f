"""The algorithm library (算法库): algorithms, their parameter schemas, parameter
validation against a schema, and the cryptographic backends an algorithm runs with.

The ``plaintext`` backend (no encryption) is offered and accepted only in a lab of local
trials (``FEDLAB_ENVIRONMENT=local``, the default of a lab on one machine); a staging or
production lab refuses it when an experiment is created, submitted or approved
(:func:`require_backend`, :class:`~lab.errors.PlaintextBackendError`). Whatever the lab,
the federation runs it on the local runtime only (``federation.run``).

Revealed to whom: algorithm metadata (names, versions, schemas) to every reader; no data.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from federation.algorithms import backends_for as _backends_for
from federation.algorithms import is_trial_backend
from lab.audit import append_event
from lab.errors import ConfigError, NotFoundError, PlaintextBackendError
from lab.models import (
    Algorithm,
    AlgorithmCreate,
    AlgorithmPublic,
)
from lab.services.access import Action, Principal, Resource, require

PARAM_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _check_schema(name: str, schema: dict[str, dict[str, Any]]) -> None:
    for pname, spec in schema.items():
        ptype = spec.get("type")
        if ptype not in PARAM_TYPES:
            raise ConfigError(
                f"algorithm {name!r}: parameter {pname!r} has type {ptype!r}; "
                f"use one of {sorted(PARAM_TYPES)}"
            )
        if "default" in spec:
            validate_params(name, schema, {pname: spec["default"]}, fill_defaults=False)


def create_algorithm(
    *, session: Session, actor: Principal, algorithm_in: AlgorithmCreate
) -> AlgorithmPublic:
    require(actor, Resource.ALGORITHM, Action.CREATE)
    _check_schema(algorithm_in.name, algorithm_in.param_schema)
    if session.exec(
        select(Algorithm).where(
            Algorithm.name == algorithm_in.name, Algorithm.version == algorithm_in.version
        )
    ).first():
        raise ConfigError(
            f"algorithm {algorithm_in.name!r} version {algorithm_in.version!r} already exists"
        )
    algo = Algorithm.model_validate(algorithm_in)
    session.add(algo)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="create",
        object_type="algorithm",
        object_id=algo.id or "",
        details={"name": algo.name, "version": algo.version},
    )
    return AlgorithmPublic.model_validate(algo)


def list_algorithms(*, session: Session, actor: Principal) -> list[AlgorithmPublic]:
    require(actor, Resource.ALGORITHM, Action.READ)
    return [
        AlgorithmPublic.model_validate(a)
        for a in session.exec(select(Algorithm).order_by(Algorithm.name, col(Algorithm.id))).all()
    ]


def get_algorithm_row(session: Session, name: str, version: str | None = None) -> Algorithm:
    stmt = select(Algorithm).where(Algorithm.name == name)
    if version is not None:
        stmt = stmt.where(Algorithm.version == version)
    algo = session.exec(stmt.order_by(col(Algorithm.id).desc())).first()
    if algo is None:
        known = sorted(set(session.exec(select(Algorithm.name)).all()))
        raise NotFoundError(
            f"unknown algorithm {name!r}"
            + (f" version {version!r}" if version else "")
            + f"; the algorithm library has {known}"
        )
    return algo


def validate_params(
    algorithm: str,
    schema: dict[str, dict[str, Any]],
    params: dict[str, Any],
    *,
    fill_defaults: bool = True,
) -> dict[str, Any]:
    """Check ``params`` against ``schema`` (type, min/max, choices); return them with defaults.

    Raises :class:`ConfigError` quoting the parameter, the bad value and the allowed range.
    """
    unknown = sorted(set(params) - set(schema))
    if unknown:
        raise ConfigError(
            f"algorithm {algorithm!r} has no parameter(s) {unknown}; it takes {sorted(schema)}"
        )
    out: dict[str, Any] = {}
    for pname, spec in schema.items():
        if pname not in params:
            if fill_defaults and "default" in spec:
                out[pname] = spec["default"]
            elif fill_defaults and spec.get("required", False):
                raise ConfigError(f"algorithm {algorithm!r}: parameter {pname!r} is required")
            continue
        value = params[pname]
        ptype = spec["type"]
        if ptype == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        expected = PARAM_TYPES[ptype]
        if isinstance(value, bool) and ptype != "bool" or not isinstance(value, expected):
            raise ConfigError(
                f"algorithm {algorithm!r}: parameter {pname!r} must be {ptype}, got {value!r}"
            )
        _check_bounds(algorithm, pname, spec, value)
        if "choices" in spec and value not in spec["choices"]:
            raise ConfigError(
                f"algorithm {algorithm!r}: parameter {pname!r}={value!r} is not "
                f"one of {spec['choices']}"
            )
        out[pname] = value
    return out


def _check_bounds(algorithm: str, pname: str, spec: dict[str, Any], value: Any) -> None:
    """``value`` within the entry's bounds (``min_exclusive``/``max_exclusive``: open ends)."""
    lo, hi = spec.get("min"), spec.get("max")
    lo_open, hi_open = spec.get("min_exclusive", False), spec.get("max_exclusive", False)
    if (lo is not None and (value <= lo if lo_open else value < lo)) or (
        hi is not None and (value >= hi if hi_open else value > hi)
    ):
        raise ConfigError(
            f"algorithm {algorithm!r}: parameter {pname!r}={value!r} is out of "
            f"bounds {'(' if lo_open else '['}{lo if lo is not None else '-inf'}, "
            f"{hi if hi is not None else 'inf'}{')' if hi_open else ']'}"
        )


def trials_allowed() -> bool:
    """Whether this lab runs local trials (``FEDLAB_ENVIRONMENT=local``): only there may
    an experiment use ``plaintext``."""
    from lab.settings import get_settings

    return get_settings().environment == "local"


def backends_for(algorithm: str) -> tuple[str, ...]:
    """The cryptographic backends ``algorithm`` runs with (every backend for a plugin
    algorithm) that this lab accepts: the choices an experiment form offers, and the ones
    it is checked against (``plaintext`` only in a lab of local trials)."""
    found = _backends_for(algorithm)
    if trials_allowed():
        return found
    return tuple(b for b in found if not is_trial_backend(algorithm, b))


def require_backend(algorithm: str, backend: str, *, what: str) -> None:
    """Refuse ``plaintext`` for ``what`` (an experiment) outside a lab of local trials."""
    if is_trial_backend(algorithm, backend) and not trials_allowed():
        from lab.settings import get_settings

        raise PlaintextBackendError(
            f"{what}: backend 'plaintext' sends every party's {algorithm} values in the "
            f"clear; this lab runs with FEDLAB_ENVIRONMENT={get_settings().environment}, "
            "and only a lab of local trials (FEDLAB_ENVIRONMENT=local) accepts it"
        )


__all__ = [
    "PARAM_TYPES",
    "backends_for",
    "create_algorithm",
    "get_algorithm_row",
    "list_algorithms",
    "require_backend",
    "trials_allowed",
    "validate_params",
]
