"""The coordinator's checkpoints of horizontal FedAvg (``params.checkpoint_dir``).

After each round the coordinator writes what it holds anyway: the round's aggregate
(``ckks``: ciphertext bytes it cannot read; other backends: the summed vector it already
knows), the session name, the backend and the model size; with ``ckks`` also the public
CKKS context. No bank's own vector, key or data is ever written here. Files are written
atomically (:mod:`crypto.atomic`); only the last round's aggregate is kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from crypto.atomic import atomic_write_bytes, atomic_write_text

CHECKPOINT_FILE = "homo_checkpoint.json"
PUBLIC_CONTEXT_FILE = "homo_public_context.bin"


def save_checkpoint(folder: Path, ck: dict[str, Any], agg: Any) -> None:
    """Record round ``ck["round"]`` and its aggregate ``agg``; drop older aggregates."""
    folder.mkdir(parents=True, exist_ok=True)
    blob = (
        bytes(agg)
        if isinstance(agg, (bytes, bytearray))
        else np.asarray(agg, dtype=np.float64).tobytes()
    )
    agg_name = f"homo_round{ck['round']:05d}.bin"
    atomic_write_bytes(folder / agg_name, blob)
    meta = {**ck, "agg_file": agg_name, "agg_kind": "ckks" if isinstance(agg, bytes) else "f64"}
    atomic_write_text(folder / CHECKPOINT_FILE, json.dumps(meta, indent=2))
    for old in folder.glob("homo_round*.bin"):
        if old.name != agg_name:
            old.unlink(missing_ok=True)


def load_checkpoint(folder: str | Path) -> tuple[dict[str, Any], Any] | None:
    """(meta, aggregate) of the last completed round in ``folder``, or None."""
    path = Path(folder) / CHECKPOINT_FILE
    if not path.is_file():
        return None
    meta = json.loads(path.read_text(encoding="utf-8"))
    blob = (Path(folder) / meta["agg_file"]).read_bytes()
    agg = blob if meta["agg_kind"] == "ckks" else np.frombuffer(blob, dtype=np.float64).copy()
    return meta, agg


def save_public_context(folder: Path, public_ctx: bytes) -> None:
    atomic_write_bytes(folder / PUBLIC_CONTEXT_FILE, public_ctx)


def load_public_context(folder: Path) -> bytes:
    return (folder / PUBLIC_CONTEXT_FILE).read_bytes()


__all__ = [
    "CHECKPOINT_FILE",
    "PUBLIC_CONTEXT_FILE",
    "load_checkpoint",
    "load_public_context",
    "save_checkpoint",
    "save_public_context",
]
