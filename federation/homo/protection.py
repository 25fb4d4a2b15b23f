"""How a bank protects the vector it sends, and reads the aggregate it gets back.

Per backend, what leaves the bank with a ``homo.stats`` / ``homo.train`` reply
(:func:`protect`):

* ``ckks``: the vector as CKKS ciphertext bytes under the banks' shared secret context
  (the coordinator holds the public context only and cannot read it);
* ``masked``: the vector in fixed point, pairwise-masked modulo 2^64 (uniformly random to
  the coordinator; the masks cancel in the sum);
* ``secaggplus``: nothing now; the vector divided by its weight waits in the bank's state
  until Flower's SecAgg+ asks for it (:mod:`federation.homo.secaggplus`);
* ``plaintext``: the vector as is (benchmarks and tests).

:func:`reveal` turns the coordinator's aggregate back into numbers at the bank (decrypting
it with ``ckks``); the aggregate never leaves the bank in clear.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from federation.homo.ckks import decrypt_aggregate, encrypt_update, mask_update
from federation.homo.keys import secret_context
from federation.homo.params import STATS_BOUND, WEIGHT_UNIT
from federation.homo.secaggplus import stash_update
from federation.homo.state import BankState
from federation.party import PartyContext
from federation.transport import Payload, PayloadValue


def protect(
    ctx: PartyContext,
    st: BankState,
    vec: np.ndarray,
    round_no: int,
    participants: Sequence[str],
    weight_at: int,
) -> Payload:
    """The reply carrying ``vec`` (whose slot ``weight_at`` holds ``n/U``) for the backend.

    secaggplus: ``vec / (n/U)`` waits at the bank for SecAgg+; the statistics (round 0) are
    known to lie in [-1, 1] and use the whole quantization range (:data:`STATS_BOUND`).
    """
    if st.backend == "ckks":
        return {"update": encrypt_update(secret_context(ctx, st.session), vec)}
    if st.backend == "secaggplus":  # nothing leaves now; SecAgg+ asks for it next
        w = float(vec[weight_at])
        stash_update(
            ctx.state,
            ctx.name,
            round_no,
            vec / w,
            int(round(w * WEIGHT_UNIT)),
            st.params.secaggplus,
            bound=STATS_BOUND if round_no == 0 else None,
        )
        return {}
    if st.backend == "masked":
        return {
            "update": mask_update(
                vec, st.seeds, me=ctx.name, participants=participants, round_no=round_no
            )
        }
    return {"update": np.asarray(vec, dtype=np.float64)}


def reveal(ctx: PartyContext, st: BankState, value: PayloadValue) -> np.ndarray:
    """The aggregate ``value`` the coordinator delivered, as numbers (decrypted with ckks)."""
    if st.backend == "ckks":
        return decrypt_aggregate(secret_context(ctx, st.session), bytes(value))
    return np.asarray(value, dtype=np.float64)


__all__ = ["protect", "reveal"]
