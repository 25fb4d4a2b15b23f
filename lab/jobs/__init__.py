"""The worker's jobs: one interface (:class:`Job`), peers behind it, one registry.

``experiment`` (:mod:`lab.jobs.experiment`) and ``sample_count``
(:mod:`lab.jobs.sample_count`) are the kinds today; :mod:`lab.jobs.registry` lists them in
the order the worker (:class:`lab.runner.Worker`) looks for work. What each kind reveals,
and to whom, is said in its module; this package itself reads and sends nothing.
"""

from __future__ import annotations

from lab.jobs.base import Executor, Job, JobContext, Ticket, json_safe, reason_of
from lab.jobs.registry import JOBS, get_job, job_kinds

__all__ = [
    "Executor",
    "JOBS",
    "Job",
    "JobContext",
    "Ticket",
    "get_job",
    "job_kinds",
    "json_safe",
    "reason_of",
]
