"""The lab server in a thread of this process, on a free loopback port: for one person's
use and the demo (``fedlab demo`` talks to its catalog only through it).

:func:`serve` starts uvicorn on ``127.0.0.1`` and yields the base URL; leaving the block
stops it. Nothing listens beyond loopback.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from lab.errors import RuntimeStartError

START_SECONDS = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(engine: Engine) -> Iterator[str]:
    """The lab server over ``engine`` on loopback while the block runs; its base URL."""
    import uvicorn

    from lab.server.app import create_app

    port = _free_port()
    config = uvicorn.Config(
        create_app(engine), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="lab-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeStartError(f"the lab server did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


__all__ = ["serve"]
