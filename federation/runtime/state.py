"""Party-local state that survives between messages of one run, and each run's folder.

In the Flower runtimes a party's handler may run in a fresh process for every message
(deployment) or in any of several Ray actors (simulation), so ``PartyContext.state`` is
pickled to ``PRIVATE/.state/<run>.pkl`` after each handler (atomically, 0600, with
:mod:`crypto.atomic`) and loaded before the next. A process that handled the previous
message reuses its in-memory copy when the file has not changed since.

``PRIVATE`` is a folder that only this party uses (:func:`state_dir` makes its ``.state``
folder 0700): a SuperNode's own work dir ``WORK`` (or its ``state-dir`` node config), and on
the simulation runtime a fresh private folder per party and run
(:func:`private_party_dirs`), never the coordinator's output folder. The state holds a
party's secrets in a run (DH private keys, pair keys, masks, aligned rows); it is deleted
when the run ends, in any way (:func:`drop_state`: ``runtime.finish``, ``runtime.discard``,
the party's own error reply), and what a crash leaves is swept away later
(:mod:`federation.runtime.state_sweep`). The file's modification time is the party's record
of the run's last activity.

A deployed party (a SuperNode) serves many runs from one work dir; each run gets its own
folder ``WORK/runs/<run>/`` (:func:`run_folder`), the run's ``work_dir``: its model piece
lives there, so a later run never overwrites an earlier run's piece. :func:`discard_run`
deletes the folder and the state of a run that filed no model (failed or cancelled: its
half-written or unused files) and leaves a tombstone ``WORK/.discarded/<run>``, so a late
message of that run (a stopped coordinator may still be sending) is refused instead of
writing the folder again (:func:`is_discarded`). Nothing here leaves the party.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crypto.atomic import atomic_write_bytes
from crypto.errors import ProtocolError
from federation.cache import BoundedLRU

STATE_DIRNAME = ".state"
STATE_SUFFIX = ".pkl"
#: a deployed party's run folders: ``WORK/runs/<run>/``
RUNS_DIRNAME = "runs"
#: a deployed party's tombstones of discarded runs: ``WORK/.discarded/<run>``
DISCARDED_DIRNAME = ".discarded"
#: where the simulation runtime's private party folders go (default: the system temp dir)
PRIVATE_ROOT_ENV = "FEDLAB_PARTY_STATE_ROOT"
#: the name prefix of those folders: ``fedlab-party-<pid>-<party>-<random>``
PRIVATE_PREFIX = "fedlab-party-"
PRIVATE_MODE = 0o700

#: runs whose state one process keeps in memory (a miss reads the state file again)
STATE_CACHE_SIZE = 32

#: Owner: this process (each party it serves, each run in flight); key: a state file;
#: value: the file's (inode, mtime, size) when it was read or written, and the state. Bound:
#: :data:`STATE_CACHE_SIZE` files, least recently used dropped first; an entry also goes
#: when its run's state is dropped (:func:`drop_state`), discarded, or a handler fails.
_CACHE: BoundedLRU[Path, tuple[tuple[int, int, int], dict[str, Any]]] = BoundedLRU(STATE_CACHE_SIZE)


def safe_key(run_key: str) -> str:
    """``run_key`` as one file name (no separators, no dots)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in run_key) or "run"


def state_dir(private: Path) -> Path:
    """The party's state folder in its private folder ``private`` (not created here)."""
    return Path(private) / STATE_DIRNAME


def state_file(private: Path, run_key: str) -> Path:
    """The state file of run ``run_key`` of the party whose private folder is ``private``."""
    return state_dir(private) / f"{safe_key(run_key)}{STATE_SUFFIX}"


def run_folder(home: Path, run_key: str) -> Path:
    """A deployed party's folder for one run (its work dir in that run), under ``home``."""
    return Path(home) / RUNS_DIRNAME / safe_key(str(run_key))


