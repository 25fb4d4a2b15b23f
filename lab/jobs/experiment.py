"""The ``experiment`` job kind: run an approved experiment and file a candidate model.

:class:`ExperimentJob` claims one approved (or requeued) experiment with a conditional
UPDATE that gives the worker a lease on it (see lab.services.experiment_runs.claim_next),
so several workers on one SQLite file or one PostgreSQL database never run an experiment
twice. For the claimed experiment it reads
from the catalog the parties, the data locations at each party, the indicator columns, the
guest's label and authorizations (:func:`read_experiment`; a horizontal experiment: one
guest per bank, each with its own sample's data, label and authorizations), builds the config object
(:func:`build_config`), runs it through the worker's executor, records the loss as it goes
(per epoch, or per tree for SecureBoost), and files a candidate model version with the
run's public metrics, ROC points (aggregates, when metrics.json has them), lineage and
per-party artifact locations; the lineage names the sample version and the counts that
actually trained, each at least k (:func:`sample_lineage`). A failure marks the experiment
failed with the reason; a cancellation while it runs stops it (at the next progress report
or heartbeat) and leaves it cancelled. A reaper adopts the finished output of a worker that
died before filing it (:mod:`lab.jobs.adoption`).

What leaves the lab here: the config handed to the federation (paths at each party, column
names, each training bank's authorization table written into the run folder for that
bank's own process, and each party's signed receipt of the audit chain head as the run
starts, which the party keeps: lab.audit_receipts). What comes back: metrics.json
(aggregates only), of which the model library keeps the public part
(:func:`public_metrics`).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

from sqlmodel import Session

import lab
from federation.config import DeploymentSection, ExperimentConfig
from federation.default_rule import describe, rule_dict
from federation.outputs import piece_locations
from federation.protocol import ProgressFn
from federation.roles import PartyRole
from lab.audit_receipts import issue_receipts
from lab.db import session_scope
from lab.disclosure import suppress
from lab.errors import NotFoundError
from lab.jobs.adoption import finished_result
from lab.jobs.base import Job, JobContext, json_safe, reason_of
from lab.jobs.configs import GuestSample, PartyFacts, experiment_config
from lab.models import (
    Algorithm,
    DatasetRegistration,
    Experiment,
    ExperimentStatus,
    Indicator,
    Organization,
    SampleSet,
)
from lab.run_authorizations import experiment_authorizations
from lab.services import experiment_runs as runs
from lab.services import experiments as exp_svc
from lab.services import horizontal
from lab.services.catalog import get_indicators, node_for_org
from lab.services.consent import export_authorizations
from lab.services.disclosure import min_cell
from lab.services.leases import ExpiredLease, Lease, adopted_reason
from lab.services.models_library import register_model_version
from lab.workflow import LEASED

log = logging.getLogger("fedlab.worker")

PROGRESS_EVENTS = frozenset({"phase", "epoch", "tree", "lr.setup", "sb.setup"})
"""Driver progress events the worker records: phases, LR epochs, SecureBoost trees, and the
hetero LR / SecureBoost set-up (its n_train and n_valid tell the sandbox how many
enterprises the loss is computed on while the run goes)."""

MAX_LIST = 1000


@dataclass(frozen=True)
class ExperimentTicket:
    """A claimed experiment and the worker's lease on it."""

    id: int
    lease: Lease


@dataclass(frozen=True)
class ExperimentFacts:
    """What the catalog says about one experiment's run (read in its start transaction)."""

    name: str
    algorithm: str
    backend: str
    id_column: str
    authorization_required: bool
    as_of: date
    features: dict[str, list[str]]
    params: dict[str, Any]
    parties: tuple[PartyFacts, ...]


@dataclass(frozen=True)
class ExperimentResult:
    """What a run produced: metrics.json's content, the result folder, the party names."""

    metrics: dict[str, Any]
    out_dir: Path
    parties: list[str]
    filed_because: str = "run finished"


