"""Experiments: create, submit, approve/reject, cancel, resubmit, reads (the runner's
claim, progress and filing under a lease are lab.services.experiment_runs).

Every status change goes through lab.workflow (legal moves), is stored as an
``ExperimentTransition`` (who, when, why) and appended to the audit chain. What an
experiment holds is metadata: the sample's id, indicator codes, parameters, progress
(per-epoch loss) and a failure reason; its results are a model version with aggregates.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from lab.audit import append_event, write_lock
from lab.errors import (
    AccessDeniedError,
    ConfigError,
    ConsentError,
    NotFoundError,
)
from lab.models import (
    Algorithm,
    Approval,
    Decision,
    Experiment,
    ExperimentCreate,
    ExperimentPublic,
    ExperimentStatus,
    ExperimentTransition,
    ExperimentTransitionPublic,
    Organization,
    SampleSet,
    row_id,
    utcnow,
)
from lab.services import horizontal, leases
from lab.services.access import Action, Principal, Resource, Scope, allowed, require
from lab.services.algorithms import (
    backends_for,
    get_algorithm_row,
    require_backend,
    validate_params,
)
from lab.services.consent import (
    ConsentNeed,
    consent_needs,
    require_authorizations,
    require_consents,
)
from lab.services.indicators import get_indicators, trainable_indicators
from lab.workflow import check_transition

S = ExperimentStatus


def _scope(session: Session, exp: Experiment) -> Scope:
    owners = frozenset(i.owner_org_id for i in get_indicators(session, list(exp.indicator_codes)))
    return Scope(
        owner_org_id=exp.owner_org_id,
        indicator_owner_ids=owners,
        submitted=S(exp.status) is not S.DRAFT,
    )


def experiment_row(session: Session, experiment_id: int) -> Experiment:
    exp = session.get(Experiment, experiment_id)
    if exp is None:
        raise NotFoundError(f"no experiment with id {experiment_id}")
    return exp


def _get(session: Session, actor: Principal, experiment_id: int, action: Action) -> Experiment:
    exp = experiment_row(session, experiment_id)
    # Hide existence from those who may not even read it.
    require(
        actor,
        Resource.EXPERIMENT,
        Action.READ,
        _scope(session, exp),
        what=f"experiment {experiment_id}",
    )
    if action is not Action.READ:
        require(
            actor,
            Resource.EXPERIMENT,
            action,
            _scope(session, exp),
            what=f"experiment {experiment_id}",
        )
    return exp


def record_transition(
    session: Session, exp: Experiment, target: S, actor: Principal, reason: str = "", **details: Any
) -> None:
    check_transition(exp.status, target, reason=reason, experiment=f"experiment {exp.id}")
    before = S(exp.status)
    now = utcnow()
    exp.status = target
    exp.row_version += 1
    exp.updated_at = now
    session.add(exp)
    session.add(
        ExperimentTransition(
            experiment_id=exp.id or 0,
            from_status=before,
            to_status=target,
            actor=actor.label,
            reason=reason,
            at=now,
        )
    )
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action=f"experiment.{target.value}",
        object_type="experiment",
        object_id=exp.id or "",
        details={"from": before.value, "to": target.value, "reason": reason, **details},
    )


def authorization_date(session: Session, exp: Experiment) -> date:
    """Authorizations must be valid on the sample's observation end (else today)."""
    sample = session.get(SampleSet, exp.sample_id)
    return sample.observation_end if sample and sample.observation_end else date.today()


def _require_authorizations(session: Session, exp: Experiment) -> None:
    """Every bank that trains (the owner; a horizontal experiment's partners too) holds
    enterprise authorizations valid on the authorization date (else AuthorizationError)."""
    if not exp.authorization_required:
        return
    on = authorization_date(session, exp)
    for bank_id in (exp.owner_org_id, *(b.org_id for b in _partners(session, exp))):
        require_authorizations(session, bank_id, on)


def _partners(session: Session, exp: Experiment) -> list[horizontal.BankSample]:
    return horizontal.bank_samples(session, exp)[1:] if exp.partner_sample_ids else []


