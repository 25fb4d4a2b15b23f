"""The registry of job kinds the worker runs, in the order it looks for work.

Adding a kind (monitoring, scoring, ...) is one module implementing
:class:`lab.jobs.base.Job` and one entry here. Each pass of the worker asks the kinds in
this order and runs the first job it can claim: a requested sample count (quick, a bank
waits on it) before an approved experiment. Nothing here touches the catalog or a party.
"""

from __future__ import annotations

from typing import Any

from lab.errors import ConfigError
from lab.jobs.base import Job
from lab.jobs.experiment import ExperimentJob
from lab.jobs.sample_count import SampleCountJob

JOBS: tuple[Job[Any, Any], ...] = (SampleCountJob(), ExperimentJob())


def job_kinds() -> list[str]:
    """The registered kinds, in the worker's order."""
    return [job.kind for job in JOBS]


def get_job(kind: str) -> Job[Any, Any]:
    """The registered job of ``kind``."""
    for job in JOBS:
        if job.kind == kind:
            return job
    raise ConfigError(f"unknown job kind {kind!r}; registered: {job_kinds()}")


__all__ = ["JOBS", "get_job", "job_kinds"]
