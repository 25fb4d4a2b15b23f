"""Model pieces: every party saves its own part of the trained model in its work dir.

Nothing here crosses parties beyond the split ids: the guest tells each host which of its
split ids the kept trees use (``sb.stage``), and the host keeps only those thresholds. The
guest's piece holds the trees (structure, its own thresholds, leaf weights), the
parameters and the public metrics; a host's piece holds its bin edges and the thresholds
under its split ids. No piece leaves its party.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crypto.atomic import atomic_write_text
from crypto.errors import DataValidationError, ProtocolError
from federation.party import PartyContext, register
from federation.secureboost.messages import COMMIT, STAGE
from federation.secureboost.state import (
    TRAIN_KEY,
    GuestState,
    drop_cache,
    guest_cipher,
    party_data,
)
from federation.secureboost.workers import ROWS_FILE
from federation.transport import Payload

MODEL_FILE = "model.json"
_STAGED = f".{MODEL_FILE}.staged"


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as indented JSON at ``path``, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=1))


def _guest_piece(st: GuestState, payload: Payload, piece: dict[str, Any]) -> Payload:
    """The kept trees, parameters and metrics; per host, the split ids they use."""
    ntrees = int(payload["n_trees"])
    trees = st.trees[:ntrees]
    used: dict[str, list[int]] = {}
    for tr in trees:
        for info in tr.values():
            if "split_id" in info:
                used.setdefault(str(info["party"]), []).append(int(info["split_id"]))
    piece.update(
        trees=[{str(k): v for k, v in tr.items()} for tr in trees],
        base_margin=0.0,
        params=json.loads(st.params.model_dump_json()),
        metrics=json.loads(str(payload.get("metrics", "{}"))),
    )
    return {f"{h}.keep": sorted(sids) for h, sids in used.items()}


@register(STAGE)
def _stage(ctx: PartyContext, payload: Payload) -> Payload:
    """Write this party's model piece to a temporary file (renamed by ``sb.commit``)."""
    st = party_data(ctx)
    piece: dict[str, Any] = {
        "algorithm": "secureboost",
        "party": ctx.name,
        "role": ctx.role.value,
        "binner": st.binner,
        "feature_names": st.feature_names,
        "encoder": st.encoder,
    }
    out: Payload = {}
    if isinstance(st, GuestState):
        out = _guest_piece(st, payload, piece)
    else:
        keep = {int(x) for x in payload.get("keep", [])}
        piece["splits"] = {str(s): list(v) for s, v in sorted(st.splits.items()) if s in keep}
    write_json(Path(ctx.work_dir) / _STAGED, piece)
    return out


@register(COMMIT)
def _commit(ctx: PartyContext, payload: Payload) -> Payload:
    staged = Path(ctx.work_dir) / _STAGED
    if not staged.is_file():
        raise ProtocolError(f"party {ctx.name!r}: no staged SecureBoost model to commit")
    staged.replace(Path(ctx.work_dir) / MODEL_FILE)
    (Path(ctx.work_dir) / ROWS_FILE).unlink(missing_ok=True)
    st = ctx.state.pop(TRAIN_KEY, None)
    if isinstance(st, GuestState) and st.backend == "paillier":
        guest_cipher(ctx, st).forget()
    drop_cache(ctx)
    return {"ok": True}


def load_piece(work_dir: Path) -> dict[str, Any]:
    """Read a party's SecureBoost model piece from ``work_dir``."""
    path = Path(work_dir) / MODEL_FILE
    if not path.is_file():
        raise DataValidationError(
            f"no SecureBoost model piece at {path}", hint="Train the model first (fedlab train)."
        )
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("algorithm") != "secureboost":
        raise DataValidationError(f"{path} is not a SecureBoost model piece")
    return raw


__all__ = ["MODEL_FILE", "load_piece", "write_json"]