def _check_banks(session: Session, exp: Experiment, algorithm: str) -> None:
    """Submission: a horizontal experiment trains across at least two banks (else
    HorizontalBanksError); a vertical one names no partner sample."""
    if horizontal.is_horizontal(algorithm):
        horizontal.require_banks(session, exp, algorithm)
    else:
        horizontal.check_partners(
            session,
            algorithm=algorithm,
            owner_org_id=exp.owner_org_id,
            partner_sample_ids=list(exp.partner_sample_ids),
        )


def _backend(algorithm: str, backend: str | None) -> str:
    """The experiment's backend: the one asked for, if the algorithm runs with it (else
    ConfigError); none asked for: the algorithm's recommended one (listed first)."""
    allowed = backends_for(algorithm)
    if backend is None:
        return allowed[0]
    if backend not in allowed:
        raise ConfigError(
            f"algorithm {algorithm!r} runs with backend {' | '.join(allowed)}, not {backend!r}",
            hint="Choose one of those backends.",
        )
    return backend


def public(exp: Experiment) -> ExperimentPublic:
    return ExperimentPublic.model_validate(exp)


# ------------------------------------------------------------------ bank side
def create_experiment(
    *, session: Session, actor: Principal, experiment_in: ExperimentCreate
) -> ExperimentPublic:
    """A draft. Unknown indicators → NotFoundError; bad parameters → ConfigError."""
    require(
        actor,
        Resource.EXPERIMENT,
        Action.CREATE,
        Scope(owner_org_id=actor.org_id),
        what="experiments",
    )
    sample = session.get(SampleSet, experiment_in.sample_id)
    if sample is None:
        raise NotFoundError(f"no sample set with id {experiment_in.sample_id}")
    if sample.owner_org_id != actor.org_id:
        raise AccessDeniedError(
            f"{actor.describe()} may not build an experiment on sample set "
            f"{sample.id}: it belongs to another bank"
        )
    if not sample.current:
        raise ConfigError(
            f"sample set {sample.id} ({sample.name!r} version {sample.version}) was edited "
            "into a newer version; it stays only for the lineage of earlier models",
            hint="Build the experiment on the sample set's current version.",
        )
    algo = get_algorithm_row(session, experiment_in.algorithm, experiment_in.algorithm_version)
    trainable_indicators(
        session,
        list(experiment_in.indicator_codes),
        owner_org_id=actor.member_of,
        sample_dataset_id=sample.dataset_id,
    )
    validate_params(algo.name, algo.param_schema, dict(experiment_in.params))
    if experiment_in.backend is not None:  # plaintext outside local trials: its own error
        require_backend(algo.name, experiment_in.backend, what=f"experiment {experiment_in.name!r}")
    backend = _backend(algo.name, experiment_in.backend)
    horizontal.check_partners(
        session,
        algorithm=algo.name,
        owner_org_id=actor.member_of,
        partner_sample_ids=list(experiment_in.partner_sample_ids),
    )
    exp = Experiment(
        name=experiment_in.name,
        indicator_codes=list(experiment_in.indicator_codes),
        params=dict(experiment_in.params),
        purpose=experiment_in.purpose,
        backend=backend,
        authorization_required=experiment_in.authorization_required,
        partner_sample_ids=list(experiment_in.partner_sample_ids),
        owner_org_id=actor.org_id,
        created_by=actor.stored_user_id,
        sample_id=row_id(sample),
        algorithm_id=row_id(algo),
    )
    session.add(exp)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="experiment.create",
        object_type="experiment",
        object_id=exp.id or "",
        details={
            "name": exp.name,
            "algorithm": algo.name,
            "sample": sample.id,
            **({"partner_samples": exp.partner_sample_ids} if exp.partner_sample_ids else {}),
            "indicators": exp.indicator_codes,
        },
    )
    return public(exp)


def update_params(
    *, session: Session, actor: Principal, experiment_id: int, params: dict[str, Any]
) -> ExperimentPublic:
    exp = _get(session, actor, experiment_id, Action.SUBMIT)
    if S(exp.status) is not S.DRAFT:
        from lab.errors import StateTransitionError

        raise StateTransitionError(
            f"experiment {exp.id} is {S(exp.status).value}; only a draft can be changed"
        )
    algo = session.get(Algorithm, exp.algorithm_id)
    assert algo is not None
    validate_params(algo.name, algo.param_schema, params)
    exp.params = dict(params)
    exp.row_version += 1
    exp.updated_at = utcnow()
    session.add(exp)
    append_event(
        session,
        actor=actor.label,
        action="experiment.update",
        object_type="experiment",
        object_id=exp.id or "",
        details={"params": exp.params},
    )
    return public(exp)


