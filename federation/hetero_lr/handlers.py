"""Party handlers of hetero LR that every party answers: ``lr.init``, ``lr.forward``,
``lr.finish``.

``lr.init``: a party checks its rows and replies its X25519 public key and its row and
feature counts; the guest also the positions of its validation rows. ``lr.forward``
(exact mode): each party sends its masked logit share of the batch in the guest's secret
row order (the coordinator learns the batch's logits as a multiset only), a host also its
masked validation scores. ``lr.finish``: each party saves its own model piece in its work
dir (nothing of it leaves the party); the guest replies the public metrics.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from crypto.errors import DataValidationError
from crypto.pairwise import new_keypair
from federation.alignment import apply_commit
from federation.hetero_lr.data import load_matrix, remember
from federation.hetero_lr.guest import guest_init, guest_logit_share, guest_metrics
from federation.hetero_lr.host import host_setup, masked_logit_share, masked_valid_scores
from federation.hetero_lr.messages import FINISH, FORWARD, INIT, InitReply, InitRequest
from federation.hetero_lr.model import ModelPiece, save_piece
from federation.hetero_lr.params import LrParams
from federation.hetero_lr.state import STATE_KEY, LrPartyState, party_state
from federation.hetero_lr.updates import apply_gradient
from federation.party import PartyContext, register
from federation.roles import PartyRole
from federation.transport import Payload


def _check_features(ctx: PartyContext, X: np.ndarray, names: list[str]) -> None:
    if X.ndim != 2 or X.shape[1] == 0:
        raise DataValidationError(
            f"party {ctx.name!r}: no feature columns (matrix {X.shape})",
            hint="Name at least one feature column for this party.",
        )
    if not np.all(np.isfinite(X)):
        bad = [names[j] for j in np.flatnonzero(~np.isfinite(X).all(axis=0))]
        raise DataValidationError(
            f"party {ctx.name!r}: columns {bad} hold missing or infinite "
            "values after local encoding",
            hint="Encode the party's table with features.encoding first.",
        )


@register(INIT)
def _init(ctx: PartyContext, payload: Payload) -> Payload:
    req = InitRequest.from_payload(payload)
    params = LrParams.model_validate(json.loads(req.params))
    if "idx" in payload:  # a host's alignment commit rides on lr.init
        apply_commit(ctx, {"idx": payload["idx"]})
    m = load_matrix(ctx, req.source)
    X = np.asarray(m.X, dtype=np.float64)
    _check_features(ctx, X, list(m.feature_names))
    priv, pub = new_keypair()
    encoder = getattr(m, "encoder", None)
    st = LrPartyState(
        run=hashlib.sha256(req.public).hexdigest()[:16],
        name=ctx.name,
        backend=req.backend,
        public=req.public,
        params=params,
        seed=req.seed,
        mask_bound=req.mask_bound,
        n=X.shape[0],
        feature_names=[str(f) for f in m.feature_names],
        encoder=None if encoder is None else encoder.to_dict(),
        w=np.zeros(X.shape[1]),
        dh_priv=priv,
        source=req.source,
    )
    ctx.state[STATE_KEY] = st
    remember(ctx, st, m)
    split: dict[str, Any] = {}
    if ctx.role == PartyRole.GUEST:
        valid = guest_init(ctx, st, m.y)
        split = {"valid_idx": valid, "n_train": int(st.train.size), "n_valid": int(valid.size)}
    reply = InitReply(dh_pub=pub, n_rows=int(X.shape[0]), n_features=int(X.shape[1]), **split)
    return reply.to_payload()


@register(FORWARD)
def _forward(ctx: PartyContext, payload: Payload) -> Payload:
    """Exact mode, every party: apply the last gradient, send this batch's masked logit share
    in the secret row order (hosts ``z_h + r_h``, the guest ``z_g + b - sum_h r_h``), and
    (hosts, at an epoch start) masked validation scores."""
    st = party_state(ctx)
    host = ctx.role != PartyRole.GUEST
    if host:
        host_setup(ctx, st, payload)
    if "grad" in payload:
        apply_gradient(st, np.asarray(payload["grad"]))
    out: Payload = {}
    epoch, batch = int(payload["epoch"]), int(payload["batch"])
    if not host:
        out["z"] = guest_logit_share(ctx, st, epoch, batch)
        return out
    if bool(payload.get("report_valid", False)):
        out["valid"] = masked_valid_scores(ctx, st, int(payload["valid_epoch"]))
    out["z"] = masked_logit_share(ctx, st, epoch, batch)
    return out


def _piece(ctx: PartyContext, st: LrPartyState, metrics: dict[str, Any]) -> ModelPiece:
    return ModelPiece(
        party=ctx.name,
        role=ctx.role.value,
        backend=st.backend,
        feature_names=list(st.feature_names),
        mean=[float(x) for x in st.mean],
        scale=[float(x) for x in st.scale],
        weights=[float(x) for x in st.w],
        intercept=float(st.b) if ctx.role == PartyRole.GUEST else None,
        metrics=metrics,
        encoder=st.encoder,
    )


@register(FINISH)
def _finish(ctx: PartyContext, payload: Payload) -> Payload:
    """Apply the last gradient (guest), evaluate, and save this party's model piece."""
    st = party_state(ctx)
    out: Payload = {}
    metrics: dict[str, Any] = {}
    if ctx.role == PartyRole.GUEST:
        metrics = guest_metrics(ctx, st, payload)
        out["metrics"] = json.dumps(metrics)
    piece = _piece(ctx, st, metrics)
    save_piece(ctx.work_dir, piece)
    out["n_features"] = len(piece.weights)
    return out


__all__: list[str] = []
