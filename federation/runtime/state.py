"""Party-local state that survives between messages of one run, and each run's folder.

In the Flower runtimes a party's handler may run in a fresh process for every message
(deployment) or in any of several Ray actors (simulation), so ``PartyContext.state`` is
pickled to ``work_dir/.state/<run>.pkl`` after each handler (atomically, 0600, with
:mod:`crypto.atomic`) and loaded before the next. A process that handled the previous
message reuses its in-memory copy when the file has not changed since.

A deployed party (a SuperNode) serves many runs from one work dir; each run gets its own
folder ``WORK/runs/<run>/`` (:func:`run_folder`), the run's ``work_dir``: its model piece and
its state live there, so a later run never overwrites an earlier run's piece.
:func:`discard_run` deletes the folder of a run that filed no model (failed or cancelled:
its state, its half-written or unused files) and leaves a tombstone ``WORK/.discarded/<run>``,
so a late message of that run (a stopped coordinator may still be sending) is refused
instead of writing the folder again (:func:`is_discarded`). Nothing here leaves the party.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

from crypto.atomic import atomic_write_bytes
from crypto.errors import ProtocolError
from federation.cache import BoundedLRU

STATE_DIRNAME = ".state"
#: a deployed party's run folders: ``WORK/runs/<run>/``
RUNS_DIRNAME = "runs"
#: a deployed party's tombstones of discarded runs: ``WORK/.discarded/<run>``
DISCARDED_DIRNAME = ".discarded"

#: runs whose state one process keeps in memory (a miss reads the state file again)
STATE_CACHE_SIZE = 32

#: Owner: this process (each party it serves, each run in flight); key: a state file;
#: value: the file's (inode, mtime, size) when it was read or written, and the state. Bound:
#: :data:`STATE_CACHE_SIZE` files, least recently used dropped first; an entry also goes
#: when its run finishes (:func:`clear_state`), is discarded, or a handler fails.
_CACHE: BoundedLRU[Path, tuple[tuple[int, int, int], dict[str, Any]]] = BoundedLRU(STATE_CACHE_SIZE)


def _safe(run_key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in run_key) or "run"


def state_file(work_dir: Path, run_key: str) -> Path:
    return Path(work_dir) / STATE_DIRNAME / f"{_safe(run_key)}.pkl"


def run_folder(home: Path, run_key: str) -> Path:
    """A deployed party's folder for one run (its work dir in that run), under ``home``."""
    return Path(home) / RUNS_DIRNAME / _safe(str(run_key))


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def load_state(path: Path) -> dict[str, Any]:
    """The state saved at ``path`` (empty for the first message of a run)."""
    key = _stat_key(path)
    if key is None:
        _CACHE.pop(path)
        return {}
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    with path.open("rb") as fh:
        state = pickle.load(fh)  # written by this party only (its own work dir)
    _CACHE.put(path, (key, state))
    return state


def save_state(path: Path, state: dict[str, Any], *, action: str = "") -> None:
    """Write ``state`` atomically; raises ProtocolError when it is not picklable."""
    try:
        blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - any pickling failure is the same bug
        bad = [k for k, v in state.items() if not _picklable(v)]
        raise ProtocolError(
            f"party state after {action!r} is not picklable (keys {bad}): {type(exc).__name__}",
            hint="Keep ctx.state picklable: serialize ciphertexts and key objects to bytes.",
        ) from None
    atomic_write_bytes(path, blob)
    key = _stat_key(path)
    if key is not None:
        _CACHE.put(path, (key, state))


def forget(path: Path) -> None:
    """Drop the in-memory copy (after a failed handler may have half-changed it)."""
    _CACHE.pop(path)


def clear_state(work_dir: Path) -> None:
    """Delete the party's state folder (end of a successful run)."""
    folder = Path(work_dir) / STATE_DIRNAME
    for p in _CACHE.keys():
        if p.parent == folder:
            _CACHE.pop(p)
    shutil.rmtree(folder, ignore_errors=True)


def discard_run(home: Path, run_key: str) -> bool:
    """Forget run ``run_key`` at this party, which filed no model: delete its folder under
    ``home`` (never another run's). Returns whether there was one."""
    tomb = _tombstone(home, run_key)
    tomb.parent.mkdir(parents=True, exist_ok=True)
    tomb.touch()
    folder = run_folder(home, run_key)
    if not folder.is_dir():
        return False
    for p in [p for p in _CACHE.keys() if folder in p.parents]:
        _CACHE.pop(p)
    shutil.rmtree(folder, ignore_errors=True)
    return True


def is_discarded(home: Path, run_key: str) -> bool:
    """Whether run ``run_key`` was discarded at this party (its messages are refused)."""
    return _tombstone(home, run_key).is_file()


def _tombstone(home: Path, run_key: str) -> Path:
    return Path(home) / DISCARDED_DIRNAME / _safe(str(run_key))


def _picklable(value: Any) -> bool:
    try:
        pickle.dumps(value)
    except Exception:  # noqa: BLE001
        return False
    return True


__all__ = [
    "DISCARDED_DIRNAME",
    "RUNS_DIRNAME",
    "STATE_DIRNAME",
    "clear_state",
    "discard_run",
    "forget",
    "is_discarded",
    "load_state",
    "run_folder",
    "save_state",
    "state_file",
]
