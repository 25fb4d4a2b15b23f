"""Catalog state backed by its records: every state an experiment or a model version has
reached must rest on the rows and audit events that allow it.

A change made by SQL past the services (``UPDATE experiment SET status = 'approved'``, a
model marked published) writes no approval row and no audit event; :func:`check_state`
finds it:

* an experiment that is approved or went on (queued, running, succeeded) has an approval
  row decided ``approved`` by platform staff (or an admin), and the audit event
  of its transition to ``approved``;
* a published model version has its publisher and its ``model.publish`` audit event;
* a model version's experiment succeeded.

Revealed to whom: staff who verify the audit see which objects disagree (ids and states).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from lab.models import (
    Approval,
    AuditEvent,
    Decision,
    Experiment,
    ExperimentStatus,
    ModelStatus,
    ModelVersion,
    User,
)
from lab.services.access import STAFF

S = ExperimentStatus
PAST_APPROVAL = (S.APPROVED, S.QUEUED, S.RUNNING, S.SUCCEEDED)


def _events(session: Session, object_type: str, action: str) -> set[str]:
    rows = session.exec(
        select(AuditEvent.object_id).where(
            AuditEvent.object_type == object_type, AuditEvent.action == action
        )
    ).all()
    return set(rows)


def check_state(session: Session) -> list[str]:
    """One line per object whose state no record backs ([] = every state is backed)."""
    problems: list[str] = []
    staff = {u.id for u in session.exec(select(User)).all() if u.role in STAFF}
    approvals = session.exec(select(Approval).where(Approval.decision == Decision.APPROVED)).all()
    approved_by_staff = {a.experiment_id for a in approvals if a.decided_by in staff}
    approved_events = _events(session, "experiment", f"experiment.{S.APPROVED.value}")
    exps = session.exec(select(Experiment).where(col(Experiment.status).in_(PAST_APPROVAL))).all()
    for exp in exps:
        what = f"experiment {exp.id} is {ExperimentStatus(exp.status).value}"
        if exp.id not in approved_by_staff:
            problems.append(f"{what} without an approval by platform staff")
        elif str(exp.id) not in approved_events:
            problems.append(f"{what} without the audit event of its approval")
    succeeded = {
        e.id for e in session.exec(select(Experiment).where(Experiment.status == S.SUCCEEDED))
    }
    published_events = _events(session, "model", "model.publish")
    for mv in session.exec(select(ModelVersion)).all():
        what = f"model {mv.id} ({mv.name} v{mv.version})"
        if mv.experiment_id not in succeeded:
            problems.append(
                f"{what} belongs to experiment {mv.experiment_id}, which did not succeed"
            )
        if ModelStatus(mv.status) is ModelStatus.PUBLISHED and (
            mv.published_by is None or str(mv.id) not in published_events
        ):
            problems.append(f"{what} is published without its publisher and publish event")
    return problems


__all__ = ["check_state"]
