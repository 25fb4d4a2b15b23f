"""Atomic file writes: a reader sees the old file or the whole new one, never a torn one.

Every file a party writes (key files, PSI caches, model pieces, run state, outputs) goes
through here: the bytes are written to a temporary file in the target's own folder,
flushed and fsynced, given their final mode, then moved over the target with
``os.replace``. A failure at any point removes the temporary file and leaves the target as
it was. Files are private (0600) unless the caller asks otherwise, so a secret never sits
world-readable, even for a moment. Nothing here reveals anything to anyone: it is local
file handling at the party that owns the file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal, overload

#: The mode of a file written here unless the caller names another.
PRIVATE = 0o600


@overload
def atomic_open(
    path: str | Path, kind: Literal["text"] = ..., *, mode: int = ..., encoding: str = ...
) -> contextlib.AbstractContextManager[IO[str]]: ...


@overload
def atomic_open(
    path: str | Path, kind: Literal["binary"], *, mode: int = ..., encoding: str = ...
) -> contextlib.AbstractContextManager[IO[bytes]]: ...


def atomic_open(
    path: str | Path,
    kind: Literal["text", "binary"] = "text",
    *,
    mode: int = PRIVATE,
    encoding: str = "utf-8",
) -> contextlib.AbstractContextManager[IO[str]] | contextlib.AbstractContextManager[IO[bytes]]:
    """A file handle whose content replaces ``path`` when the ``with`` block ends cleanly.

    ``kind`` is ``"text"`` (UTF-8 unless ``encoding`` says otherwise, ``\\n`` line ends) or
    ``"binary"``; ``mode`` is the permission bits of the finished file.
    """
    return _atomic(Path(path), kind, mode, encoding)  # type: ignore[return-value]


@contextlib.contextmanager
def _atomic(path: Path, kind: str, mode: int, encoding: str) -> Iterator[IO[str] | IO[bytes]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        fh: IO[str] | IO[bytes]
        if kind == "binary":
            fh = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding=encoding, newline="\n")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, *, mode: int = PRIVATE) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    with atomic_open(path, "binary", mode=mode) as fh:
        fh.write(data)


def atomic_write_text(
    path: str | Path, text: str, *, mode: int = PRIVATE, encoding: str = "utf-8"
) -> None:
    """Write ``text`` to ``path`` atomically (see the module docstring)."""
    with atomic_open(path, "text", mode=mode, encoding=encoding) as fh:
        fh.write(text)


__all__ = ["PRIVATE", "atomic_open", "atomic_write_bytes", "atomic_write_text"]
