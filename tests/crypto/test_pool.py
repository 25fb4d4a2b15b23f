"""crypto._pool / crypto._pipes: worker processes end with the process that created them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

OWNER = textwrap.dedent("""
    import os, sys, time
    from crypto import _pipes, _pool
    if __name__ == "__main__":
        ex = _pool.get_executor(2)
        low = _pool.new_executor(1, nice=19)
        for f in [ex.submit(time.sleep, 0.2) for _ in range(2)] + [low.submit(os.getpid)]:
            f.result()
        pids = list(ex._processes) + list(low._processes)
        pids += _pipes.pipe_workers(1).share([(os.getpid, ())], lambda: None)[0]
        print(" ".join(map(str, pids)), flush=True)
        time.sleep(120)
""")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != b"Z"


def test_workers_exit_when_their_owner_is_killed(tmp_path: Path) -> None:
    """A party killed with SIGKILL (or a Ray worker torn down) runs no exit handlers; its
    pool workers must not linger, waiting for work, with their memory."""
    script = tmp_path / "owner.py"
    script.write_text(OWNER, encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]  # type: ignore[union-attr]
        assert len(pids) == 4 and all(_alive(p) for p in pids)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)]