def _host_facts(session: Session, ind: Indicator) -> PartyFacts:
    """The host party holding an agency's indicator (its node and registered dataset)."""
    node = node_for_org(session, ind.owner_org_id)
    ds = session.get(DatasetRegistration, ind.dataset_id) if ind.dataset_id else None
    if ds is None:
        org = session.get(Organization, ind.owner_org_id)
        raise NotFoundError(
            f"indicator {ind.code!r} of "
            f"{org.code if org else ind.owner_org_id!r} names no "
            "registered dataset",
            hint="Register the agency's dataset.",
        )
    return PartyFacts(name=node.name, role=PartyRole.HOST, data=ds.location)


def _vertical_parties(
    session: Session, exp: Experiment, sample: SampleSet, run_dir: Path
) -> tuple[dict[str, list[str]], tuple[PartyFacts, ...]]:
    """The guest (the owner bank, with the label) and one host per agency whose indicators
    the experiment uses; features per party."""
    guest_ds = session.get(DatasetRegistration, sample.dataset_id)
    guest_node = node_for_org(session, exp.owner_org_id)
    features: dict[str, list[str]] = {}
    hosts: dict[int, PartyFacts] = {}
    for ind in get_indicators(session, list(exp.indicator_codes)):
        if ind.owner_org_id == exp.owner_org_id:
            features.setdefault(guest_node.name, []).append(ind.column)
            continue
        if ind.owner_org_id not in hosts:
            hosts[ind.owner_org_id] = _host_facts(session, ind)
        features.setdefault(hosts[ind.owner_org_id].name, []).append(ind.column)
    guest = PartyFacts(
        name=guest_node.name,
        role=PartyRole.GUEST,
        data=guest_ds.location if guest_ds else sample.id_list_location,
        label=sample.label_column,
        authorizations=_authorizations(
            session, exp, exp.owner_org_id, run_dir / "guest_authorizations.csv"
        ),
        sample=guest_sample(sample),
        default_rule=sample.default_rule,
    )
    return features, (guest, *hosts.values())


def _horizontal_parties(
    session: Session, exp: Experiment, run_dir: Path
) -> tuple[dict[str, list[str]], tuple[PartyFacts, ...]]:
    """One guest per bank of a horizontal experiment (the owner first): its own sample's
    dataset, label and authorizations; every bank trains on the experiment's columns."""
    cols = horizontal.columns(session, exp)
    features: dict[str, list[str]] = {}
    parties: list[PartyFacts] = []
    for bank in horizontal.bank_samples(session, exp):
        node = node_for_org(session, bank.org_id)
        features[node.name] = list(cols)
        auth = run_dir / f"{node.name}_authorizations.csv"
        parties.append(
            PartyFacts(
                name=node.name,
                role=PartyRole.GUEST,
                data=bank.dataset.location,
                label=bank.sample.label_column,
                authorizations=_authorizations(session, exp, bank.org_id, auth),
                sample=guest_sample(bank.sample),
                default_rule=bank.sample.default_rule,
            )
        )
    return features, tuple(parties)


def _authorizations(session: Session, exp: Experiment, bank_id: int, path: Path) -> str | None:
    """With authorization required, the bank's authorization table written to ``path``
    (for that bank's own process); else None."""
    if not exp.authorization_required:
        return None
    export_authorizations(session, bank_id, path)
    return str(path)


def read_experiment(session: Session, exp: Experiment, run_dir: Path) -> ExperimentFacts:
    """The catalog facts of ``exp``'s run; with authorization required, each training
    bank's authorization table is written into ``run_dir`` (for the bank's own process)."""
    sample = session.get(SampleSet, exp.sample_id)
    algo = session.get(Algorithm, exp.algorithm_id)
    if sample is None or algo is None:
        raise NotFoundError(f"experiment {exp.id}: its sample or algorithm is gone")
    guest_ds = session.get(DatasetRegistration, sample.dataset_id)
    if horizontal.is_horizontal(algo.name):
        features, parties = _horizontal_parties(session, exp, run_dir)
    else:
        features, parties = _vertical_parties(session, exp, sample, run_dir)
    return ExperimentFacts(
        name=f"experiment-{exp.id}",
        algorithm=algo.name,
        backend=exp.backend,
        id_column=guest_ds.id_column if guest_ds else "uscc",
        authorization_required=exp.authorization_required,
        as_of=exp_svc.authorization_date(session, exp),
        features=features,
        params=dict(exp.params),
        parties=parties,
    )