def submit_experiment(
    *, session: Session, actor: Principal, experiment_id: int, reason: str = ""
) -> ExperimentPublic:
    """Validate parameters (filling defaults), the banks that train (a horizontal
    experiment: at least two, else HorizontalBanksError), authorizations and consents, then
    draft → submitted. Missing consents become requests to the agencies (and partner
    banks); a consent that expired or was revoked is refused now (ConsentError) so the bank
    renews it first."""
    exp = _get(session, actor, experiment_id, Action.SUBMIT)
    check_transition(exp.status, S.SUBMITTED, experiment=f"experiment {exp.id}")
    algo = session.get(Algorithm, exp.algorithm_id)
    assert algo is not None
    require_backend(algo.name, exp.backend, what=f"experiment {exp.id}")
    exp.params = validate_params(algo.name, algo.param_schema, dict(exp.params))
    sample = session.get(SampleSet, exp.sample_id)
    trainable_indicators(
        session,
        list(exp.indicator_codes),
        owner_org_id=exp.owner_org_id,
        sample_dataset_id=sample.dataset_id if sample else None,
    )
    _check_banks(session, exp, algo.name)
    _require_authorizations(session, exp)
    needs = consent_needs(session, exp)
    lapsed = [n for n in needs if n.status in ("expired", "revoked")]
    if lapsed:
        raise ConsentError(
            f"experiment {exp.id} ({exp.name!r}) uses indicators whose consent lapsed: "
            + "; ".join(str(n) for n in lapsed)
            + "; ask the agency to renew it, or drop those indicators, then submit again"
        )
    exp.submitted_at = utcnow()
    record_transition(
        session,
        exp,
        S.SUBMITTED,
        actor,
        reason,
        pending_consents=[n.agency for n in needs if n.status != "granted"],
    )
    return public(exp)


def _to_draft(session: Session, exp: Experiment, actor: Principal, reason: str) -> None:
    """rejected | failed | cancelled → draft: the last run's traces go (its reason stays in
    the transitions), attempts start again, and any lease ends (a worker still on a
    cancelled run can no longer file it)."""
    record_transition(session, exp, S.DRAFT, actor, reason)
    exp.failure_reason = None
    exp.claimed_by = None
    exp.attempts = 0
    exp.progress = []
    exp.started_at = exp.finished_at = None
    leases.clear(exp)
    session.add(exp)


def revise_experiment(
    *, session: Session, actor: Principal, experiment_id: int, reason: str
) -> ExperimentPublic:
    """A rejected, failed or cancelled experiment goes back to draft for changes."""
    write_lock(session)
    exp = _get(session, actor, experiment_id, Action.SUBMIT)
    _to_draft(session, exp, actor, reason)
    return public(exp)


def resubmit_experiment(
    *, session: Session, actor: Principal, experiment_id: int, reason: str
) -> ExperimentPublic:
    """A cancelled or failed experiment, unchanged, back into the approval flow:
    → draft → submitted (two transitions, two audit events); it then needs approval again.
    Everything a submission checks is checked again (consents, authorizations)."""
    write_lock(session)
    exp = _get(session, actor, experiment_id, Action.SUBMIT)
    if S(exp.status) not in (S.CANCELLED, S.FAILED):
        from lab.errors import StateTransitionError

        raise StateTransitionError(
            f"experiment {exp.id} is {S(exp.status).value}; only a cancelled or failed "
            "experiment can be resubmitted",
            hint="A rejected one is revised first (back to draft), then submitted.",
        )
    _to_draft(session, exp, actor, reason or "resubmitted")
    return submit_experiment(
        session=session, actor=actor, experiment_id=experiment_id, reason=reason or "resubmitted"
    )


def cancel_experiment(
    *, session: Session, actor: Principal, experiment_id: int, reason: str
) -> ExperimentPublic:
    write_lock(session)
    exp = _get(session, actor, experiment_id, Action.CANCEL)
    record_transition(session, exp, S.CANCELLED, actor, reason)
    exp.finished_at = utcnow()
    session.add(exp)
    return public(exp)


