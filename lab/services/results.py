"""Results as a reader may see them: a model version's headline figures and an
experiment's loss per epoch, released at k (lab.services.disclosure).

SDK, CLI and sandbox call these (and the model library's reads, which release the
metrics they return), so the three show the same figures. What it reveals, to whom: to
the acting user, within the access rules, aggregates of at least k enterprises only; the
counts that decide whether a loss may be shown are read here and not returned.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from lab.models import ExperimentStatus, ModelVersion
from lab.services import experiments, models_library
from lab.services.access import Action, Principal, Resource, Scope, allowed
from lab.services.disclosure import LossCurve, headline_metrics, loss_curve, min_cell


def _stored_metrics(
    session: Session, actor: Principal, experiment_id: int
) -> dict[str, Any] | None:
    """The metrics of the experiment's model version as stored (the counts behind a loss),
    or None when there is none or the actor may not read it; never returned to a caller."""
    mv = session.exec(
        select(ModelVersion).where(ModelVersion.experiment_id == experiment_id)
    ).first()
    if mv is None or not allowed(
        actor, Resource.MODEL, Action.READ, Scope(owner_org_id=mv.owner_org_id)
    ):
        return None
    return dict(mv.metrics)


def experiment_loss(
    *, session: Session, actor: Principal, experiment_id: int, k: int | None = None
) -> LossCurve:
    """The experiment's loss per epoch (epochs and SecureBoost trees, in order), shown only
    when it is known to be computed on at least k enterprises (from the progress the run
    recorded and, once it succeeded, its model's counts)."""
    exp = experiments.get_experiment(session=session, actor=actor, experiment_id=experiment_id)
    metrics = (
        _stored_metrics(session, actor, experiment_id)
        if ExperimentStatus(exp.status) is ExperimentStatus.SUCCEEDED
        else None
    )
    return loss_curve(exp.progress, metrics, min_cell(k))


def model_headline(
    *, session: Session, actor: Principal, model_id: int, k: int | None = None
) -> dict[str, Any]:
    """AUC, KS and sizes of a model version at k (None where suppressed)."""
    k = min_cell(k)
    mv = models_library.get_model(session=session, actor=actor, model_id=model_id, k=k)
    return headline_metrics(mv, k)


__all__ = ["experiment_loss", "model_headline"]