def with_run_papers(session: Session, exp: Experiment, facts: ExperimentFacts) -> ExperimentFacts:
    """The facts with each party's papers for the run: its receipt of the audit chain head
    as the run starts (lab.audit_receipts; kept at the party: federation.receipts) and its
    signed run authorization (lab.run_authorizations; checked at the party:
    federation.run_auth)."""
    receipts = issue_receipts(session, run=facts.name, parties=[p.name for p in facts.parties])
    auths = experiment_authorizations(
        session, exp, run=facts.name, parties=facts.parties, features=facts.features
    )
    parties = tuple(
        replace(
            p,
            audit_receipt=receipts[p.name].to_json(),
            run_authorization=auths[p.name].to_json() if p.name in auths else None,
        )
        for p in facts.parties
    )
    return replace(facts, parties=parties)


def guest_sample(sample: SampleSet) -> GuestSample:
    """The sample as the guest applies it at the bank: its ID list ∩ window (∩ valid
    authorizations, in the alignment) decides the rows; ``validation_start`` splits them
    out of time."""
    return GuestSample(
        ids=sample.id_list_location,
        date_column=sample.date_column,
        observation_start=sample.observation_start,
        observation_end=sample.observation_end,
        validation_from=sample.validation_start,
    )


POPULATION_COUNTS = ("n_sample", "n_aligned", "n_train", "n_valid")


def sample_lineage(session: Session, exp: Experiment, metrics: dict[str, Any]) -> dict[str, Any]:
    """The sample version a model trained on, its label column and default rule (逾期定义,
    as data and in words), and the counts that actually trained (each shown when it
    reaches k, else None), for the model's lineage."""
    sample = session.get(SampleSet, exp.sample_id)
    k = min_cell()
    counts = {
        key: suppress(int(metrics[key]), k)
        for key in POPULATION_COUNTS
        if isinstance(metrics.get(key), int | float) and not isinstance(metrics.get(key), bool)
    }
    if sample is None:
        return {"population": counts}
    return {
        "sample_name": sample.name,
        "sample_version": sample.version,
        "sample_window": [
            d.isoformat() if d else None for d in (sample.observation_start, sample.observation_end)
        ],
        "validation": (
            f"out_of_time from {sample.validation_start.isoformat()}"
            if sample.validation_start
            else "random"
        ),
        "label_column": sample.label_column,
        "default_rule": rule_dict(sample.default_rule),
        "default_rule_text": dict(
            zip(("zh", "en"), describe(sample.default_rule, sample.label_column), strict=True)
        ),
        "population": counts,
        "population_k": k,
    }


def build_config(
    facts: ExperimentFacts, runtime: str, deployment: DeploymentSection | None = None
) -> ExperimentConfig:
    """The config object of an experiment's run (``deployment``: where the SuperLink is)."""
    return experiment_config(
        name=facts.name,
        algorithm=facts.algorithm,
        backend=facts.backend,
        id_column=facts.id_column,
        runtime=runtime,
        authorization_required=facts.authorization_required,
        as_of=facts.as_of.isoformat(),
        features=facts.features or None,
        params=nested_params(facts.params),
        deployment=deployment,
        parties=facts.parties,
    )


