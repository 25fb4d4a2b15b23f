"""The ``sample_count`` job kind: counting a sample set at its bank.

:class:`SampleCountJob` claims the oldest requested sample count
(:mod:`lab.services.sample_counts`), builds a one-party ``sample_profile`` config (the
bank's node as the guest, its registered dataset, the sample's label column, ID-list
location, observation window and the request's histogram columns and k), runs it through
the worker's executor on the worker's runtime (local, simulation or a federation, as for
experiments) and records the bank's reply on the sample set. A failure is recorded with
its reason (a party's failure arrives as public facts only).

What leaves the lab: the config (locations at the bank, column names, the window, k). What
comes back: metrics.json's ``sample_profile``: counts and histograms, each cell >= k, which
the catalog shows to whoever may read the sample set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from sqlmodel import Session

from federation.config import DeploymentSection, ExperimentConfig
from federation.protocol import no_progress
from federation.roles import PartyRole
from lab.audit_receipts import issue_receipts
from lab.db import session_scope
from lab.errors import NotFoundError, ProtocolError
from lab.jobs.base import Job, JobContext, json_safe, reason_of
from lab.jobs.configs import PartyFacts, experiment_config
from lab.models import CountStatus, SampleCount
from lab.run_authorizations import own_data_authorization
from lab.services import sample_counts as count_svc
from lab.services.catalog import node_for_org
from lab.services.leases import Lease

log = logging.getLogger("fedlab.worker")


@dataclass(frozen=True)
class CountTicket:
    """A claimed sample count and what the catalog says about it (read in the claim)."""

    id: int
    id_column: str
    params: dict[str, Any]
    bank: PartyFacts
    lease: Lease


def read_count(session: Session, job: SampleCount) -> CountTicket:
    """The facts of ``job``: the bank's node and dataset, the sample's ID list, window and
    label column, the request's histogram columns and k; the worker's lease on it."""
    if job.id is None:
        raise NotFoundError("the sample count has no id (it was never stored)")
    sample, ds = count_svc.count_job_sample(session, job)
    node = node_for_org(session, sample.owner_org_id)
    params: dict[str, Any] = {"id_list": sample.id_list_location, **job.params}
    if sample.observation_start:
        params["observation_start"] = sample.observation_start.isoformat()
    if sample.observation_end:
        params["observation_end"] = sample.observation_end.isoformat()
    bank = PartyFacts(
        name=node.name,
        role=PartyRole.GUEST,
        data=ds.location,
        label=sample.label_column,
        default_rule=sample.default_rule,  # applied at the bank: the positives it counts
    )
    return CountTicket(
        id=job.id,
        id_column=ds.id_column,
        params=params,
        bank=bank,
        lease=count_svc.count_lease(job),
    )


def build_count_config(
    ticket: CountTicket, runtime: str, deployment: DeploymentSection | None = None
) -> ExperimentConfig:
    """The config object that counts the ticket's sample at its bank."""
    return experiment_config(
        name=f"sample-count-{ticket.id}",
        algorithm="sample_profile",
        backend="plaintext",
        id_column=ticket.id_column,
        runtime=runtime,
        authorization_required=False,
        params=ticket.params,
        deployment=deployment,
        parties=[ticket.bank],
    )


class SampleCountJob(Job[CountTicket, dict[str, Any]]):
    """Requested sample counts: counted at the bank, recorded on the sample set."""

    kind: ClassVar[str] = "sample_count"
    tallied: ClassVar[bool] = False  # `Worker.processed` lists experiments only
    table: ClassVar[Any] = SampleCount
    leased: ClassVar[tuple[str, ...]] = (CountStatus.RUNNING.value,)
    folder_prefix: ClassVar[str] = "sample-count-"

    def claim(self, ctx: JobContext) -> CountTicket | None:
        with session_scope(ctx.engine) as s:
            job = count_svc.claim_next_count(session=s, actor=ctx.principal, terms=ctx.lease_terms)
            if job is None:
                return None
            ticket = read_count(s, job)
        log.info("worker %s counts sample count %s at the bank", ctx.worker_id, ticket.id)
        return ticket

    def run(self, ctx: JobContext, ticket: CountTicket) -> dict[str, Any]:
        name = f"sample-count-{ticket.id}"
        with session_scope(ctx.engine) as s:
            receipt = issue_receipts(s, run=name, parties=[ticket.bank.name])
        auth = own_data_authorization(name, ticket.bank)
        bank = replace(
            ticket.bank,
            audit_receipt=receipt[ticket.bank.name].to_json(),
            run_authorization=auth[ticket.bank.name].to_json() if auth else None,
        )
        cfg = build_count_config(replace(ticket, bank=bank), ctx.runtime, ctx.deployment)
        out_dir = self.folder(ctx, ticket.id) / "result"
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        metrics = ctx.execute(cfg, out_dir, no_progress)
        profile = metrics.get("sample_profile")
        if not isinstance(profile, dict):
            raise ProtocolError("the run reported no sample_profile")
        return dict(json_safe(profile))

    def file(self, ctx: JobContext, ticket: CountTicket, result: dict[str, Any]) -> None:
        with session_scope(ctx.engine) as s:
            count_svc.record_count(
                session=s,
                actor=ctx.principal,
                count_id=ticket.id,
                profile=result,
                lease_token=ticket.lease.token,
            )

    def fail(self, ctx: JobContext, ticket: CountTicket, exc: Exception) -> None:
        failure = reason_of(exc)
        log.warning("sample count %s failed: %s", ticket.id, failure)
        with session_scope(ctx.engine) as s:
            count_svc.fail_count(
                session=s,
                actor=ctx.principal,
                count_id=ticket.id,
                reason=failure,
                lease_token=ticket.lease.token,
            )

    def release(self, ctx: JobContext, lease: Lease, reason: str, *, requeue: bool) -> str:
        with session_scope(ctx.engine) as s:
            status = count_svc.release_count(
                session=s,
                actor=ctx.principal,
                count_id=lease.id,
                lease_token=lease.token,
                reason=reason,
                requeue=requeue,
            )
        return status.value


__all__ = ["CountTicket", "SampleCountJob", "build_count_config", "read_count"]
