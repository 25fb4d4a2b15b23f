"""The coordinator's record of runs whose end not every party has confirmed.

A run that ends without every party confirming ``runtime.discard`` (a party was down, the
SuperLink or the ServerApp died) is kept here, ``STATE/ended-runs.json`` in the deployment's
state dir on the coordinator's machine: run id -> the parties still to be told. The next
run on that state dir reports those runs ended to its parties (run config ``ended``) and
keeps only what is still unconfirmed afterwards, so a party that comes back deletes what
the lost run left. It holds run ids and party names only, never party data or secrets.
Updates are serialized with a lock file (two runs may end at once).
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from crypto.atomic import atomic_write_text

LEDGER_FILE = "ended-runs.json"
#: at most this many runs are kept (the oldest go first; a party's TTL sweep covers them)
MAX_RUNS = 200

Ledger = dict[str, list[str]]


@contextmanager
def _locked(state: Path) -> Iterator[Path]:
    state.mkdir(parents=True, exist_ok=True)
    with (state / f".{LEDGER_FILE}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield state / LEDGER_FILE
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> Ledger:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(r): [str(p) for p in ps] for r, ps in raw.items() if isinstance(ps, list) and ps}


def _write(path: Path, ledger: Mapping[str, Sequence[str]]) -> None:
    kept = {r: sorted(set(ps)) for r, ps in ledger.items() if ps}
    if len(kept) > MAX_RUNS:
        kept = dict(list(kept.items())[-MAX_RUNS:])
    atomic_write_text(path, json.dumps(kept, indent=2, sort_keys=False) + "\n")


def pending_runs(state: Path) -> Ledger:
    """The runs to report ended (run id -> parties still to be told)."""
    with _locked(state) as path:
        return _read(path)


def record(
    state: Path, sent: Mapping[str, Sequence[str]], unconfirmed: Mapping[str, Sequence[str]]
) -> None:
    """After a run: the entries ``sent`` to it are replaced by what it reports
    ``unconfirmed`` (its own run included); entries other runs added meanwhile stay."""
    with _locked(state) as path:
        ledger = _read(path)
        for run in sent:
            ledger.pop(run, None)
        for run, parties in unconfirmed.items():
            ledger[run] = list(parties)
        _write(path, ledger)


__all__ = ["LEDGER_FILE", "MAX_RUNS", "Ledger", "pending_runs", "record"]