def nested_params(params: dict[str, Any]) -> dict[str, Any]:
    """Catalog parameters with dotted names as nested sections: ``{"binning.max_bins": 8}``
    → ``{"binning": {"max_bins": 8}}`` (the algorithm schema in the catalog is flat)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        *path, leaf = key.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def roc_points(metrics: dict[str, Any]) -> dict[str, list[float]]:
    """ROC curve points from metrics.json ('roc': {'fpr': [...], 'tpr': [...]}) if present."""
    roc = metrics.get("roc") or metrics.get("roc_curve")
    if isinstance(roc, dict) and "fpr" in roc and "tpr" in roc:
        return {"fpr": [float(x) for x in roc["fpr"]], "tpr": [float(x) for x in roc["tpr"]]}
    return {}


def _numbers(v: Any) -> bool:
    """A short list of numbers (None: a suppressed cell of a min-cell aggregate)."""
    return (
        isinstance(v, list)
        and len(v) <= MAX_LIST
        and all(x is None or (isinstance(x, int | float) and not isinstance(x, bool)) for x in v)
    )


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


def public_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """What the model library keeps of metrics.json: scalars, short numeric lists (loss per
    epoch), tables of scalar rows (the lift table), dicts of scalars (bytes per party) and of
    numeric lists (the score histogram) — aggregates only. The ROC points are stored on their own.
    Non-finite numbers are kept as None (:func:`json_safe`)."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        if k in ("roc", "roc_curve"):
            continue
        table = (
            isinstance(v, list)
            and len(v) <= MAX_LIST
            and all(isinstance(row, dict) and all(_scalar(x) for x in row.values()) for row in v)
        )
        named = (
            isinstance(v, dict)
            and bool(v)
            and (all(_numbers(x) for x in v.values()) or all(_scalar(x) for x in v.values()))
        )
        if (_scalar(v) and v is not None) or _numbers(v) or table or named:
            out[k] = json_safe(v)
    return out


def progress_recorder(ctx: JobContext, ticket: ExperimentTicket) -> ProgressFn:
    """A progress callback that stores the driver's events the sandbox shows; it raises
    RunCancelled once the experiment was cancelled and LeaseLostError once the worker's
    lease is gone (seen by the heartbeat or here), which stops the run."""
    me = ctx.principal

    def progress(event: str, fields: dict[str, Any]) -> None:
        ctx.guard.check()
        if event in PROGRESS_EVENTS:
            entry = json_safe(
                {
                    "event": event,
                    **{k: v for k, v in fields.items() if isinstance(v, int | float | str | bool)},
                }
            )
            with session_scope(ctx.engine) as s:
                runs.record_progress(
                    session=s,
                    actor=me,
                    experiment_id=ticket.id,
                    entry=entry,
                    lease_token=ticket.lease.token,
                )

    return progress


