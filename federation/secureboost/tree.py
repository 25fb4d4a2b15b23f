"""Tree structure and split finding: plain integers and row positions, at the guest.

Split finding reads the guest's own histograms and the decrypted sums of the hosts' bins; it
runs at the guest only and reveals nothing by itself. The partition of the aligned rows into
tree nodes (kept by every party as ``pos``, node ``k``'s children being ``2k+1`` and
``2k+2``) is what all parties learn, through the left bit-masks of :class:`Masks`; a split's
threshold stays with the party that owns the feature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crypto.errors import ProtocolError
from federation.secureboost.layout import Layout
from federation.secureboost.messages import Masks
from federation.secureboost.params import SecureBoostParams

_EPS_GAIN = 1e-6  # XGBoost's kRtEps: a split must improve the loss by more than this


@dataclass(frozen=True)
class Split:
    gain: float
    col: int  # position in the party's selected columns
    bin: int


def best_split(hist: np.ndarray, layout: Layout, p: SecureBoostParams) -> Split | None:
    """Best "bin <= b goes left" split of one node from its (cols, bins, 3) int histogram."""
    if hist.shape[0] == 0:
        return None
    scale = float(2**layout.frac)
    cnt = hist[..., 0].astype(np.float64)
    G = (hist[..., 1] - hist[..., 0] * layout.off).astype(np.float64) / scale
    H = hist[..., 2].astype(np.float64) / scale
    cL, gL, hL = (np.cumsum(x, axis=1)[:, :-1] for x in (cnt, G, H))
    cT, gT, hT = (
        cnt.sum(axis=1, keepdims=True),
        G.sum(axis=1, keepdims=True),
        H.sum(axis=1, keepdims=True),
    )
    cR, gR, hR = cT - cL, gT - gL, hT - hL
    lam = p.reg_lambda
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = gL**2 / (hL + lam) + gR**2 / (hR + lam) - gT**2 / (hT + lam)
    ok = (
        (cL >= 1)
        & (cR >= 1)
        & (hL >= p.min_child_weight)
        & (hR >= p.min_child_weight)
        & (hL + lam > 0)
        & (hR + lam > 0)
        & np.isfinite(gain)
    )
    if not ok.any():
        return None
    gain = np.where(ok, gain, -np.inf)
    flat = int(np.argmax(gain))
    c, bb = divmod(flat, gain.shape[1])
    g = float(gain[c, bb])
    if not g > max(p.gamma, _EPS_GAIN):
        return None
    return Split(g, c, bb)


def node_totals(rows: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([rows.size, int(a[rows].sum()), int(b[rows].sum())], dtype=np.int64)


def leaf_weight(tot: np.ndarray, layout: Layout, p: SecureBoostParams) -> float:
    scale = float(2**layout.frac)
    G = float(tot[1] - tot[0] * layout.off) / scale
    H = float(tot[2]) / scale
    if H + p.reg_lambda <= 0:
        return 0.0
    return -G / (H + p.reg_lambda) * p.learning_rate


# shared party helpers: positions, masks, smaller-child rule


def node_rows(pos: np.ndarray, node: int) -> np.ndarray:
    return np.flatnonzero(pos == node)


def move_rows(pos: np.ndarray, rows: np.ndarray, node: int, left: np.ndarray) -> None:
    """Send ``rows`` of ``node`` to its left (``2k+1``) or right (``2k+2``) child."""
    pos[rows] = np.where(left, 2 * node + 1, 2 * node + 2)


def encode_masks(masks: dict[int, np.ndarray]) -> Masks:
    """Left bit-masks (one per split node, over the node's rows in row order), by node."""
    nodes = sorted(masks)
    bits = [np.packbits(masks[k].astype(bool)) for k in nodes]
    return Masks(
        [int(k) for k in nodes], np.concatenate(bits) if bits else np.zeros(0, dtype=np.uint8)
    )


def apply_masks(pos: np.ndarray, masks: Masks) -> None:
    """Move each node's rows to its children by the node's left bit-mask (in row order)."""
    bits = masks.bits
    off = 0
    for k in masks.nodes:
        rows = node_rows(pos, k)
        nbytes = (rows.size + 7) // 8
        left = np.unpackbits(bits[off : off + nbytes])[: rows.size].astype(bool)
        off += nbytes
        move_rows(pos, rows, k, left)
    if off != len(bits):
        raise ProtocolError(
            "split masks do not match this party's node rows",
            hint="Parties disagree on the partition; restart the run.",
        )


def smaller_children(pos: np.ndarray, active: np.ndarray, split_nodes: Sequence[int]) -> list[int]:
    """For each split node, the child with fewer active rows (ties: the left one)."""
    out = []
    for k in split_nodes:
        nl = int(np.count_nonzero(active[pos == 2 * k + 1]))
        nr = int(np.count_nonzero(active[pos == 2 * k + 2]))
        out.append(2 * k + 1 if nl <= nr else 2 * k + 2)
    return out


__all__ = [
    "Split",
    "apply_masks",
    "best_split",
    "encode_masks",
    "leaf_weight",
    "move_rows",
    "node_rows",
    "node_totals",
    "smaller_children",
]
