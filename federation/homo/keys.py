"""A bank's CKKS secret context for one training session: its key file and its cache.

With ``ckks`` every bank holds the same secret context, created by the key dealer and
sealed to each other bank (:mod:`federation.homo.ckks`). The secret stays at the bank: it is
written (mode 0600, atomically) to ``homo_keys/<session>.ckks`` under the bank's own work
dir and kept loaded in ``ctx.cache``; it is deleted when the run's evaluation is over. The
sealed copy that travels names the session and the recipient bank (:func:`seal_info`), so
the coordinator can neither open it nor replay it to another bank or session.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crypto.atomic import atomic_write_bytes
from crypto.errors import ProtocolError
from federation.party import PartyContext

if TYPE_CHECKING:  # crypto.ckks loads tenseal: imported where a CKKS key is used
    from crypto.ckks import CkksContext

KEY_DIR = "homo_keys"
_CACHE_PREFIX = "homo.ckks:"


def key_path(ctx: PartyContext, session: str) -> Path:
    """A training session can span runs (``resume``): on a SuperNode its key lives in the
    node's own work dir, not in one run's folder."""
    return Path(ctx.home or ctx.work_dir) / KEY_DIR / f"{session}.ckks"


def save_key(ctx: PartyContext, session: str, secret: bytes) -> None:
    atomic_write_bytes(key_path(ctx, session), secret)


def remember(ctx: PartyContext, session: str, secret_ctx: CkksContext) -> None:
    ctx.cache[_CACHE_PREFIX + session] = secret_ctx


def secret_context(ctx: PartyContext, session: str) -> CkksContext:
    """The session's secret context (from the cache, else from the bank's key file)."""
    from crypto.ckks import CkksContext

    sc = ctx.cache.get(_CACHE_PREFIX + session)
    if isinstance(sc, CkksContext):
        return sc
    path = key_path(ctx, session)
    if not path.is_file():
        raise ProtocolError(
            f"bank {ctx.name!r} holds no CKKS key for training session {session}",
            hint="Start the training without resume.",
        )
    sc = CkksContext.from_bytes(path.read_bytes())
    remember(ctx, session, sc)
    return sc


def seal_info(session: str, bank: str) -> bytes:
    """The associated data binding a sealed secret context to its session and recipient."""
    return f"fedlab/homo/ckks-key|{session}|{bank}".encode()


__all__ = ["KEY_DIR", "key_path", "remember", "save_key", "seal_info", "secret_context"]