class ExperimentJob(Job[ExperimentTicket, ExperimentResult]):
    """Approved experiments: run through the federation, filed as candidate models."""

    kind: ClassVar[str] = "experiment"
    tallied: ClassVar[bool] = True
    table: ClassVar[Any] = Experiment
    leased: ClassVar[tuple[str, ...]] = tuple(s.value for s in LEASED)
    cancelled: ClassVar[frozenset[str]] = frozenset({ExperimentStatus.CANCELLED.value})
    folder_prefix: ClassVar[str] = "experiment-"

    def claim(self, ctx: JobContext) -> ExperimentTicket | None:
        with session_scope(ctx.engine) as s:
            claimed = runs.claim_next(session=s, actor=ctx.principal, terms=ctx.lease_terms)
            lease = runs.lease_of(claimed) if claimed is not None else None
        if lease is None:
            return None
        log.info(
            "worker %s claimed experiment %s (attempt %s)", ctx.worker_id, lease.id, lease.attempt
        )
        return ExperimentTicket(lease.id, lease)

    def run(self, ctx: JobContext, ticket: ExperimentTicket) -> ExperimentResult:
        run_dir = self.folder(ctx, ticket.id)
        out_dir = run_dir / "result"
        with session_scope(ctx.engine) as s:
            exp = runs.start_run(
                session=s,
                actor=ctx.principal,
                experiment_id=ticket.id,
                lease_token=ticket.lease.token,
            )
            run_dir.mkdir(parents=True, exist_ok=True)
            facts = with_run_papers(s, exp, read_experiment(s, exp, run_dir))
        if out_dir.exists():  # an earlier attempt's output, never filed: not this run's
            shutil.rmtree(out_dir)
        cfg = build_config(facts, ctx.runtime, ctx.deployment)
        metrics = ctx.execute(cfg, out_dir, progress_recorder(ctx, ticket))
        return ExperimentResult(metrics, out_dir, [p.name for p in cfg.parties])

    def file(self, ctx: JobContext, ticket: ExperimentTicket, result: ExperimentResult) -> None:
        me = ctx.principal
        with session_scope(ctx.engine) as s:
            exp = runs.succeed_run(
                session=s,
                actor=me,
                experiment_id=ticket.id,
                lease_token=ticket.lease.token,
                reason=result.filed_because,
            )
            algo = s.get(Algorithm, exp.algorithm_id)
            bank = exp_svc.org_code(s, exp.owner_org_id)
            register_model_version(
                session=s,
                actor=me,
                experiment=exp,
                name=f"{bank}/{exp.name}",
                algorithm=algo.name if algo else "",
                metrics=public_metrics(result.metrics),
                roc=roc_points(result.metrics),
                artifacts=piece_locations(result.out_dir, result.parties),
                lineage={
                    **_lineage(ctx, ticket.id, exp, algo, bank, result),
                    **sample_lineage(s, exp, result.metrics),
                },
            )

    def fail(self, ctx: JobContext, ticket: ExperimentTicket, exc: Exception) -> None:
        reason = reason_of(exc)
        log.warning("experiment %s failed: %s", ticket.id, reason)
        with session_scope(ctx.engine) as s:
            runs.fail_run(
                session=s,
                actor=ctx.principal,
                experiment_id=ticket.id,
                reason=reason,
                lease_token=ticket.lease.token,
            )

    def release(self, ctx: JobContext, lease: Lease, reason: str, *, requeue: bool) -> str:
        with session_scope(ctx.engine) as s:
            status = runs.release_run(
                session=s,
                actor=ctx.principal,
                experiment_id=lease.id,
                lease_token=lease.token,
                reason=reason,
                requeue=requeue,
            )
        return status.value

    def adopt(self, ctx: JobContext, expired: ExpiredLease, lease: Lease) -> bool:
        """File the orphaned run's finished output (:mod:`lab.jobs.adoption`)."""
        if expired.status != ExperimentStatus.RUNNING.value:
            return False
        run_dir = self.folder(ctx, expired.id)
        with session_scope(ctx.engine) as s:
            exp = exp_svc.experiment_row(s, expired.id)
            found = finished_result(run_dir / "result", exp.started_at)
            if found is not None and not found[1]:
                parties = [p.name for p in read_experiment(s, exp, run_dir).parties]
                found = (found[0], parties)
        if found is None:
            return False
        metrics, parties = found
        reason = adopted_reason(expired)
        result = ExperimentResult(metrics, run_dir / "result", parties, reason)
        self.file(ctx, ExperimentTicket(expired.id, lease), result)
        return True


def _lineage(
    ctx: JobContext,
    exp_id: int,
    exp: Experiment,
    algo: Algorithm | None,
    bank: str,
    result: ExperimentResult,
) -> dict[str, Any]:
    """Where a model version comes from (catalog ids, names, code version, run folder)."""
    return {
        "experiment": exp_id,
        "sample": exp.sample_id,
        "bank": bank,
        "parties": result.parties,
        "indicators": list(exp.indicator_codes),
        "algorithm": algo.name if algo else "",
        "algorithm_version": algo.version if algo else "",
        "params": dict(exp.params),
        "backend": exp.backend,
        "runtime": str(result.metrics.get("runtime") or ctx.runtime),
        "code_version": lab.__version__,
        "run_dir": str(result.out_dir),
        **({"federation": ctx.federation} if ctx.federation else {}),
    }


__all__ = [
    "ExperimentFacts",
    "ExperimentJob",
    "ExperimentResult",
    "ExperimentTicket",
    "POPULATION_COUNTS",
    "PROGRESS_EVENTS",
    "build_config",
    "guest_sample",
    "nested_params",
    "progress_recorder",
    "public_metrics",
    "read_experiment",
    "roc_points",
    "sample_lineage",
]
