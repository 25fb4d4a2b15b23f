"""Sweeping away party run state that a crash left behind, at the party that owns it.

A run's state (:mod:`federation.runtime.state`) is deleted when the run ends, but a party
that was down when its coordinator ended the run (a killed SuperNode), or a coordinator that
died itself (a killed SuperLink or ServerApp), leaves it on disk. Flower does not tell a
SuperNode the status of a run it is not serving (the Fleet API refuses finished runs), so a
party keeps its own record: the state file's modification time is the run's last activity
at this party, and a tombstone ``WORK/.discarded/<run>`` says its coordinator ended it.
:func:`sweep_state` deletes the state of discarded runs and of runs idle for longer than
the TTL (``state-ttl-seconds`` in the node config, else ``FEDLAB_STATE_TTL_SECONDS``,
default :data:`DEFAULT_TTL`); a SuperNode started through
:mod:`federation.runtime.supernode` sweeps at start-up and then every
:func:`sweep_interval` seconds (:class:`Sweeper`), and the ClientApp sweeps at most that
often as it serves messages. Coordinators also report runs they ended without every party's
confirmation at the start of the next run (``runtime.discard``).

The simulation runtime's private party folders that a killed process left are removed by
the next run on the machine (:func:`federation.runtime.state.sweep_private_root`).

Nothing here is sent anywhere: a party deletes its own files.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crypto.errors import ConfigError
from federation.runtime.state import (
    DISCARDED_DIRNAME,
    STATE_SUFFIX,
    drop_state,
    is_discarded,
    state_dir,
)

#: seconds a run's state may stay idle at a party before it is swept away
TTL_ENV = "FEDLAB_STATE_TTL_SECONDS"
TTL_NODE_CONFIG = "state-ttl-seconds"
DEFAULT_TTL = 6 * 3600.0
#: the node config key of a folder for the state other than the work dir
STATE_DIR_NODE_CONFIG = "state-dir"
#: the node config key of the SuperNode's work dir, and the fallback root of work dirs
WORK_DIR_NODE_CONFIG = "work-dir"
DEFAULT_WORK_ROOT_ENV = "FEDLAB_WORK_DIR"
#: longest pause between two sweeps (shorter when the TTL is short)
MAX_SWEEP_INTERVAL = 300.0

log = logging.getLogger("fedlab.state_sweep")


def state_ttl(node_config: Mapping[str, Any] | None = None) -> float:
    """The TTL in seconds: the node config's ``state-ttl-seconds``, else the environment's
    ``FEDLAB_STATE_TTL_SECONDS``, else :data:`DEFAULT_TTL`."""
    raw: Any = (node_config or {}).get(TTL_NODE_CONFIG)
    source = f"node config {TTL_NODE_CONFIG}"
    if raw in (None, ""):
        raw, source = os.environ.get(TTL_ENV, ""), TTL_ENV
    if raw in (None, ""):
        return DEFAULT_TTL
    try:
        ttl = float(raw)
    except (TypeError, ValueError):
        ttl = float("nan")
    if not ttl > 0 or ttl == float("inf"):
        raise ConfigError(
            f"{source} must be a positive number of seconds (got {raw!r})",
            hint=f"Set it to e.g. {int(DEFAULT_TTL)} (six hours), or leave it unset.",
        )
    return ttl


def sweep_interval(ttl: float) -> float:
    """Seconds between two sweeps for ``ttl``."""
    return max(1.0, min(MAX_SWEEP_INTERVAL, ttl / 4))


def node_dirs(name: str, node_config: Mapping[str, Any]) -> tuple[Path, Path]:
    """A SuperNode's work dir (``work-dir``, else ``$FEDLAB_WORK_DIR/NAME``, else
    ``~/.fedlab/work/NAME``) and the private folder of its run state (``state-dir``, else
    the work dir)."""
    work = node_config.get(WORK_DIR_NODE_CONFIG)
    if work:
        home = Path(str(work)).expanduser()
    else:
        home = Path(os.environ.get(DEFAULT_WORK_ROOT_ENV, "~/.fedlab/work")).expanduser() / name
    private = node_config.get(STATE_DIR_NODE_CONFIG)
    return home, Path(str(private)).expanduser() if private else home


def sweep_state(
    private: Path, *, ttl: float, home: Path | None = None, now: float | None = None
) -> list[str]:
    """Delete the state files in ``private`` of runs discarded at this party (a tombstone in
    ``home``) or idle for more than ``ttl`` seconds, with any temporary file an interrupted
    write left; tombstones older than ``ttl`` go too. Returns the run keys removed."""
    now = time.time() if now is None else now
    removed: list[str] = []
    folder = state_dir(private)
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        if not path.is_file():
            continue
        key = path.name[: -len(STATE_SUFFIX)] if path.name.endswith(STATE_SUFFIX) else ""
        stale = _age(path, now) > ttl
        ended = bool(key) and home is not None and is_discarded(home, key)
        if not (stale or ended or path.name.endswith(".tmp")):
            continue
        if path.name.endswith(".tmp") and _age(path, now) < min(ttl, 60.0):
            continue  # a write in progress
        drop_state(path)
        if key:
            removed.append(key)
    tombs = Path(home) / DISCARDED_DIRNAME if home is not None else None
    for tomb in sorted(tombs.iterdir()) if tombs is not None and tombs.is_dir() else []:
        if _age(tomb, now) > ttl:
            tomb.unlink(missing_ok=True)
    if removed:
        log.info("removed the state of %d ended or idle run(s): %s", len(removed), removed)
    return removed


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


class Sweeper:
    """Sweeps one party's state at start and then every ``interval`` seconds (a thread)."""

    def __init__(self, private: Path, home: Path | None, ttl: float) -> None:
        self.private = private
        self.home = home
        self.ttl = ttl
        self.interval = sweep_interval(ttl)
        self.sweeps = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fedlab-state-sweep", daemon=True)

    def sweep(self) -> list[str]:
        try:
            return sweep_state(self.private, ttl=self.ttl, home=self.home)
        except OSError as exc:  # a folder being replaced; the next sweep tries again
            log.warning("state sweep failed: %s", type(exc).__name__)
            return []
        finally:
            self.sweeps += 1

    def start(self) -> Sweeper:
        self.sweep()  # start-up: before the node takes any message
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sweep()

    def stop(self) -> None:
        self._stop.set()


#: Owner: this process; key: a private folder; value: when it was last swept (monotonic).
#: Bound: one entry per party this process serves.
_LAST: dict[Path, float] = {}


def sweep_now_and_then(private: Path, home: Path | None, node_config: Mapping[str, Any]) -> None:
    """Sweep ``private`` unless this process swept it less than an interval ago (the
    ClientApp, for SuperNodes started without :mod:`federation.runtime.supernode`)."""
    ttl = state_ttl(node_config)
    last = _LAST.get(private)
    if last is not None and time.monotonic() - last < sweep_interval(ttl):
        return
    _LAST[private] = time.monotonic()
    sweep_state(private, ttl=ttl, home=home)


__all__ = [
    "DEFAULT_TTL",
    "DEFAULT_WORK_ROOT_ENV",
    "MAX_SWEEP_INTERVAL",
    "STATE_DIR_NODE_CONFIG",
    "TTL_ENV",
    "TTL_NODE_CONFIG",
    "WORK_DIR_NODE_CONFIG",
    "Sweeper",
    "node_dirs",
    "state_ttl",
    "sweep_interval",
    "sweep_now_and_then",
    "sweep_state",
]
