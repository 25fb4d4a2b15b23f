"""Progress of a deployment run, from the ServerApp's process to ``fedlab train`` / the worker.

In the deployment runtime the driver runs in a ServerApp process the SuperLink starts, so its
progress callback cannot reach the caller directly. The ServerApp appends one JSON line per
event (``{"event": "epoch", "fields": {"epoch": 2, "loss": 0.41}}``) to the file named by the
run config ``progress``; the caller reads the new complete lines while it waits. Only the
event's scalar fields are written (phase names, epoch numbers, losses: aggregates the
coordinator already holds), never a party's data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from federation.protocol import ProgressFn, no_progress


def progress_writer(path: str | Path | None) -> ProgressFn:
    """A progress callback appending each event to ``path`` (no file: no progress)."""
    if not path:
        return no_progress
    target = Path(path)

    def write(event: str, fields: dict[str, Any]) -> None:
        scalars = {k: v for k, v in fields.items() if isinstance(v, int | float | str | bool)}
        line = json.dumps({"event": event, "fields": scalars}) + "\n"
        with target.open("a", encoding="utf-8") as fh:
            fh.write(line)

    return write


class ProgressTail:
    """Reads the events a :func:`progress_writer` appended since the last :meth:`poll`."""

    def __init__(self, path: Path, progress: ProgressFn) -> None:
        self.path = path
        self.progress = progress
        self.offset = 0

    def poll(self) -> int:
        """Hand every new complete line to the callback; return how many there were."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return 0
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next poll
        self.offset += end
        n = 0
        for raw in chunk[:end].splitlines():
            if raw.strip():
                entry = json.loads(raw)
                self.progress(str(entry["event"]), dict(entry.get("fields") or {}))
                n += 1
        return n


__all__ = ["ProgressTail", "progress_writer"]