def make_private(folder: Path) -> Path:
    """Create ``folder`` (and parents) and make it 0700; return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_MODE)
    os.chmod(folder, PRIVATE_MODE)
    return folder


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
        state = pickle.load(fh)  # written by this party only (its own private folder)
    _CACHE.put(path, (key, state))
    return state


def save_state(path: Path, state: dict[str, Any], *, action: str = "") -> None:
    """Write ``state`` atomically (0600, in a 0700 folder); raises ProtocolError when it is
    not picklable."""
    try:
        blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - any pickling failure is the same bug
        bad = [k for k, v in state.items() if not _picklable(v)]
        raise ProtocolError(
            f"party state after {action!r} is not picklable (keys {bad}): {type(exc).__name__}",
            hint="Keep ctx.state picklable: serialize ciphertexts and key objects to bytes.",
        ) from None
    make_private(path.parent)
    atomic_write_bytes(path, blob)
    key = _stat_key(path)
    if key is not None:
        _CACHE.put(path, (key, state))


def drop_state(path: Path) -> bool:
    """Delete one run's state file and its in-memory copy; whether there was a file."""
    _CACHE.pop(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def discard_run(home: Path, run_key: str, private: Path | None = None) -> bool:
    """Forget run ``run_key`` at this party, which filed no model: delete its folder under
    ``home`` (never another run's) and its state in ``private`` (default ``home``). Returns
    whether there was a folder or state."""
    tomb = _tombstone(home, run_key)
    tomb.parent.mkdir(parents=True, exist_ok=True)
    tomb.touch()
    had_state = drop_state(state_file(private or home, run_key))
    folder = run_folder(home, run_key)
    if not folder.is_dir():
        return had_state
    for p in [p for p in _CACHE.keys() if folder in p.parents]:
        _CACHE.pop(p)
    shutil.rmtree(folder, ignore_errors=True)
    return True


def is_discarded(home: Path, run_key: str) -> bool:
    """Whether run ``run_key`` was discarded at this party (its messages are refused)."""
    return _tombstone(home, run_key).is_file()


def _tombstone(home: Path, run_key: str) -> Path:
    return Path(home) / DISCARDED_DIRNAME / safe_key(str(run_key))


def private_root() -> Path:
    """Where :func:`private_party_dirs` creates its folders."""
    return Path(os.environ.get(PRIVATE_ROOT_ENV) or tempfile.gettempdir())


@contextmanager
def private_party_dirs(parties: Sequence[str]) -> Iterator[dict[str, Path]]:
    """One fresh private folder (0700) per party for one run on this machine (simulation:
    every party's state outside the coordinator's output folder); all deleted at the end.
    A folder left by a killed process names that process and is swept away by the next
    run on this machine (:func:`sweep_private_root`)."""
    root = private_root()
    root.mkdir(parents=True, exist_ok=True)
    sweep_private_root(root)
    dirs: dict[str, Path] = {}
    try:
        for name in parties:
            prefix = f"{PRIVATE_PREFIX}{os.getpid()}-{safe_key(name)}-"
            dirs[name] = Path(tempfile.mkdtemp(prefix=prefix, dir=root))  # 0700
        yield dirs
    finally:
        for folder in dirs.values():
            for p in [p for p in _CACHE.keys() if folder in p.parents]:
                _CACHE.pop(p)
            shutil.rmtree(folder, ignore_errors=True)


def sweep_private_root(root: Path | None = None, *, ttl: float | None = None) -> list[Path]:
    """Delete the private party folders under ``root`` whose process is gone (or that are
    older than ``ttl`` seconds); the folders removed."""
    root = Path(root or private_root())
    removed: list[Path] = []
    now = time.time()
    for folder in sorted(root.glob(f"{PRIVATE_PREFIX}*")) if root.is_dir() else []:
        try:
            pid = int(folder.name[len(PRIVATE_PREFIX) :].split("-", 1)[0])
            age = now - folder.stat().st_mtime
        except (ValueError, OSError):
            continue
        if folder.is_dir() and (not _pid_alive(pid) or (ttl is not None and age > ttl)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _picklable(value: Any) -> bool:
    try:
        pickle.dumps(value)
    except Exception:  # noqa: BLE001
        return False
    return True


__all__ = [
    "DISCARDED_DIRNAME",
    "PRIVATE_PREFIX",
    "PRIVATE_ROOT_ENV",
    "RUNS_DIRNAME",
    "STATE_DIRNAME",
    "STATE_SUFFIX",
    "discard_run",
    "drop_state",
    "is_discarded",
    "load_state",
    "make_private",
    "private_party_dirs",
    "private_root",
    "run_folder",
    "safe_key",
    "save_state",
    "state_dir",
    "state_file",
    "sweep_private_root",
]
