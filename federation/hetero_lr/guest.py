"""Guest side of hetero LR: the party with the label.

What the guest sends, and to whom (everything through the coordinator): its X25519 public
key; the positions (aligned order) of its validation rows; for each host ``[[d + r']]``
with ``d = cw (s - y)`` (exact) or ``cw (0.25 z + 0.5 - y)`` (taylor), masked with ``r'``
from that host's guest-host key under the coordinator's key; in exact mode its masked logit
share and its secret batch seed sealed for each host; ``[[X_g^T d + m]]`` with its own mask
``m``; and public metrics (loss per epoch, AUC, KS, min-cell curves, counts). The guest
learns the sum over hosts of their partial scores on the validation rows (for the loss,
AUC and KS) and ciphertexts it cannot decrypt; the labels never leave it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from crypto.errors import DataValidationError, ProtocolError
from crypto.pairwise import seal
from features.disclosure import require_min_cell
from features.metrics import auc, curve_aggregates, ks, sigmoid
from federation.hetero_lr.backends import Session
from federation.hetero_lr.batches import FORWARD_MASK_BOUND, dh_shared
from federation.hetero_lr.data import batch_rows, features, labels, setup_rows
from federation.hetero_lr.messages import FWD, GUEST_STEP, RESID, VALID
from federation.hetero_lr.state import LrPartyState, party_state
from federation.hetero_lr.updates import apply_gradient, class_weights, masked_xtd, session
from federation.party import PartyContext, register
from federation.partydata import party_k
from federation.population import validation_rows
from federation.transport import Payload


def _new_batch_seed() -> bytes:
    """The guest's secret seed of the batch plan and row order (exact mode)."""
    return os.urandom(32)


def guest_init(ctx: PartyContext, st: LrPartyState, y: np.ndarray | None) -> np.ndarray:
    """Check the label, draw the validation split (and, exact mode, the secret batch seed);
    returns the validation rows' positions (they go to every party). A split whose training
    or validation rows are fewer than k is refused here, before any model exchange."""
    if y is None:
        raise DataValidationError(f"guest {ctx.name!r} has no label column")
    y = np.asarray(y, dtype=np.float64)
    if not np.all(np.isin(y, (0.0, 1.0))):
        raise DataValidationError(f"guest {ctx.name!r}: the label must be 0/1")
    if len(np.unique(y)) < 2:
        raise DataValidationError(
            f"guest {ctx.name!r}: the aligned rows hold one class only",
            hint="Check the label column and the intersection.",
        )
    valid = validation_rows(ctx, y, st.params.valid_fraction, st.seed)
    require_min_cell(
        {"n_aligned": y.size, "n_train": y.size - valid.size, "n_valid": valid.size},
        party_k(ctx),
        where=f"guest {ctx.name!r} hetero LR split",
    )
    setup_rows(ctx, st, valid)
    st.losses = []
    if st.params.sigmoid == "exact":
        st.perm_seed = _new_batch_seed()  # batch plan and row order, hosts only
    return np.asarray(valid, dtype=np.int64)


def guest_valid_loss(
    ctx: PartyContext, st: LrPartyState, valid_sum: np.ndarray, valid_epoch: int
) -> float:
    """Validation loss of the joint scores (the hosts' masks removed); kept in the state."""
    from sklearn.metrics import log_loss  # lazy: party processes start light

    v = st.valid
    host_z = np.asarray(valid_sum, dtype=np.float64) - sum(
        st.pair(h).mask(VALID, valid_epoch, 0, v.size) for h in st.pair_keys
    )
    y_all = labels(ctx, st)
    z = features(ctx, st)[v] @ st.w + st.b + host_z
    st.valid_z = z
    cw = class_weights(st.params, y_all, st.train)
    sw = None if cw is None else cw[v]
    p = sigmoid(np.clip(z, -500, 500))
    loss = float(log_loss(y_all[v], p, sample_weight=sw, labels=[0, 1]))
    st.losses.append(loss)
    return loss


def should_stop(st: LrPartyState) -> bool:
    params, losses = st.params, st.losses
    return params.early_stopping and len(losses) >= 2 and abs(losses[-2] - losses[-1]) < params.tol


def guest_logit_share(ctx: PartyContext, st: LrPartyState, epoch: int, batch: int) -> np.ndarray:
    """Exact mode: ``z_g + b - sum_h r_h`` of the batch in the secret row order."""
    rows = batch_rows(ctx, st, epoch, batch)
    z = features(ctx, st)[rows] @ st.w
    masks = sum(
        st.pair(h, FORWARD_MASK_BOUND).mask(FWD, epoch, batch, rows.size) for h in st.pair_keys
    )
    return np.asarray(z + st.b - masks)


