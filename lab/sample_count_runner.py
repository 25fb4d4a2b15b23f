"""The sample-count job run on its own: :func:`run_next_count` (kept for callers of the
worker's earlier layout; the job itself is :mod:`lab.jobs.sample_count`).

What leaves the lab and what comes back is said there: the config (locations at the bank,
column names, the window, k) goes to the bank; counts and histograms, each cell >= k, come
back and are recorded on the sample set.
"""

from __future__ import annotations

from lab.jobs.base import JobContext
from lab.jobs.sample_count import SampleCountJob, build_count_config, read_count


def run_next_count(worker: JobContext) -> bool:
    """Claim one requested sample count and run it; False when there was none."""
    job = SampleCountJob()
    ticket = job.claim(worker)
    if ticket is None:
        return False
    job.process(worker, ticket)
    return True


__all__ = ["build_count_config", "read_count", "run_next_count"]