# ------------------------------------------------------------------ platform side
def approve_experiment(
    *, session: Session, actor: Principal, experiment_id: int, reason: str = ""
) -> ExperimentPublic:
    """submitted → approved; every agency's (and partner bank's) consent must be in force
    (else ConsentError), and every bank's authorizations."""
    exp = _get(session, actor, experiment_id, Action.APPROVE)
    check_transition(exp.status, S.APPROVED, experiment=f"experiment {exp.id}")
    algo = session.get(Algorithm, exp.algorithm_id)
    assert algo is not None
    require_backend(algo.name, exp.backend, what=f"experiment {exp.id}")
    needs = require_consents(session, exp)
    _require_authorizations(session, exp)
    session.add(
        Approval(
            experiment_id=exp.id or 0,
            decided_by=actor.user_id or 0,
            decision=Decision.APPROVED,
            reason=reason,
        )
    )
    record_transition(session, exp, S.APPROVED, actor, reason, consents=[n.grant_id for n in needs])
    return public(exp)


def reject_experiment(
    *, session: Session, actor: Principal, experiment_id: int, reason: str
) -> ExperimentPublic:
    exp = _get(session, actor, experiment_id, Action.APPROVE)
    check_transition(exp.status, S.REJECTED, reason=reason, experiment=f"experiment {exp.id}")
    session.add(
        Approval(
            experiment_id=exp.id or 0,
            decided_by=actor.user_id or 0,
            decision=Decision.REJECTED,
            reason=reason,
        )
    )
    record_transition(session, exp, S.REJECTED, actor, reason)
    return public(exp)


# ------------------------------------------------------------------ reads
def get_experiment(*, session: Session, actor: Principal, experiment_id: int) -> ExperimentPublic:
    return public(_get(session, actor, experiment_id, Action.READ))


def list_experiments(
    *, session: Session, actor: Principal, status: S | str | None = None
) -> list[ExperimentPublic]:
    """What the actor may see: its bank's, its agency's requests, or all (staff)."""
    stmt = select(Experiment).order_by(col(Experiment.id))
    if status is not None:
        try:
            wanted = S(status)
        except ValueError:
            raise ConfigError(
                f"{status!r} is not an experiment status; one of {[x.value for x in S]}"
            ) from None
        stmt = stmt.where(Experiment.status == wanted)
    if actor.role.value in ("bank_modeler", "data_scientist"):
        stmt = stmt.where(Experiment.owner_org_id == actor.org_id)
    return [
        public(e)
        for e in session.exec(stmt).all()
        if allowed(actor, Resource.EXPERIMENT, Action.READ, _scope(session, e))
    ]


def list_requests(*, session: Session, actor: Principal) -> list[ExperimentPublic]:
    """For an agency officer: submitted experiments that use the agency's indicators."""
    return [
        e
        for e in list_experiments(session=session, actor=actor, status=S.SUBMITTED)
        if actor.role.value != "agency_officer" or e.owner_org_id != actor.org_id
    ]


def transitions(
    *, session: Session, actor: Principal, experiment_id: int
) -> list[ExperimentTransitionPublic]:
    _get(session, actor, experiment_id, Action.READ)
    rows = session.exec(
        select(ExperimentTransition)
        .where(ExperimentTransition.experiment_id == experiment_id)
        .order_by(col(ExperimentTransition.id))
    ).all()
    return [ExperimentTransitionPublic.model_validate(r) for r in rows]


def consents_for(*, session: Session, actor: Principal, experiment_id: int) -> list[ConsentNeed]:
    return consent_needs(session, _get(session, actor, experiment_id, Action.READ))


def org_code(session: Session, org_id: int) -> str:
    org = session.get(Organization, org_id)
    return org.code if org else str(org_id)


__all__ = [
    "approve_experiment",
    "authorization_date",
    "cancel_experiment",
    "consents_for",
    "create_experiment",
    "experiment_row",
    "get_experiment",
    "list_experiments",
    "list_requests",
    "public",
    "record_transition",
    "reject_experiment",
    "resubmit_experiment",
    "revise_experiment",
    "submit_experiment",
    "transitions",
    "update_params",
]
