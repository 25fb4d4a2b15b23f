"""Adopting an orphaned run's finished result: what a reaper reads from a run folder.

A worker that dies after its run wrote the output folder (``DIR/metrics.json`` and the
rest, renamed into place only once complete: :mod:`federation.outputs`) but before it filed
the result leaves a finished run behind. The reaper (:meth:`lab.jobs.base.Job.reap`) files
it instead of running the job again when :func:`finished_result` finds it: ``metrics.json``
written after the lost attempt started (an older output, of a run before a resubmission,
is never adopted) and the config the run wrote, which names its parties.

Why adoption and not ``flwr stop``: a local or simulation run dies with its worker, so
only a finished output can outlive it; a deployment run goes on on the SuperLink after its
worker was killed and, once it finished, writes the same folder, so adopting it keeps the
work. Stopping an unfinished deployment run is :meth:`lab.jobs.base.Job.stop_orphan`'s
hook (its run id is in the ``flwr run`` log of the run folder; ``federation.runtime``
stops a run this way when its caller gives up); until a kind implements it an unfinished
orphan is left to end on its own, its later output is not filed (the job was requeued or
failed, under another lease) and the next attempt's output replaces it.

What it reads: the run's public metrics (aggregates) and the party names of its config.
"""

from __future__ import annotations

import json
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from federation.outputs import CONFIG_FILE, METRICS_FILE, PARTIES_DIR


def finished_result(
    out_dir: Path, started_at: datetime | None
) -> tuple[dict[str, Any], list[str]] | None:
    """(metrics, party names) of the finished run in ``out_dir``, or None when there is
    none written since ``started_at`` (None: the job never started, nothing to adopt)."""
    metrics_file = out_dir / METRICS_FILE
    if started_at is None or not metrics_file.is_file():
        return None
    if metrics_file.stat().st_mtime < started_at.timestamp():
        return None
    try:
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(metrics, dict):
        return None
    return metrics, party_names(out_dir)


def party_names(out_dir: Path) -> list[str]:
    """The parties of the run in ``out_dir``: from the config it wrote, else its party
    folders."""
    config = out_dir / CONFIG_FILE
    if config.is_file():
        try:
            data = tomllib.loads(config.read_text(encoding="utf-8"))
            names = [str(p["name"]) for p in data.get("parties", []) if "name" in p]
            if names:
                return names
        except (OSError, tomllib.TOMLDecodeError, TypeError):
            pass
    parties = out_dir / PARTIES_DIR
    return sorted(p.name for p in parties.iterdir() if p.is_dir()) if parties.is_dir() else []


__all__ = ["finished_result", "party_names"]
