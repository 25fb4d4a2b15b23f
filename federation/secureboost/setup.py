"""SecureBoost setup (step 1): every party bins its features; the guest makes the key.

The guest sends its Paillier public key, the fixed-point layout (slot widths) and the
positions (in the aligned order) of its validation rows; hosts send their number of
features, the number of bins of each, and feature names only if they publish them
(``publish_feature_names``, or the host's node config ``publish-feature-names``). Bin
edges never leave their party; the guest's private key never leaves the guest.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from crypto.errors import DataValidationError, ProtocolError
from features.disclosure import require_min_cell
from federation.party import PartyContext, register
from federation.partydata import party_k
from federation.population import validation_rows
from federation.roles import PartyRole
from federation.secureboost.cipher import GuestCipher
from federation.secureboost.data import bin_matrix
from federation.secureboost.histograms import merge_plan
from federation.secureboost.layout import Layout
from federation.secureboost.messages import HOST_INIT, SETUP
from federation.secureboost.params import SecureBoostParams, n_active, parse_params
from federation.secureboost.state import (
    TRAIN_KEY,
    GuestState,
    HostState,
    host_cipher,
    host_state,
    keep_guest_cipher,
)
from federation.transport import Payload


@register(SETUP)
def _setup(ctx: PartyContext, payload: Payload) -> Payload:
    params = parse_params(json.loads(str(payload["params"])))
    m, binner, bins = bin_matrix(ctx, params.max_bins)
    common: dict[str, Any] = {
        "params": params,
        "backend": str(payload["backend"]),
        "seed": int(payload["seed"]),
        "n": bins.shape[0],
        "bins": bins,
        "binner": binner.to_dict(),
        "feature_names": [str(f) for f in m.feature_names],
        "nbmax": int(binner.n_bins_.max()) if len(binner.n_bins_) else 1,
        "encoder": None if getattr(m, "encoder", None) is None else m.encoder.to_dict(),
    }
    reply: Payload = {
        "n_rows": bins.shape[0],
        "n_features": int(bins.shape[1]),
        "n_bins": binner.n_bins_.astype(np.int64),
    }
    if ctx.role == PartyRole.GUEST:
        reply.update(_guest_setup(ctx, m, common))
    else:
        st = HostState(**common)
        ctx.state[TRAIN_KEY] = st
        publish = bool(payload.get("publish_names", False)) or bool(
            ctx.node_config.get("publish-feature-names", False)
        )
        if publish:
            reply["feature_names"] = list(st.feature_names)
    return reply


def _guest_labels(ctx: PartyContext, m: Any) -> np.ndarray:
    if m.y is None:
        raise DataValidationError(f"guest {ctx.name!r} has no label column")
    y = np.asarray(m.y, dtype=np.float64)
    if not np.all(np.isin(y, (0.0, 1.0))) or len(np.unique(y)) < 2:
        raise DataValidationError(
            f"guest {ctx.name!r}: the label must be 0/1 with both "
            "classes present among the aligned rows"
        )
    return y


def _guest_setup(ctx: PartyContext, m: Any, common: dict[str, Any]) -> Payload:
    """The guest's validation split, fixed-point layout and key pair."""
    t = time.perf_counter()
    params: SecureBoostParams = common["params"]
    n = int(common["n"])
    y = _guest_labels(ctx, m)
    valid = validation_rows(ctx, y, params.validation_fraction, common["seed"])
    train = np.setdiff1d(np.arange(n), valid)
    counts = {"n_aligned": n, "n_train": int(train.size)}
    if valid.size:
        counts["n_valid"] = int(valid.size)
    require_min_cell(counts, party_k(ctx), where=f"guest {ctx.name!r} SecureBoost split")
    wmax = max(1.0, params.scale_pos_weight)
    layout = Layout.make(int(train.size), wmax, params.precision_bits, params.key_bits)
    cipher = GuestCipher(common["backend"], params.key_bits, params.randomness_bits)
    if params.guest_only_first_trees == 0:  # the first tree's randomness, while hosts bin
        cipher.prefetch(n_active(params, train.size), params.workers)
    ctx.state[TRAIN_KEY] = GuestState(
        **common,
        y=y,
        valid=valid,
        train=train,
        layout=layout,
        public=cipher.public,
        primes=cipher.primes(),
        margin=np.zeros(n),
    )
    keep_guest_cipher(ctx, cipher)
    return {
        "valid_idx": valid,
        "public": cipher.public,
        "layout": json.dumps(layout.to_payload()),
        "n_train": int(train.size),
        "keygen_seconds": time.perf_counter() - t,
    }


@register(HOST_INIT)
def _host_init(ctx: PartyContext, payload: Payload) -> Payload:
    st = host_state(ctx)
    st.public = bytes(payload["public"])
    st.layout = Layout.from_payload(json.loads(str(payload["layout"])))
    st.plan = merge_plan(st.bins)  # how the host shares additions across its columns
    host_cipher(ctx, st)  # the guest's public key, checked now
    valid = np.asarray(payload["valid_idx"], dtype=np.int64)
    if valid.size and (valid.min() < 0 or valid.max() >= st.n):
        raise ProtocolError(f"party {ctx.name!r}: validation indices outside its {st.n} rows")
    return {"ok": True}


__all__: list[str] = []
