"""Host side of hetero LR: a party with features and no label.

What a host sends, and to whom (everything through the coordinator): its X25519 public
key; ``0.25 X_h w_h + r`` (taylor) or ``X_h w_h + r`` (exact, in the guest's secret row
order) masked with ``r`` from its guest-host key, so the coordinator sees uniform noise;
masked partial scores of the guest's validation rows once per epoch (only the guest can
remove the masks, and it learns the sum over hosts); and ``[[X_h^T d + m]]`` under the
coordinator's key with its own mask ``m``. A host learns the guest's validation row
positions, the sealed batch seed (exact mode) and ``[[d + r']]``, which it cannot
decrypt; its weights never leave it.
"""

from __future__ import annotations

import numpy as np

from crypto.pairwise import open_sealed
from federation.hetero_lr.batches import FORWARD_MASK_BOUND, dh_shared
from federation.hetero_lr.data import batch_rows, features, setup_rows
from federation.hetero_lr.messages import BACKWARD, FWD, HOST_STEP, RESID, VALID
from federation.hetero_lr.state import LrPartyState, party_state
from federation.hetero_lr.updates import apply_gradient, fresh_rng, session, set_pending
from federation.party import PartyContext, register
from federation.transport import Payload


def host_setup(ctx: PartyContext, st: LrPartyState, payload: Payload) -> None:
    """First messages at a host: validation rows, the guest's key, the sealed batch seed."""
    if "valid_idx" in payload:
        setup_rows(ctx, st, np.asarray(payload["valid_idx"]))
    if "guest_dh" in payload:
        st.pair_keys = {"guest": dh_shared(st.dh_priv, bytes(payload["guest_dh"]), st.public)}
    if "seed" in payload:
        st.perm_seed = open_sealed(
            st.pair_keys["guest"],
            bytes(payload["seed"]),
            aad=st.public,
            what=f"batch seed for {ctx.name!r}",
        )


def masked_valid_scores(ctx: PartyContext, st: LrPartyState, valid_epoch: int) -> np.ndarray:
    """This host's scores of the guest's validation rows, masked for the guest."""
    z = features(ctx, st)[st.valid] @ st.w
    return np.asarray(z + st.pair("guest").mask(VALID, valid_epoch, 0, z.size))


def masked_logit_share(ctx: PartyContext, st: LrPartyState, epoch: int, batch: int) -> np.ndarray:
    """Exact mode: ``z_h + r_h`` of the batch in the guest's secret row order."""
    rows = batch_rows(ctx, st, epoch, batch)
    z = features(ctx, st)[rows] @ st.w
    return np.asarray(z + st.pair("guest", FORWARD_MASK_BOUND).mask(FWD, epoch, batch, rows.size))


@register(HOST_STEP)
def _host_step(ctx: PartyContext, payload: Payload) -> Payload:
    """Apply the last gradient; report validation scores; send the next masked forward
    (taylor: ``0.25 z_h + r_h`` in sorted row order)."""
    st = party_state(ctx)
    host_setup(ctx, st, payload)
    if "grad" in payload:
        apply_gradient(st, np.asarray(payload["grad"]))
    out: Payload = {}
    if bool(payload.get("report_valid", False)):
        out["valid"] = masked_valid_scores(ctx, st, int(payload["valid_epoch"]))
    if bool(payload.get("forward", False)):
        epoch, batch = int(payload["epoch"]), int(payload["batch"])
        rows = batch_rows(ctx, st, epoch, batch)
        # masked with the guest-host key: the coordinator sees uniform noise only
        out["fwd"] = 0.25 * (features(ctx, st)[rows] @ st.w) + st.pair("guest").mask(
            FWD, epoch, batch, rows.size
        )
    return out


@register(BACKWARD)
def _host_backward(ctx: PartyContext, payload: Payload) -> Payload:
    """Remove the guest's pairwise mask from [[d]] and return the masked [[X_h^T d]]."""
    st = party_state(ctx)
    host_setup(ctx, st, payload)
    epoch, batch = int(payload["epoch"]), int(payload["batch"])
    rows = batch_rows(ctx, st, epoch, batch)
    sess = session(ctx, st)
    blob, mask = sess.masked_xtd_shifted(
        sess.load(bytes(payload["d"])),
        st.pair("guest").mask(RESID, epoch, batch, rows.size),
        features(ctx, st)[rows],
        fresh_rng(),
    )
    set_pending(st, mask, rows.size, epoch)
    return {"grad": bytes(blob)}


__all__ = ["host_setup", "masked_logit_share", "masked_valid_scores"]