def _host_keys(st: LrPartyState, payload: Payload, out: Payload) -> None:
    """The hosts' keys arrive: derive the pairwise keys, seal the batch seed for each."""
    names = [str(n) for n in payload["host_names"]]
    pubs = [bytes(p) for p in payload["host_dh"]]
    st.pair_keys = {
        n: dh_shared(st.dh_priv, p, st.public) for n, p in zip(names, pubs, strict=False)
    }
    if st.perm_seed is not None:
        for n, key in st.pair_keys.items():
            out[f"seed.{n}"] = seal(key, st.perm_seed, aad=st.public)


def _residual(
    ctx: PartyContext, st: LrPartyState, sess: Session, payload: Payload, rows: np.ndarray
) -> Any:
    """``[[d]]`` of the batch: from the encrypted sigmoid (exact) or forwards (taylor)."""
    epoch, batch = int(payload["epoch"]), int(payload["batch"])
    y_all = labels(ctx, st)
    y = y_all[rows]
    cw = class_weights(st.params, y_all, st.train)
    if "s" in payload:
        # [[s]]: the coordinator's encryption of sigmoid(z) in the secret row order
        d = sess.add_plain(sess.load(bytes(payload["s"])), -y)
        return d if cw is None else sess.mul_plain(d, cw[rows])
    # [[S]] = [[sum_h (0.25 z_h + r_h)]], encrypted by the coordinator (fresh randomness
    # the hosts do not know); remove the hosts' masks and add the guest's own term
    fwd = sess.load(bytes(payload["fwd"]))
    r_sum = np.asarray(sum(st.pair(h).mask(FWD, epoch, batch, rows.size) for h in st.pair_keys))
    own = 0.25 * (features(ctx, st)[rows] @ st.w + st.b) + 0.5 - y
    if cw is None:
        return sess.add_plain(fwd, own - r_sum)
    return sess.add_plain(sess.mul_plain(sess.add_plain(fwd, -r_sum), cw[rows]), own * cw[rows])


@register(GUEST_STEP)
def _guest_step(ctx: PartyContext, payload: Payload) -> Payload:
    """Apply the last gradient (taylor); evaluate an epoch; form [[d]] and the masked
    [[X_g^T d]]. Exact mode: [[d]] = cw ([[s]] - y) from the coordinator's encrypted
    sigmoid of the permuted logits; taylor: from the encrypted sum of host forwards."""
    st = party_state(ctx)
    out: Payload = {}
    if "host_dh" in payload:
        _host_keys(st, payload, out)
    if "grad" in payload:
        apply_gradient(st, np.asarray(payload["grad"]))
    if "valid" in payload:
        out["loss"] = guest_valid_loss(
            ctx, st, np.asarray(payload["valid"]), int(payload["valid_epoch"])
        )
        if should_stop(st):
            out["stop"] = True
            return out
    if "fwd" not in payload and "s" not in payload:
        return out
    epoch, batch = int(payload["epoch"]), int(payload["batch"])
    rows = batch_rows(ctx, st, epoch, batch)
    sess = session(ctx, st)
    d = _residual(ctx, st, sess, payload, rows)
    for h in st.pair_keys:
        out[f"d.{h}"] = sess.dump(
            sess.add_plain(d, st.pair(h).mask(RESID, epoch, batch, rows.size))
        )
    Xg = features(ctx, st)[rows]
    if st.params.fit_intercept:
        Xg = np.hstack([Xg, np.ones((rows.size, 1))])
    out["grad"] = masked_xtd(sess, st, d, Xg, epoch)
    return out


def guest_metrics(ctx: PartyContext, st: LrPartyState, payload: Payload) -> dict[str, Any]:
    """Apply the last gradient, evaluate the last epoch: the public metrics of the run."""
    if "grad" in payload:
        apply_gradient(st, np.asarray(payload["grad"]))
    if "valid" in payload:
        guest_valid_loss(ctx, st, np.asarray(payload["valid"]), int(payload["valid_epoch"]))
    if st.valid_z is None:
        raise ProtocolError(f"guest {ctx.name!r}: no validation scores to evaluate")
    yv = labels(ctx, st)[st.valid]
    z = st.valid_z
    return {
        "auc": auc(yv, z),
        "ks": ks(yv, z),
        **curve_aggregates(yv, z, min_cell=party_k(ctx)),
        "loss": [float(x) for x in st.losses],
        "epochs": len(st.losses),
        "n_train": int(st.train.size),
        "n_valid": int(st.valid.size),
    }


__all__ = [
    "guest_init",
    "guest_logit_share",
    "guest_metrics",
    "guest_valid_loss",
    "should_stop",
]
