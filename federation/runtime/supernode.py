"""``python -m federation.runtime.supernode [--fedlab-poll S] <flower-supernode args>``.

Starts Flower's SuperNode with shorter polling. In flwr 1.41 the SuperNode sleeps a
hard-coded 3 s after every pull that found no message, and 0.5 s while waiting for the
ClientApp's reply; on a protocol of many short exchanges those sleeps dominate. This
launcher replaces the two values (only in this process) with ``--fedlab-poll`` seconds
(default 0.2; the idle pull then costs one small HTTP request per interval to the
SuperLink). Everything else is Flower's own ``flower-supernode``.
"""

from __future__ import annotations

import sys
import time as _time
from typing import Any

DEFAULT_POLL = 0.2
FLOWER_IDLE_SLEEP = 3
FLOWER_REPLY_SLEEP = 0.5


class _PatchedTime:
    """``time`` with the SuperNode's two polling sleeps shortened."""

    def __init__(self, poll: float) -> None:
        self.poll = poll

    def sleep(self, seconds: float) -> None:
        if seconds in (FLOWER_IDLE_SLEEP, FLOWER_REPLY_SLEEP):
            seconds = min(seconds, self.poll)
        _time.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    poll = DEFAULT_POLL
    if "--fedlab-poll" in args:
        i = args.index("--fedlab-poll")
        poll = float(args[i + 1])
        del args[i: i + 2]
    import flwr.supernode.start_client_internal as internal

    if poll > 0 and getattr(internal, "time", None) is _time:
        internal.time = _PatchedTime(poll)  # type: ignore[assignment]
    from flwr.supernode.cli import flower_supernode

    sys.argv = ["flower-supernode", *args]
    return int(flower_supernode() or 0)


if __name__ == "__main__":
    sys.exit(main())
