"""The model library (模型库): versions with metrics, lineage and per-party artifact
locations; status candidate → published → retired.

Public views carry metrics, ROC points (aggregates), lineage and the party names; where a
party keeps its piece of the model (artifact location) stays in the catalog for operators.
The reads release the metrics at k (lab.services.disclosure: sizes below k, and AUC/KS
measured on fewer than k validation enterprises, become None), the same for SDK, CLI and
sandbox; ``k`` defaults to the lab setting ``FEDLAB_MIN_CELL``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from lab.audit import append_event
from lab.errors import ConfigError, NotFoundError, StateTransitionError
from lab.models import Experiment, ModelStatus, ModelVersion, ModelVersionPublic, row_id, utcnow
from lab.services.access import Action, Principal, Resource, Scope, allowed, require
from lab.services.disclosure import min_cell, release_model


def to_public(mv: ModelVersion) -> ModelVersionPublic:
    """The public view with the metrics as stored (not yet released at k)."""
    return ModelVersionPublic.model_validate(mv, update={"parties": sorted(mv.artifacts)})


def released(mv: ModelVersion, k: int | None = None) -> ModelVersionPublic:
    """The public view with its metrics released at k (default: the lab setting)."""
    return release_model(to_public(mv), min_cell(k))


def register_model_version(
    *,
    session: Session,
    actor: Principal,
    experiment: Experiment,
    name: str,
    algorithm: str,
    metrics: dict[str, Any],
    roc: dict[str, list[float]],
    lineage: dict[str, Any],
    artifacts: dict[str, str],
) -> ModelVersion:
    """A candidate version for a finished experiment (runner only)."""
    require(actor, Resource.EXPERIMENT, Action.RUN)
    last = session.exec(
        select(func.max(ModelVersion.version)).where(ModelVersion.name == name)
    ).one()
    mv = ModelVersion(
        name=name,
        version=(last or 0) + 1,
        algorithm=algorithm,
        metrics=metrics,
        roc=roc,
        lineage=lineage,
        artifacts=artifacts,
        experiment_id=experiment.id or 0,
        owner_org_id=experiment.owner_org_id,
    )
    session.add(mv)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="model.register",
        object_type="model",
        object_id=mv.id or "",
        details={
            "name": name,
            "version": mv.version,
            "experiment": experiment.id,
            "metrics": _scalar_metrics(metrics),
        },
    )
    return mv


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float | str)}


def _row(session: Session, actor: Principal, model_id: int, action: Action) -> ModelVersion:
    mv = session.get(ModelVersion, model_id)
    if mv is None:
        raise NotFoundError(f"no model version with id {model_id}")
    scope = Scope(owner_org_id=mv.owner_org_id)
    require(actor, Resource.MODEL, Action.READ, scope, what=f"model {model_id}")
    if action is not Action.READ:
        require(actor, Resource.MODEL, action, scope, what=f"model {model_id}")
    return mv


def get_model(
    *, session: Session, actor: Principal, model_id: int, k: int | None = None
) -> ModelVersionPublic:
    return released(_row(session, actor, model_id, Action.READ), k)


def model_for_experiment(
    *, session: Session, actor: Principal, experiment_id: int, k: int | None = None
) -> ModelVersionPublic | None:
    mv = session.exec(
        select(ModelVersion).where(ModelVersion.experiment_id == experiment_id)
    ).first()
    if mv is None:
        return None
    return get_model(session=session, actor=actor, model_id=row_id(mv), k=k)


def list_models(
    *,
    session: Session,
    actor: Principal,
    status: ModelStatus | str | None = None,
    k: int | None = None,
) -> list[ModelVersionPublic]:
    stmt = select(ModelVersion).order_by(col(ModelVersion.id))
    if status is not None:
        try:
            wanted = ModelStatus(status)
        except ValueError:
            raise ConfigError(
                f"{status!r} is not a model status; one of {[x.value for x in ModelStatus]}"
            ) from None
        stmt = stmt.where(ModelVersion.status == wanted)
    return [
        released(m, k)
        for m in session.exec(stmt).all()
        if allowed(actor, Resource.MODEL, Action.READ, Scope(owner_org_id=m.owner_org_id))
    ]


def publish_model(
    *, session: Session, actor: Principal, model_id: int, reason: str = "", k: int | None = None
) -> ModelVersionPublic:
    mv = _row(session, actor, model_id, Action.PUBLISH)
    if ModelStatus(mv.status) is not ModelStatus.CANDIDATE:
        raise StateTransitionError(
            f"model {model_id} is {ModelStatus(mv.status).value}; only a candidate can be published"
        )
    mv.status = ModelStatus.PUBLISHED
    mv.published_at = utcnow()
    mv.published_by = actor.user_id
    session.add(mv)
    append_event(
        session,
        actor=actor.label,
        action="model.publish",
        object_type="model",
        object_id=model_id,
        details={"name": mv.name, "version": mv.version, "reason": reason},
    )
    return released(mv, k)


def retire_model(
    *, session: Session, actor: Principal, model_id: int, reason: str, k: int | None = None
) -> ModelVersionPublic:
    mv = _row(session, actor, model_id, Action.PUBLISH)
    if ModelStatus(mv.status) is ModelStatus.RETIRED:
        raise StateTransitionError(f"model {model_id} is already retired")
    mv.status = ModelStatus.RETIRED
    mv.retired_at = utcnow()
    session.add(mv)
    append_event(
        session,
        actor=actor.label,
        action="model.retire",
        object_type="model",
        object_id=model_id,
        details={"name": mv.name, "version": mv.version, "reason": reason},
    )
    return released(mv, k)


__all__ = [
    "get_model",
    "list_models",
    "model_for_experiment",
    "publish_model",
    "register_model_version",
    "released",
    "retire_model",
    "to_public",
]
