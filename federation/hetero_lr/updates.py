"""A party's local gradient step in hetero LR, and its ciphertext session.

A party receives its gradient from the coordinator only as ``X^T d + m``, masked with its
own uniform mask ``m``; it removes the mask and updates its own weights here. Weights and
masks never leave the party; what it sends is the encrypted, masked ``[[X^T d + m]]``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from crypto.errors import ProtocolError
from federation.hetero_lr.backends import Session
from federation.hetero_lr.params import LrParams
from federation.hetero_lr.state import LrPartyState, PendingGradient
from federation.party import PartyContext

_SESSION_KEY = "hetero_lr.session"


def class_weights(params: LrParams, y: np.ndarray, train: np.ndarray) -> np.ndarray | None:
    """Per-row class weights (``balanced``: from the training rows' class counts)."""
    cw = params.class_weight
    if cw is None:
        return None
    y_train = y[train]
    if cw == "balanced":
        counts = np.bincount(y_train.astype(int), minlength=2).astype(np.float64)
        w = y_train.size / (2.0 * counts)
    else:
        w = np.array([cw.get("0", 1.0), cw.get("1", 1.0)])
    return np.asarray(w[y.astype(int)], dtype=np.float64)


def apply_gradient(st: LrPartyState, grad_masked: np.ndarray) -> None:
    """Unmask the decrypted gradient and take one (proximal) gradient step."""
    pend = st.pending
    if pend is None:
        raise ProtocolError("received a gradient without a pending masked gradient")
    params = st.params
    g = (np.asarray(grad_masked, dtype=np.float64) - pend.mask) / pend.n
    lr = params.learning_rate_at(pend.epoch)
    k = st.w.size
    gw = g[:k] + params.l2 * st.w
    w = st.w - lr * gw
    if params.l1 > 0:
        w = np.sign(w) * np.maximum(np.abs(w) - lr * params.l1, 0.0)
    st.w = w
    if g.size > k and params.fit_intercept:
        st.b = float(st.b - lr * g[k])
    st.pending = None


def set_pending(st: LrPartyState, mask: np.ndarray, n: int, epoch: int) -> None:
    """Keep the mask of the gradient the coordinator is decrypting for this party."""
    st.pending = PendingGradient(np.asarray(mask, dtype=np.float64), n, epoch)


def fresh_rng() -> np.random.Generator:
    """A generator for this party's own gradient masks (seeded from the OS)."""
    return np.random.default_rng(int.from_bytes(os.urandom(16), "little"))


def masked_xtd(sess: Session, st: LrPartyState, d: Any, X: np.ndarray, epoch: int) -> bytes:
    """``[[X^T d + m]]`` for the coordinator; the mask ``m`` stays pending at the party."""
    blob, mask = sess.masked_xtd(d, X, fresh_rng())
    set_pending(st, mask, X.shape[0], epoch)
    return bytes(blob)


def session(ctx: PartyContext, st: LrPartyState) -> Session:
    """Ciphertext operations under the run's public key (kept in the process cache)."""
    cached = ctx.cache.get(_SESSION_KEY)
    key = (st.backend, st.public)
    if isinstance(cached, tuple) and cached[0] == key:
        return cached[1]  # type: ignore[no-any-return]
    sess = st.params.backend(st.backend).session(st.public)
    ctx.cache[_SESSION_KEY] = (key, sess)
    return sess


__all__ = [
    "apply_gradient",
    "class_weights",
    "fresh_rng",
    "masked_xtd",
    "session",
    "set_pending",
]
