"""The worker's second job kind: counting a sample set at its bank.

:func:`run_next_count` claims the oldest requested sample count
(:mod:`lab.services.sample_counts`), builds a one-party ``sample_profile`` config (the
bank's node as the guest, its registered dataset, the sample's label column, ID-list
location, observation window and the request's histogram columns and k), runs it through
the worker's executor on the worker's runtime (local, simulation or a federation, as for
experiments) and records the bank's reply on the sample set. A failure is recorded with
its reason (a party's failure arrives as public facts only).

What leaves the lab: the config (locations at the bank, column names, the window, k). What
comes back: metrics.json's ``sample_profile``: counts and histograms, each cell >= k.
"""

from __future__ import annotations

import logging
from typing import Any

from lab.db import session_scope
from lab.models import SampleCount
from lab.runner import Worker, json_safe, reason_of
from lab.services import sample_counts as count_svc
from lab.services.catalog import node_for_org

log = logging.getLogger("fedlab.worker")


def build_count_config(
    session: Any, job: SampleCount, runtime: str, deployment: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An experiment.toml-shaped dict that counts ``job``'s sample at its bank."""
    sample, ds = count_svc.count_job_sample(session, job)
    node = node_for_org(session, sample.owner_org_id)
    params: dict[str, Any] = {"id_list": sample.id_list_location, **job.params}
    if sample.observation_start:
        params["observation_start"] = sample.observation_start.isoformat()
    if sample.observation_end:
        params["observation_end"] = sample.observation_end.isoformat()
    return {
        "experiment": {
            "name": f"sample-count-{job.id}",
            "algorithm": "sample_profile",
            "backend": "plaintext",
            "id_column": ds.id_column,
            "runtime": runtime,
            "authorization": "none",
        },
        "params": params,
        **({"deployment": deployment} if deployment else {}),
        "parties": [
            {"name": node.name, "role": "guest", "data": ds.location, "label": sample.label_column}
        ],
    }


def run_next_count(worker: Worker) -> bool:
    """Claim one requested sample count and run it; False when there was none."""
    me = worker.principal
    with session_scope(worker.engine) as s:
        job = count_svc.claim_next_count(session=s, actor=me)
        if job is None:
            return False
        job_id = job.id
        raw = build_count_config(s, job, worker.runtime, worker.deployment)
    log.info("worker %s counts sample count %s at the bank", worker.worker_id, job_id)
    try:
        profile = _run(worker, job_id, raw)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded with its reason
        failure = reason_of(exc)
        log.warning("sample count %s failed: %s", job_id, failure)
        with session_scope(worker.engine) as s:
            count_svc.fail_count(session=s, actor=me, count_id=job_id, reason=failure)
        return True
    with session_scope(worker.engine) as s:
        count_svc.record_count(session=s, actor=me, count_id=job_id, profile=profile)
    return True


def _run(worker: Worker, job_id: int, raw: dict[str, Any]) -> dict[str, Any]:
    from federation.config import parse_config
    from federation.protocol import no_progress

    cfg = parse_config(raw)
    out_dir = (worker.runs_dir / f"sample-count-{job_id}" / "result").resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    metrics = worker.execute(cfg, out_dir, no_progress)
    profile = metrics.get("sample_profile")
    if not isinstance(profile, dict):
        raise ValueError("the run reported no sample_profile")
    return dict(json_safe(profile))


__all__ = ["build_count_config", "run_next_count"]
