"""SecureBoost: vertical gradient-boosted trees with Paillier-encrypted gradients.

The guest (label holder) is the key holder. Message by message: docs/protocols/secureboost.md.

What leaves each party, and to whom (every message travels through the coordinator):

1. Setup. The guest sends its Paillier public key, the fixed-point layout (slot widths) and
   the positions (in the aligned order) of its validation rows; hosts send their number of
   features, the number of bins of each, and feature names only if they publish them
   (``publish_feature_names``). Bin edges never leave their party.
2. Per tree, the guest sends every participating host one ciphertext per active training row:
   ``[[count=1 | g + offset | h]]`` packed into one plaintext, plus which aligned rows are
   active (row subsample) and the host's column sample. No plaintext gradient crosses.
3. Per tree level, a host returns, for the smaller child of every node split at the level
   above, encrypted per-(node, feature, bin) sums of those ciphertexts (additions only), many
   bins packed into one ciphertext and re-randomised, plus which bins are empty and which one
   bin per (node, feature) it left out (the guest derives it from the node total). The guest
   decrypts: it learns per-bin counts and gradient sums of host features, never bin edges.
4. The guest decides every split. For its own splits it sends, per node, a bit-mask saying
   which of the node's aligned rows go left; for a host's split it sends (node, feature
   index, bin index, split id) to that host only, which keeps the threshold under the split
   id and returns the bit-mask. All parties therefore learn the partition of the aligned rows
   into tree nodes (the instance space), not the thresholds.
5. Joint inference: the guest sends each host (row, split id) queries for the nodes the host
   owns on the rows' current paths; the host answers one bit (left/right) per query.
6. The guest sends the coordinator public metrics (AUC, KS, losses, counts, importance by
   opaque feature id ``party:index`` unless a host published names).

The option ``guest_only_first_trees = k`` builds the first ``k`` trees from guest features
only (hosts receive nothing for those trees): the first split of a boosted model reveals the
most about the label, and this keeps it at the guest.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import time
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gmpy2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crypto.crt_randomness import crt_obfuscators, crt_tables
from crypto.errors import ConfigError, DataValidationError, ProtocolError
from features.metrics import CURVE_KEYS, ks, validation_split
from federation.config import ExperimentConfig
from federation.party import PartyContext, register
from federation.protocol import (
    Exchanger,
    ProgressFn,
    ProtocolResult,
    no_progress,
    require_parties,
)
from federation.roles import PartyRole
from federation.transport import Envelope, Payload, Transport

MODEL_FILE = "model.json"
_STATE_KEY = "secureboost"
_EPS_GAIN = 1e-6  # XGBoost's kRtEps: a split must improve the loss by more than this
Backend = Literal["paillier", "plaintext"]


class SecureBoostParams(BaseModel):
    """``[params]`` of an ``algorithm = "secureboost"`` experiment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_trees: int = Field(50, ge=1, le=10_000)
    max_depth: int = Field(5, ge=1, le=12)
    learning_rate: float = Field(0.3, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    gamma: float = Field(0.0, ge=0)
    min_child_weight: float = Field(1.0, ge=0)
    max_bins: int = Field(32, ge=2, le=254)
    subsample: float = Field(1.0, gt=0, le=1)
    colsample: float = Field(1.0, gt=0, le=1)
    validation_fraction: float = Field(0.2, ge=0, lt=1)
    early_stopping_rounds: int = Field(0, ge=0)
    scale_pos_weight: float = Field(1.0, gt=0)
    guest_only_first_trees: int = Field(0, ge=0)
    key_bits: int = 2048
    randomness_bits: int = Field(256, ge=128)
    precision_bits: int = Field(24, ge=8, le=36)
    publish_feature_names: list[str] = Field(default_factory=list)
    workers: int = Field(2, ge=1, le=64)  # >1: worker processes (guest randomness, host sums)


def parse_params(raw: dict[str, Any]) -> SecureBoostParams:
    try:
        return SecureBoostParams.model_validate(raw)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid secureboost [params]: {errs}") from None


# ---------------------------------------------------------------------------------------
# fixed-point layout of one packed (count, g, h) plaintext
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Per-row plaintext ``1 << (S + Sh) | (gq + off) << Sh | hq``; a bin sum keeps the
    same slots.

    ``S`` bits hold a sum of up to ``n`` offset gradients (each in ``[0, 2 * off]``),
    ``Sh`` a sum of hessians (each at most ``wmax / 4``), ``Sc`` a row count; one bin takes
    ``W = Sc + S + Sh`` bits and ``K`` bins are packed (Horner, ``c**(2**W)``) into one
    plaintext of a ``key_bits`` key. Every slot is as narrow as its sums allow: the hosts'
    packing costs ``W`` squarings per bin.
    """

    frac: int  # fixed-point fractional bits F
    off: int  # offset added to gq so it is >= 0: 2**ceil(log2 wmax) * 2**F
    s: int
    sc: int
    k: int
    sh: int

    @property
    def w(self) -> int:
        return self.sc + self.s + self.sh

    @classmethod
    def make(cls, n_rows: int, wmax: float, frac: int, key_bits: int) -> Layout:
        wbits = max(0, math.ceil(math.log2(max(wmax, 1.0))))
        off = (1 << wbits) << frac
        nbits = max(1, n_rows.bit_length())  # n_rows < 2**nbits
        s = nbits + wbits + frac + 1  # sum of n values in [0, 2**(wbits + F + 1)]
        sh = max(1, nbits + wbits + frac - 2)  # sum of n values <= 2**(wbits + F - 2)
        sc = nbits
        k = (key_bits - 2) // (sc + s + sh)
        if s > 52 or k < 1:  # int64 histograms built through float64 sums: exact to 2**53
            raise ConfigError(
                f"secureboost: {n_rows} rows at precision_bits={frac} need {s}-bit slots; "
                f"lower precision_bits or scale_pos_weight"
            )
        return cls(frac, off, s, sc, k, sh)

    def encode_rows(self, g: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scale = float(2**self.frac)
        a = np.rint(g * scale).astype(np.int64) + self.off
        b = np.rint(h * scale).astype(np.int64)
        return a, b

    def pack_rows(self, a: np.ndarray, b: np.ndarray) -> list[int]:
        top = 1 << (self.s + self.sh)
        sh = self.sh
        return [top | (int(x) << sh) | int(y) for x, y in zip(a.tolist(), b.tolist(), strict=True)]

    def unpack_bins(self, plains: Sequence[int], n_bins: int) -> np.ndarray:
        """Decrypted packed plaintexts -> int64 array (n_bins, 3) of (count, A, B)."""
        out = np.empty((n_bins, 3), dtype=np.int64)
        wmask = (1 << self.w) - 1
        smask = (1 << self.s) - 1
        hmask = (1 << self.sh) - 1
        top, sh = self.s + self.sh, self.sh
        i = 0
        for gi, m in enumerate(plains):
            k = min(self.k, n_bins - gi * self.k)
            m = int(m)
            for j in range(k):
                v = (m >> (self.w * (k - 1 - j))) & wmask
                out[i] = (v >> top, (v >> sh) & smask, v & hmask)
                i += 1
        return out

    def to_payload(self) -> Payload:
        return {
            "frac": self.frac,
            "off": str(self.off),
            "s": self.s,
            "sc": self.sc,
            "k": self.k,
            "sh": self.sh,
        }

    @classmethod
    def from_payload(cls, p: Payload) -> Layout:
        return cls(
            int(p["frac"]), int(str(p["off"])), int(p["s"]), int(p["sc"]), int(p["k"]), int(p["sh"])
        )


# ---------------------------------------------------------------------------------------
# backends: the same protocol with and without encryption
# ---------------------------------------------------------------------------------------


class _PlainBlob:
    """Fixed-width big-endian integers (the plaintext backend's stand-in for ciphertexts)."""

    @staticmethod
    def dump(values: Sequence[int], width: int) -> bytes:
        return b"".join(int(v).to_bytes(width, "big") for v in values)

    @staticmethod
    def load(blob: bytes, width: int) -> list[int]:
        mv = memoryview(blob)
        return [int.from_bytes(mv[i : i + width], "big") for i in range(0, len(blob), width)]


class GuestCipher:
    """The guest's side: encrypt packed rows, decrypt packed bin sums.

    As the key holder the guest computes the DJN randomness ``hs**a mod n**2`` by the CRT,
    ``mod p**2`` and ``mod q**2`` separately from fixed-base tables with 12-bit windows
    (half-size numbers: about half the cost of the public-key path at 2048 bits); the
    primes go to this party's own worker processes only. The ciphertexts are the same as
    :meth:`crypto.paillier.PaillierPublicKey.encrypt` would produce."""

    def __init__(self, backend: Backend, key_bits: int, randomness_bits: int) -> None:
        self.backend = backend
        self.key_bits = key_bits
        self.width = 2 * key_bits // 8 + 1
        if backend == "paillier":
            from crypto.paillier import generate_keypair

            self.pk, self._sk = generate_keypair(key_bits, randomness_bits=randomness_bits)
            self.public = self.pk.to_bytes()
        elif backend == "plaintext":
            self.public = b""
        else:
            raise ConfigError(
                f"secureboost supports backend 'paillier' or 'plaintext', not {backend!r}"
            )

    def _crt_key(self) -> tuple[int, int, int, int, int]:
        return self._sk.crt_key()

    def prefetch(self, count: int, workers: int) -> None:
        """Start computing ``count`` obfuscators for the next :meth:`encrypt` in
        low-priority worker processes (they take the cycles the hosts' work leaves idle);
        no-op for the plaintext backend."""
        if self.backend == "paillier" and count > 0 and workers > 1:
            _start_prefetch(self.pk.fingerprint(), self._crt_key(), count, workers)

    def encrypt(self, plains: list[int], *, prefetch_next: int = 0, workers: int = 1) -> bytes:
        """Encrypt packed rows; with ``prefetch_next > 0`` start computing that many fresh
        obfuscators for the next call in worker processes (overlaps the hosts' work)."""
        if self.backend == "plaintext":
            return _PlainBlob.dump(plains, self.width)
        from crypto.paillier import EncryptedArray

        n, N = gmpy2.mpz(self.pk.n), self.pk.nsquare
        for i, m in enumerate(plains):
            if not 0 <= m < n:
                raise ProtocolError(f"packed plaintext at row {i} is outside [0, n)")
        obf = _take_prefetched(self.pk.fingerprint(), self._crt_key(), len(plains), workers)
        fmod = gmpy2.f_mod
        # (1 + m n) r = r + n ((m r) mod n)  (mod n^2): a short product and a reduction mod n
        # instead of a full product mod n^2; the sum is below 2 n^2
        cts = [r + n * fmod(m * r, n) for m, r in zip(plains, obf, strict=True)]
        cts = [c - N if c >= N else c for c in cts]
        self.prefetch(prefetch_next, workers)
        return EncryptedArray(self.pk, cts).to_bytes()

    def forget(self) -> None:
        """Drop this key's pending randomness and this process's CRT tables (run over)."""
        got = _PREFETCH.pop(self.pk.fingerprint(), None)
        for _, f in got[1] if got else []:
            f.cancel()
        crt_tables.cache_clear()

    def decrypt(self, blob: bytes, workers: int) -> list[int]:
        if self.backend == "plaintext":
            return _PlainBlob.load(blob, self.width)
        from crypto.paillier import EncryptedArray

        enc = EncryptedArray.from_bytes(self.pk, blob)
        return self._sk.decrypt_ints(enc, workers=workers)


# Obfuscators being computed in worker processes for the next tree, per key fingerprint.
# This is process-local (never in ctx.state, which must stay picklable and holds no
# secret); where a runtime starts a fresh process per message the prefetch is simply lost
# and computed on the spot.
_PREFETCH: dict[str, tuple[int, list[tuple[int, Any]]]] = {}


# The guest's randomness for the next tree is background work: its worker processes run
# at the lowest CPU priority so that they take only cycles the hosts' histograms and the
# guest's own steps leave idle (on a shared machine; on its own machine the guest computes
# it while the hosts work). When the guest has to wait for it nothing else runs, and the
# low priority costs nothing.
_BACKGROUND_NICE = 19
_background: tuple[int, Any] | None = None


def background_executor(workers: int) -> Any:
    """A process pool of ``workers`` processes at the lowest CPU priority, for the guest's
    prefetched randomness; separate from the crypto pool the hosts use."""
    global _background
    if _background is None or _background[0] != workers:
        from crypto.parallel import new_executor

        if _background is not None:
            _background[1].shutdown(wait=False, cancel_futures=True)
        _background = (workers, new_executor(workers, nice=_BACKGROUND_NICE))
    return _background[1]


def _shutdown_background() -> None:
    global _background
    if _background is not None:
        _background[1].shutdown(wait=True, cancel_futures=True)
        _background = None


atexit.register(_shutdown_background)


_PREFETCH_CHUNK = 1024  # obfuscators per background job (~0.1 s at 2048 bits)


def _start_prefetch(fp: str, key: tuple[int, int, int, int, int], count: int, workers: int) -> None:
    """Queue the obfuscators in small jobs on the low-priority worker processes."""
    sizes = [min(_PREFETCH_CHUNK, count - lo) for lo in range(0, count, _PREFETCH_CHUNK)]
    try:
        ex = background_executor(workers)
        futs = [(size, ex.submit(crt_obfuscators, key, size)) for size in sizes]
    except RuntimeError:  # executor shut down (interpreter exit)
        return
    _PREFETCH[fp] = (count, futs)


def _take_prefetched(
    fp: str, key: tuple[int, int, int, int, int], count: int, workers: int
) -> list[Any]:
    """The prefetched obfuscators; the jobs not started yet are withdrawn from the
    low-priority processes and computed now at normal priority (so that other load on the
    machine cannot starve the guest), those already running are waited for."""
    got = _PREFETCH.pop(fp, None)
    if got is None or got[0] != count:
        for _, f in got[1] if got else []:
            f.cancel()
        return _obfuscators_now(key, count, workers)
    started, missing = [], 0
    for size, f in got[1]:
        if f.cancel():
            missing += size
        else:
            started.append((size, f))
    out = _obfuscators_now(key, missing, workers) if missing else []
    for size, f in started:
        try:
            out.extend(f.result())
        except Exception:  # noqa: BLE001 - a failed prefetch only costs time
            out.extend(crt_obfuscators(key, size))
    return out


def _obfuscators_now(key: tuple[int, int, int, int, int], count: int, workers: int) -> list[Any]:
    """``count`` obfuscators at normal priority, split across the crypto worker pool."""
    from crypto.parallel import parallel_crt_obfuscators

    small = workers < 2 or count < 4 * _PREFETCH_CHUNK
    return parallel_crt_obfuscators(key, count, 1 if small else workers).tolist()


class HostCipher:
    """A host's side: additions of the guest's (encrypted) rows, packing, serialization."""

    def __init__(self, backend: Backend, public: bytes, key_bits: int) -> None:
        self.backend = backend
        self.width = 2 * key_bits // 8 + 1
        self.pk: Any = None
        if backend == "paillier":
            from crypto.paillier import PaillierPublicKey

            self.pk = PaillierPublicKey.from_bytes(public)
            self.modulus = self.pk.nsquare

    def load(self, blob: bytes) -> np.ndarray:
        if self.backend == "plaintext":
            vals: list[Any] = _PlainBlob.load(blob, self.width)
        else:
            from crypto.paillier import EncryptedArray

            vals = EncryptedArray.from_bytes(self.pk, blob).raw_ciphertexts()
        out = np.empty(len(vals), dtype=object)
        out[:] = vals
        return out

    def pack(self, sums: list[Any], w: int, k: int) -> list[Any]:
        """Horner-pack ``k`` bin sums per plaintext: ``acc * 2**w + next``."""
        return pack_sums(sums, w, k, None if self.backend == "plaintext" else self.modulus)

    def dump(self, values: list[Any]) -> bytes:
        if self.backend == "plaintext":
            return _PlainBlob.dump(values, self.width)
        from crypto.paillier import EncryptedArray

        # fresh randomness: the key holder must not link a sum to the rows it came from
        return EncryptedArray(self.pk, values).rerandomize().to_bytes()


def pack_sums(sums: list[Any], w: int, k: int, modulus: Any) -> list[Any]:
    """Horner-pack ``k`` values per group: ``acc * 2**w + next`` on plaintexts
    (``modulus is None``), ``acc**(2**w) * next mod modulus`` on Paillier ciphertexts."""
    out = []
    if modulus is None:
        for i in range(0, len(sums), k):
            acc = 0
            for v in sums[i : i + k]:
                acc = (acc << w) + v
            out.append(acc)
        return out
    N = gmpy2.mpz(modulus)
    shift = gmpy2.mpz(1) << w
    powmod, fmod = gmpy2.powmod, gmpy2.f_mod
    for i in range(0, len(sums), k):
        group = sums[i : i + k]
        acc = group[0]
        for v in group[1:]:
            acc = fmod(powmod(acc, shift, N) * v, N)
        out.append(acc)
    return out


def segment_reduce(values: list[Any], starts: Sequence[int], modulus: Any) -> list[Any]:
    """Per-run sums of ``values`` (``modulus is None``) or products mod ``modulus``."""
    bounds = [*starts, len(values)]
    out: list[Any] = []
    if modulus is None:
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            out.append(sum(values[lo:hi]))
        return out
    N = gmpy2.mpz(modulus)
    fmod = gmpy2.f_mod  # faster than % on mpz (same result: both operands are positive)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        acc = values[lo]
        for x in values[lo + 1 : hi]:
            acc = fmod(acc * x, N)
        out.append(acc)
    return out


# ---------------------------------------------------------------------------------------
# histograms and split finding (plain integers, at the guest)
# ---------------------------------------------------------------------------------------


def int_hist(
    bins: np.ndarray, rows: np.ndarray, cols: np.ndarray, nbmax: int, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """(len(cols), nbmax, 3) int64 histogram of (count, A, B) over ``rows`` (plaintext)."""
    out = np.zeros((len(cols), nbmax, 3), dtype=np.int64)
    if rows.size == 0 or len(cols) == 0:
        return out
    sub = bins[np.ix_(rows, cols)].astype(np.int64)
    keys = (sub + (np.arange(len(cols)) * nbmax)[None, :]).ravel()
    m = len(cols) * nbmax
    ar = np.repeat(a[rows], len(cols)).astype(np.float64)
    br = np.repeat(b[rows], len(cols)).astype(np.float64)
    out[..., 0] = np.bincount(keys, minlength=m).reshape(len(cols), nbmax)
    out[..., 1] = (
        np.rint(np.bincount(keys, weights=ar, minlength=m))
        .astype(np.int64)
        .reshape(len(cols), nbmax)
    )
    out[..., 2] = (
        np.rint(np.bincount(keys, weights=br, minlength=m))
        .astype(np.int64)
        .reshape(len(cols), nbmax)
    )
    return out


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


# ---------------------------------------------------------------------------------------
# shared party helpers: positions, masks, smaller-child rule
# ---------------------------------------------------------------------------------------


def node_rows(pos: np.ndarray, node: int) -> np.ndarray:
    return np.flatnonzero(pos == node)


def move_rows(pos: np.ndarray, rows: np.ndarray, node: int, left: np.ndarray) -> None:
    """Send ``rows`` of ``node`` to its left (``2k+1``) or right (``2k+2``) child."""
    pos[rows] = np.where(left, 2 * node + 1, 2 * node + 2)


def encode_masks(pos: np.ndarray, masks: dict[int, np.ndarray]) -> Payload:
    nodes = sorted(masks)
    bits = [np.packbits(masks[k].astype(bool)) for k in nodes]
    return {
        "nodes": [int(k) for k in nodes] or [-1],
        "bits": np.concatenate(bits) if bits else np.zeros(0, dtype=np.uint8),
    }


def apply_mask_payload(pos: np.ndarray, nodes: Sequence[int], bits: np.ndarray) -> None:
    """Move each node's rows to its children by the node's left bit-mask (in row order)."""
    nodes = [int(k) for k in nodes if int(k) >= 0]
    off = 0
    for k in nodes:
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


def _mask_dict(payload: Payload, prefix: str) -> tuple[list[int], np.ndarray]:
    nodes = [int(x) for x in payload.get(f"{prefix}nodes", [-1])]
    bits = np.asarray(payload.get(f"{prefix}bits", np.zeros(0, dtype=np.uint8)), dtype=np.uint8)
    return nodes, bits


def _st(ctx: PartyContext) -> dict[str, Any]:
    st = ctx.state.get(_STATE_KEY)
    if st is None:
        raise ProtocolError(
            f"party {ctx.name!r}: SecureBoost message before sb.setup",
            hint="Restart the training run.",
        )
    return st  # type: ignore[no-any-return]


def _matrix(ctx: PartyContext) -> Any:
    """This party's aligned, locally encoded features (``federation.partydata``)."""
    from federation.partydata import aligned_matrix

    return aligned_matrix(ctx)


def _bin_matrix(ctx: PartyContext, max_bins: int) -> tuple[Any, Any, np.ndarray]:
    from features.binning import QuantileBinner

    m = _matrix(ctx)
    X = np.asarray(m.X, dtype=np.float64)
    binner = QuantileBinner(max_bins).fit(X)
    return m, binner, binner.transform(X)


# ---------------------------------------------------------------------------------------
# party side: setup
# ---------------------------------------------------------------------------------------


@register("sb.setup")
def _setup(ctx: PartyContext, payload: Payload) -> Payload:
    params = parse_params(json.loads(str(payload["params"])))
    backend = str(payload["backend"])
    m, binner, bins = _bin_matrix(ctx, params.max_bins)
    n = bins.shape[0]
    st: dict[str, Any] = {
        "params": params.model_dump_json(),
        "backend": backend,
        "seed": int(payload["seed"]),
        "n": n,
        "bins": bins,
        "binner": binner.to_dict(),
        "feature_names": [str(f) for f in m.feature_names],
        "nbmax": int(binner.n_bins_.max()) if len(binner.n_bins_) else 1,
        # the fitted table encoding (medians, categories): scoring encodes new rows with it
        "encoder": None if getattr(m, "encoder", None) is None else m.encoder.to_dict(),
    }
    ctx.state[_STATE_KEY] = st
    reply: Payload = {
        "n_rows": n,
        "n_features": int(bins.shape[1]),
        "n_bins": binner.n_bins_.astype(np.int64),
    }
    if ctx.role == PartyRole.GUEST:
        t = time.perf_counter()
        if m.y is None:
            raise DataValidationError(f"guest {ctx.name!r} has no label column")
        y = np.asarray(m.y, dtype=np.float64)
        if not np.all(np.isin(y, (0.0, 1.0))) or len(np.unique(y)) < 2:
            raise DataValidationError(
                f"guest {ctx.name!r}: the label must be 0/1 with both "
                "classes present among the aligned rows"
            )
        valid = validation_split(y, params.validation_fraction, st["seed"])
        train = np.setdiff1d(np.arange(n), valid)
        wmax = max(1.0, params.scale_pos_weight)
        layout = Layout.make(int(train.size), wmax, params.precision_bits, params.key_bits)
        cipher = GuestCipher(backend, params.key_bits, params.randomness_bits)  # type: ignore[arg-type]
        if params.guest_only_first_trees == 0:  # the first tree's randomness, while hosts bin
            cipher.prefetch(_n_active(params, train.size), params.workers)
        st.update(
            y=y,
            valid=valid,
            train=train,
            layout=layout,
            cipher=cipher,
            margin=np.zeros(n),
            trees=[],
            losses=[],
            best=(math.inf, 0, None),
            host_nbins={},
        )
        reply.update(
            valid_idx=valid,
            public=cipher.public,
            layout=json.dumps(layout.to_payload()),
            n_train=int(train.size),
            keygen_seconds=time.perf_counter() - t,
        )
    else:
        st["splits"] = {}
        publish = bool(payload.get("publish_names", False)) or bool(
            ctx.node_config.get("publish-feature-names", False)
        )
        if publish:
            reply["feature_names"] = list(st["feature_names"])
    return reply


@register("sb.host_init")
def _host_init(ctx: PartyContext, payload: Payload) -> Payload:
    st = _st(ctx)
    st["cipher"] = HostCipher(
        st["backend"], bytes(payload["public"]), parse_params(json.loads(st["params"])).key_bits
    )
    st["layout"] = Layout.from_payload(json.loads(str(payload["layout"])))
    st["plan"] = merge_plan(st["bins"])  # how the host shares additions across its columns
    valid = np.asarray(payload["valid_idx"], dtype=np.int64)
    if valid.size and (valid.min() < 0 or valid.max() >= st["n"]):
        raise ProtocolError(f"party {ctx.name!r}: validation indices outside its {st['n']} rows")
    return {"ok": True}


# ---------------------------------------------------------------------------------------
# party side: the guest's tree steps
# ---------------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _grad_hess(st: dict[str, Any], params: SecureBoostParams) -> tuple[np.ndarray, np.ndarray]:
    p = _sigmoid(st["margin"])
    y = st["y"]
    w = np.where(y == 1.0, params.scale_pos_weight, 1.0)
    g = (p - y) * w
    h = np.maximum(p * (1.0 - p), 1e-16) * w
    return g, h


def _n_active(params: SecureBoostParams, n_train: int) -> int:
    """Active rows per tree (row subsample)."""
    if params.subsample >= 1.0:
        return int(n_train)
    return max(1, int(round(params.subsample * n_train)))


@register("sb.tree_begin")
def _tree_begin(ctx: PartyContext, payload: Payload) -> Payload:
    """Guest: gradients of the current model, row subsample, packed encrypted rows."""
    st = _st(ctx)
    params = parse_params(json.loads(st["params"]))
    tree = int(payload["tree"])
    layout: Layout = st["layout"]
    g, h = _grad_hess(st, params)
    a, b = layout.encode_rows(g, h)
    train = st["train"]
    if params.subsample < 1.0:
        rng = np.random.default_rng([st["seed"], tree, 7])
        chosen = np.sort(rng.choice(train, size=_n_active(params, train.size), replace=False))
    else:
        chosen = train
    active = np.zeros(st["n"], dtype=bool)
    active[chosen] = True
    cols = np.asarray(payload["guest_cols"], dtype=np.int64)
    st["cur"] = {
        "tree": tree,
        "a": a,
        "b": b,
        "active": active,
        "cols": cols,
        "pos": np.zeros(st["n"], dtype=np.int64),
        "nodes": {},
        "open": [0],
        "hist": {},
        "host_cols": {},
        "leaves": {},
    }
    out: Payload = {"active": np.packbits(active), "n_active": int(chosen.size)}
    if bool(payload.get("encrypt", True)):
        t = time.perf_counter()
        nxt = _n_active(params, train.size) if tree + 1 < params.n_trees else 0
        out["gh"] = st["cipher"].encrypt(
            layout.pack_rows(a[chosen], b[chosen]), prefetch_next=nxt, workers=params.workers
        )
        out["encrypt_seconds"] = time.perf_counter() - t
    return out


def _decode_host_hist(st: dict[str, Any], cur: dict[str, Any], host: str, p: Payload) -> None:
    """Decrypt one host's packed histograms and complete them (skipped bins, siblings)."""
    layout: Layout = st["layout"]
    cols = cur["host_cols"][host]
    nbmax = int(p["nbmax"])
    built = [int(x) for x in p["built"]]
    present = np.unpackbits(np.asarray(p["present"], dtype=np.uint8))[
        : len(built) * len(cols) * nbmax
    ].astype(bool)
    skip = np.asarray(p["skip"], dtype=np.int64).reshape(len(built), len(cols))
    n_present = int(present.sum())
    # in this process: the worker processes are busy with the next tree's randomness, and a
    # level's few hundred CRT decryptions would only queue behind it
    plains = st["cipher"].decrypt(bytes(p["hist"]), 1) if n_present else []
    vals = layout.unpack_bins(plains, n_present)
    grid = np.zeros((len(built) * len(cols) * nbmax, 3), dtype=np.int64)
    grid[present] = vals
    grid = grid.reshape(len(built), len(cols), nbmax, 3)
    a, b, active, pos = cur["a"], cur["b"], cur["active"], cur["pos"]
    for i, k in enumerate(built):
        rows = np.flatnonzero((pos == k) & active)
        tot = node_totals(rows, a, b)
        hk = grid[i]
        for c in range(len(cols)):
            if skip[i, c] >= 0:
                hk[c, skip[i, c]] = tot - hk[c].sum(axis=0)
        cur["hist"][(host, k)] = hk
    # siblings by subtraction from the parent
    for k in built:
        if k == 0:
            continue
        parent = (k - 1) // 2
        sib = k + 1 if k % 2 == 1 else k - 1
        cur["hist"][(host, sib)] = cur["hist"][(host, parent)] - cur["hist"][(host, k)]


@register("sb.level")
def _level(ctx: PartyContext, payload: Payload) -> Payload:
    """Guest: apply hosts' masks, complete histograms, choose the splits of one level."""
    st = _st(ctx)
    cur = st["cur"]
    params = parse_params(json.loads(st["params"]))
    layout: Layout = st["layout"]
    t = time.perf_counter()
    pos, active, a, b = cur["pos"], cur["active"], cur["a"], cur["b"]
    level = int(payload["level"])
    hosts = [str(h) for h in payload.get("hosts", []) if str(h) != "-"]
    for h in hosts:
        nodes, bits = _mask_dict(payload, f"{h}.m.")
        apply_mask_payload(pos, nodes, bits)
    if level == 0:
        for h in hosts:
            cur["host_cols"][h] = [int(c) for c in payload[f"{h}.cols"]]
    t_dec = time.perf_counter()
    for h in hosts:
        if f"{h}.hist" in payload:
            sub = {k[len(h) + 1 :]: v for k, v in payload.items() if k.startswith(f"{h}.")}
            sub["hist"] = payload[f"{h}.hist"]
            _decode_host_hist(st, cur, h, sub)
    decrypt_s = time.perf_counter() - t_dec
    gcols = cur["cols"]
    guest_masks: dict[int, np.ndarray] = {}
    host_splits: dict[str, list[tuple[int, int, int, int]]] = {h: [] for h in hosts}
    split_nodes: list[int] = []
    for k in cur["open"]:
        rows_act = np.flatnonzero((pos == k) & active)
        tot = node_totals(rows_act, a, b)
        cur["nodes"][k] = {"tot": tot}
        cands: list[tuple[float, int, str, Split]] = []
        if level < params.max_depth and rows_act.size >= 2:
            gh = int_hist(st["bins"], rows_act, gcols, st["nbmax"], a, b)
            s = best_split(gh, layout, params)
            if s is not None:
                cands.append((s.gain, 0, ctx.name, s))
            for i, h in enumerate(hosts):
                hk = cur["hist"].get((h, k))
                if hk is None:
                    continue
                s = best_split(hk, layout, params)
                if s is not None:
                    cands.append((s.gain, i + 1, h, s))
        if not cands:
            cur["leaves"][k] = leaf_weight(tot, layout, params)
            continue
        cands.sort(key=lambda c: (-c[0], c[1]))
        gain, _, owner, s = cands[0]
        split_nodes.append(k)
        rows_all = node_rows(pos, k)
        if owner == ctx.name:
            f = int(gcols[s.col])
            left = st["bins"][rows_all, f] <= s.bin
            guest_masks[k] = left
            cur["nodes"][k].update(party=owner, feature=f, bin=int(s.bin), gain=gain)
        else:
            f = int(cur["host_cols"][owner][s.col])
            sid = len(st.setdefault("split_ids", {}).setdefault(owner, []))
            st["split_ids"][owner].append((cur["tree"], k))
            host_splits[owner].append((k, f, int(s.bin), sid))
            cur["nodes"][k].update(party=owner, feature=f, split_id=sid, gain=gain)
    for k, left in guest_masks.items():
        move_rows(pos, node_rows(pos, k), k, left)
    # drop histograms no longer needed (keep those of split nodes: parents of next level)
    cur["hist"] = {key: v for key, v in cur["hist"].items() if key[1] in split_nodes}
    cur["open"] = [c for k in split_nodes for c in (2 * k + 1, 2 * k + 2)]
    out: Payload = {
        "split_nodes": [int(k) for k in split_nodes] or [-1],
        "decrypt_seconds": decrypt_s,
        "seconds": time.perf_counter() - t,
    }
    m = encode_masks(pos, guest_masks)  # bit-masks over each node's rows before the move
    out["g.nodes"], out["g.bits"] = m["nodes"], m["bits"]
    for h, lst in host_splits.items():
        if lst:
            out[f"{h}.split"] = np.asarray(lst, dtype=np.int64).ravel()
    return out


@register("sb.tree_end")
def _tree_end(ctx: PartyContext, payload: Payload) -> Payload:
    """Guest: apply the last hosts' masks, set leaf weights, update scores, evaluate."""
    st = _st(ctx)
    cur = st["cur"]
    params = parse_params(json.loads(st["params"]))
    layout: Layout = st["layout"]
    pos = cur["pos"]
    for h in [str(x) for x in payload.get("hosts", []) if str(x) != "-"]:
        nodes, bits = _mask_dict(payload, f"{h}.m.")
        apply_mask_payload(pos, nodes, bits)
    for k in cur["open"]:
        rows_act = np.flatnonzero((pos == k) & cur["active"])
        tot = node_totals(rows_act, cur["a"], cur["b"])
        cur["nodes"][k] = {"tot": tot}
        cur["leaves"][k] = leaf_weight(tot, layout, params)
    leaves = cur["leaves"]
    ids = np.array(sorted(leaves), dtype=np.int64)
    wts = np.array([leaves[int(k)] for k in ids])
    st["margin"] = st["margin"] + wts[np.searchsorted(ids, pos)]
    nodes = {}
    for k, info in cur["nodes"].items():
        if k in leaves:
            nodes[int(k)] = {"leaf": float(leaves[k])}
        else:
            nodes[int(k)] = {key: v for key, v in info.items() if key != "tot"}
    st["trees"].append(nodes)
    del st["cur"]
    # evaluation on the validation rows (or the training rows without a validation split)
    y, margin = st["y"], st["margin"]
    ev = st["valid"] if st["valid"].size else st["train"]
    loss = _logloss(y[ev], margin[ev])
    st["losses"].append(loss)
    ntrees = len(st["trees"])
    stop = False
    if loss < st["best"][0] - 1e-12:
        st["best"] = (loss, ntrees, margin.copy())
    elif params.early_stopping_rounds and ntrees - st["best"][1] >= params.early_stopping_rounds:
        stop = True
    return {"loss": loss, "stop": stop, "n_leaves": len(leaves), "best_n": int(st["best"][1])}


def _logloss(y: np.ndarray, z: np.ndarray) -> float:
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


# ---------------------------------------------------------------------------------------
# party side: the hosts' tree steps
# ---------------------------------------------------------------------------------------


def _host_apply(ctx: PartyContext, st: dict[str, Any], payload: Payload) -> Payload:
    """Apply this host's own splits (store thresholds) and the other parties' masks."""
    hc = st["hcur"]
    pos = hc["pos"]
    out: Payload = {}
    own = np.asarray(payload.get("split", np.zeros(0, dtype=np.int64)), dtype=np.int64)
    own = own.reshape(-1, 4)
    masks: dict[int, np.ndarray] = {}
    for k, f, bn, sid in own.tolist():
        if not 0 <= f < st["bins"].shape[1]:
            raise ProtocolError(f"party {ctx.name!r}: split on unknown feature index {f}")
        rows = node_rows(pos, k)
        masks[k] = st["bins"][rows, f] <= bn
        st["splits"][int(sid)] = (int(f), int(bn))
    enc = encode_masks(pos, masks)
    for k, left in masks.items():
        move_rows(pos, node_rows(pos, k), k, left)
    nodes, bits = _mask_dict(payload, "m.")
    apply_mask_payload(pos, nodes, bits)
    out["m.nodes"], out["m.bits"] = enc["nodes"], enc["bits"]
    return out


@register("sb.hist")
def _hist(ctx: PartyContext, payload: Payload) -> Payload:
    """Host: apply the previous level's splits, then encrypted histograms of this level."""
    st = _st(ctx)
    level = int(payload["level"])
    t = time.perf_counter()
    if level == 0:
        cipher: HostCipher = st["cipher"]
        active = np.unpackbits(np.asarray(payload["active"], dtype=np.uint8))[: st["n"]].astype(
            bool
        )
        cts = cipher.load(bytes(payload["gh"]))
        if cts.size != int(active.sum()):
            raise ProtocolError(
                f"party {ctx.name!r}: got {cts.size} encrypted rows for "
                f"{int(active.sum())} active rows"
            )
        inv = np.full(st["n"], -1, dtype=np.int64)
        inv[np.flatnonzero(active)] = np.arange(cts.size)
        st["hcur"] = {
            "tree": int(payload["tree"]),
            "pos": np.zeros(st["n"], dtype=np.int64),
            "active": active,
            "cts": cts,
            "inv": inv,
            "cols": np.asarray(payload["cols"], dtype=np.int64),
            "rows_file": _share_rows(ctx, st, bytes(payload["gh"])),
        }
    out = _host_apply(ctx, st, payload)
    hc = st["hcur"]
    if level == 0:
        build = [0]
    else:
        split_nodes = [int(k) for k in payload["split_nodes"] if int(k) >= 0]
        build = smaller_children(hc["pos"], hc["active"], split_nodes)
    out.update(_build_hists(st, hc, build))
    out["seconds"] = time.perf_counter() - t
    return out


@register("sb.apply")
def _apply(ctx: PartyContext, payload: Payload) -> Payload:
    """Host: apply own splits (and others' masks) without building histograms."""
    st = _st(ctx)
    return _host_apply(ctx, st, payload)


def _build_hists(st: dict[str, Any], hc: dict[str, Any], build: list[int]) -> Payload:
    """Encrypted (count, g, h) sums of every (built node, sampled column, bin) except each
    (node, column)'s most populated bin, ``k`` per ciphertext, in (node, column, bin) order."""
    cipher: HostCipher = st["cipher"]
    bins, cols, pos, active, inv = st["bins"], hc["cols"], hc["pos"], hc["active"], hc["inv"]
    nbmax = int(st["nbmax"])
    ncols = len(cols)
    skip = np.full((len(build), ncols), -1, dtype=np.int64)
    plan = restrict_plan(st["plan"], {int(f): j for j, f in enumerate(cols.tolist())})
    units: list[_Unit] = []
    for i, k in enumerate(build):
        rows = np.flatnonzero((pos == k) & active)
        if rows.size == 0 or plan is None:
            continue
        sub = bins[np.ix_(rows, cols)]
        skip[i] = [int(np.argmax(np.bincount(sub[:, c], minlength=nbmax))) for c in range(ncols)]
        units.append(_Unit(i * ncols * nbmax, inv[rows], sub, skip[i].copy()))
    keys, sums = _unit_sums(st, hc, units, plan, nbmax)
    packed = _pack_parallel(st, hc, sums)
    present = np.zeros(len(build) * ncols * nbmax, dtype=bool)
    present[keys] = True
    return {
        "built": [int(k) for k in build] or [-1],
        "nbmax": nbmax,
        "present": np.packbits(present),
        "skip": skip.ravel(),
        "hist": cipher.dump(packed) if packed else b"",
    }


# ---------------------------------------------------------------------------------------
# the hosts' bin sums: additions shared across columns along a merge tree
# ---------------------------------------------------------------------------------------

# A merge tree over a host's columns: a column index, or a pair of merge trees.
Plan = Any
_PLAN_ROWS = 4096  # rows sampled to choose the merge tree
_PLAN_GREEDY_MAX = 40  # columns beyond which the tree joins neighbours instead of searching


def merge_plan(bins: np.ndarray) -> Plan:
    """A binary merge tree over the columns of ``bins`` (rows x columns of bin indices) for
    :func:`cube_sums`, or ``None`` without columns.

    The additions :func:`cube_sums` needs are about the number of rows plus, for every inner
    node, the number of distinct bin combinations of its columns. Greedily (as in Huffman's
    code) the two groups whose union shows the fewest distinct combinations are joined
    first, on at most ``_PLAN_ROWS`` evenly spaced rows."""
    n, m = bins.shape
    if m == 0:
        return None
    sel = bins if n <= _PLAN_ROWS else bins[np.linspace(0, n - 1, _PLAN_ROWS).astype(np.int64)]
    if m > _PLAN_GREEDY_MAX or n == 0:
        level: list[Plan] = list(range(m))
        while len(level) > 1:
            level = [
                tuple(level[i : i + 2]) if i + 1 < len(level) else level[i]
                for i in range(0, len(level), 2)
            ]
        return level[0]
    groups: dict[int, tuple[Plan, np.ndarray]] = {}
    for c in range(m):
        groups[c] = (c, np.unique(sel[:, c], return_inverse=True)[1].reshape(-1))
    joint: dict[tuple[int, int], tuple[int, np.ndarray]] = {}
    nxt = m
    while len(groups) > 1:
        for a in groups:
            for b in groups:
                if a < b and (a, b) not in joint:
                    ia, ib = groups[a][1], groups[b][1]
                    ids = np.unique(ia * (int(ib.max()) + 1) + ib, return_inverse=True)[1]
                    joint[(a, b)] = (int(ids.max()) + 1, ids.reshape(-1))
        a, b = min(joint, key=lambda ab: (joint[ab][0], ab))
        groups[nxt] = ((groups[a][0], groups[b][0]), joint[(a, b)][1])
        del groups[a], groups[b]
        joint = {ab: v for ab, v in joint.items() if a not in ab and b not in ab}
        nxt += 1
    return next(iter(groups.values()))[0]


def restrict_plan(plan: Plan, position: dict[int, int]) -> Plan:
    """The merge tree over the sampled columns only, leaves renamed to their positions
    (``position``: column index -> position among the sampled columns); ``None`` if empty."""
    if plan is None:
        return None
    if isinstance(plan, (int, np.integer)):
        return position.get(int(plan))
    a, b = (restrict_plan(p, position) for p in plan)
    return b if a is None else a if b is None else (a, b)


def cube_sums(
    sub: np.ndarray, modes: np.ndarray, plan: Plan, values: Sequence[Any], modulus: Any
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Sums (``modulus is None``) or products mod ``modulus`` of ``values`` (one per row of
    ``sub``, rows x columns of bin indices) per (column, bin), except each column's
    ``modes[c]`` bin; returns ``(columns, bins, sums)`` of the non-empty bins.

    Additions are shared: for every inner node of the merge tree ``plan`` the values are
    first summed per distinct bin combination of its columns ("cells"); each child then
    sums its parent's cells instead of the rows. Rows (cells) whose columns are all at
    their mode bins are needed by no output and skipped. The sums are exact whatever the
    order (plaintext integers; ciphertext products mod ``n**2``)."""
    nodes: list[tuple[tuple[int, ...], np.ndarray, np.ndarray, int]] = []

    def build(p: Plan) -> int:
        if isinstance(p, (int, np.integer)):
            col = sub[:, int(p)].astype(np.int64)
            nodes.append(((), col, col == int(modes[int(p)]), int(p)))
        else:
            i, j = build(p[0]), build(p[1])
            ia, ib = nodes[i][1], nodes[j][1]
            ids = np.unique(ia * (int(ib.max()) + 1) + ib, return_inverse=True)[1]
            nodes.append(((i, j), ids.reshape(-1), nodes[i][2] & nodes[j][2], -1))
        return len(nodes) - 1

    out_c: list[np.ndarray] = []
    out_b: list[np.ndarray] = []
    out_v: list[Any] = []

    def down(k: int, rep: np.ndarray, vals: list[Any]) -> None:
        children, ids, at_mode, col = nodes[k]
        keep = ~at_mode[rep]
        if not keep.all():
            rep = rep[keep]
            vals = [vals[i] for i in np.flatnonzero(keep).tolist()]
        if rep.size == 0:
            return
        g = ids[rep]
        order = np.argsort(g, kind="stable")
        gs = g[order]
        starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
        sums = segment_reduce([vals[i] for i in order.tolist()], starts.tolist(), modulus)
        if col >= 0:
            out_c.append(np.full(starts.size, col, dtype=np.int64))
            out_b.append(gs[starts])
            out_v.extend(sums)
            return
        for child in children:
            down(child, rep[order[starts]], sums)

    if plan is not None and sub.shape[0]:
        down(build(plan), np.arange(sub.shape[0]), list(values))
    if not out_v:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), []
    cs, bs = np.concatenate(out_c), np.concatenate(out_b)
    order = np.lexsort((bs, cs))
    return cs[order], bs[order], [out_v[i] for i in order.tolist()]


@dataclass(frozen=True)
class _Unit:
    """Rows of one built node (or a share of them) for :func:`cube_sums`: ``base`` is the
    node's first grid key, ``idx`` the rows' positions among the tree's ciphertexts."""

    base: int
    idx: np.ndarray
    sub: np.ndarray
    modes: np.ndarray


def _units_sums(
    units: Sequence[_Unit], plan: Plan, nbmax: int, cts: Sequence[Any], modulus: Any
) -> tuple[np.ndarray, list[Any]]:
    keys: list[np.ndarray] = []
    vals: list[Any] = []
    for u in units:
        cs, bs, sums = cube_sums(u.sub, u.modes, plan, [cts[i] for i in u.idx.tolist()], modulus)
        keys.append(u.base + cs * nbmax + bs)
        vals.extend(sums)
    return (np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)), vals


# The hosts' histogram work split across processes: the worker processes read this tree's
# ciphertexts from a file in the host's work dir (written once per tree; ciphertexts only)
# and keep the last one they parsed.
_ROWS_FILE = ".sb_rows.bin"
_MIN_ROWS_FOR_POOL = 2_000  # rows of a level's built nodes (each ~ a few products)
_MIN_GROUPS_FOR_POOL = 4  # packed ciphertexts of a level (each ~(k - 1) * w squarings)
_WORKER_ROWS: dict[str, Any] = {}


def _share_rows(ctx: PartyContext, st: dict[str, Any], blob: bytes) -> tuple[str, str] | None:
    """Write this tree's ciphertexts for the worker processes; ``None`` = no workers."""
    params = parse_params(json.loads(st["params"]))
    if st["backend"] != "paillier" or params.workers < 2:
        return None
    path = Path(ctx.work_dir) / _ROWS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return str(path), os.urandom(8).hex()


def _rows_in_worker(path: str, token: str, public: bytes) -> list[Any]:
    if _WORKER_ROWS.get("token") != token:
        from crypto.paillier import EncryptedArray, PaillierPublicKey

        pk = PaillierPublicKey.from_bytes(public)
        _WORKER_ROWS.clear()
        _WORKER_ROWS.update(
            token=token,
            modulus=pk.nsquare,
            cts=EncryptedArray.from_bytes(pk, Path(path).read_bytes()).raw_ciphertexts(),
        )
    return _WORKER_ROWS["cts"]  # type: ignore[no-any-return]


def _dump_ints(values: Sequence[Any], width: int) -> bytes:
    return b"".join(v.to_bytes(width, "big") for v in values)


def _load_mpz(blob: bytes, width: int) -> list[Any]:
    frm = gmpy2.mpz.from_bytes
    return [frm(blob[i : i + width], "big") for i in range(0, len(blob), width)]


def _units_job(
    path: str, token: str, public: bytes, units: list[_Unit], plan: Plan, nbmax: int, width: int
) -> tuple[np.ndarray, bytes]:
    cts = _rows_in_worker(path, token, public)
    keys, vals = _units_sums(units, plan, nbmax, cts, _WORKER_ROWS["modulus"])
    return keys, _dump_ints(vals, width)


def _pack_job(blob: bytes, width: int, w: int, k: int, modulus: int) -> bytes:
    return _dump_ints(pack_sums(_load_mpz(blob, width), w, k, gmpy2.mpz(modulus)), width)


def _share_units(units: list[_Unit], parts: int) -> list[list[_Unit]]:
    """Units (nodes) for ``parts`` processes with equal numbers of rows: the largest nodes
    first, each process filled up to its share, a node that overflows it cut into row
    ranges (their sums are multiplied after; at most ``parts - 1`` cuts)."""
    cap = sum(u.idx.size for u in units) / parts
    shares: list[list[_Unit]] = [[] for _ in range(parts)]
    j, room = 0, cap
    for u in sorted(units, key=lambda u: -u.idx.size):
        lo = 0
        while lo < u.idx.size:
            rest = u.idx.size - lo
            take = rest if j == parts - 1 or rest - room < 64 else max(64, int(room))
            shares[j].append(_Unit(u.base, u.idx[lo : lo + take], u.sub[lo : lo + take], u.modes))
            lo += take
            room -= take
            if room < 64 and j < parts - 1:
                j, room = j + 1, room + cap
    return shares


def _pool_or_none(st: dict[str, Any], hc: dict[str, Any], enough: bool) -> tuple[Any, int]:
    """The crypto worker pool and the number of processes to use (``None, 1``: in-process,
    also when there is not ``enough`` work)."""
    parts = parse_params(json.loads(st["params"])).workers
    if hc.get("rows_file") is None or parts < 2 or not enough:
        return None, 1
    from crypto.parallel import get_executor

    try:
        return get_executor(parts), parts
    except RuntimeError:  # the pool is shut down or broken: this process does it all
        return None, 1


def _unit_sums(
    st: dict[str, Any], hc: dict[str, Any], units: list[_Unit], plan: Plan, nbmax: int
) -> tuple[np.ndarray, list[Any]]:
    """Grid keys (sorted) and sums of the non-empty bins of all units, split across the
    worker processes (each reads the tree's ciphertexts from the shared file)."""
    cipher: HostCipher = st["cipher"]
    modulus = None if cipher.backend == "plaintext" else cipher.modulus
    ex, parts = _pool_or_none(st, hc, sum(u.idx.size for u in units) >= _MIN_ROWS_FOR_POOL)
    shares = _share_units(units, parts) if parts > 1 else [units]
    futs: dict[int, Any] = {}
    if ex is not None:
        shared = hc["rows_file"]
        for j in range(1, parts):
            if shares[j]:
                try:
                    futs[j] = ex.submit(
                        _units_job,
                        shared[0],
                        shared[1],
                        cipher.pk.to_bytes(),
                        shares[j],
                        plan,
                        nbmax,
                        cipher.width,
                    )
                except RuntimeError:
                    break
    results = [_units_sums(shares[0], plan, nbmax, hc["cts"], modulus)]
    for j in range(1, parts):
        if not shares[j]:
            continue
        try:
            keys, blob = futs[j].result()
            results.append((keys, _load_mpz(blob, cipher.width)))
        except (KeyError, BrokenProcessPool, OSError):
            results.append(_units_sums(shares[j], plan, nbmax, hc["cts"], modulus))
    keys = np.concatenate([r[0] for r in results])
    vals = [v for r in results for v in r[1]]
    order = np.argsort(keys, kind="stable")
    keys, vals = keys[order], [vals[i] for i in order.tolist()]
    if keys.size and (keys[1:] == keys[:-1]).any():  # a node cut into row ranges
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        vals = segment_reduce(vals, starts.tolist(), modulus)
        keys = keys[starts]
    return keys, vals


def _pack_parallel(st: dict[str, Any], hc: dict[str, Any], sums: list[Any]) -> list[Any]:
    """Pack ``k`` sums per ciphertext (:func:`pack_sums`), groups split across processes."""
    layout: Layout = st["layout"]
    cipher: HostCipher = st["cipher"]
    w, k = layout.w, layout.k
    ngroups = -(-len(sums) // k)
    ex, parts = _pool_or_none(st, hc, ngroups >= _MIN_GROUPS_FOR_POOL)
    if ex is None:
        return cipher.pack(sums, w, k)
    cuts = [int(round(ngroups * j / parts)) * k for j in range(parts + 1)]
    futs: dict[int, Any] = {}
    for j in range(1, parts):
        try:
            futs[j] = ex.submit(
                _pack_job,
                _dump_ints(sums[cuts[j] : cuts[j + 1]], cipher.width),
                cipher.width,
                w,
                k,
                int(cipher.modulus),
            )
        except RuntimeError:
            break
    out = cipher.pack(sums[cuts[0] : cuts[1]], w, k)
    for j in range(1, parts):
        try:
            out.extend(_load_mpz(futs[j].result(), cipher.width))
        except (KeyError, BrokenProcessPool, OSError):
            out.extend(cipher.pack(sums[cuts[j] : cuts[j + 1]], w, k))
    return out


# ---------------------------------------------------------------------------------------
# model pieces
# ---------------------------------------------------------------------------------------


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    os.replace(tmp, path)


@register("sb.stage")
def _stage(ctx: PartyContext, payload: Payload) -> Payload:
    """Write this party's model piece to a temporary file (renamed by ``sb.commit``)."""
    st = _st(ctx)
    piece: dict[str, Any] = {
        "algorithm": "secureboost",
        "party": ctx.name,
        "role": ctx.role.value,
        "binner": st["binner"],
        "feature_names": st["feature_names"],
        "encoder": st.get("encoder"),
    }
    out: Payload = {}
    if ctx.role == PartyRole.GUEST:
        params = parse_params(json.loads(st["params"]))
        ntrees = int(payload["n_trees"])
        trees = st["trees"][:ntrees]
        used: dict[str, list[int]] = {}
        for tr in trees:
            for info in tr.values():
                if "split_id" in info:
                    used.setdefault(str(info["party"]), []).append(int(info["split_id"]))
        piece.update(
            trees=[{str(k): v for k, v in tr.items()} for tr in trees],
            base_margin=0.0,
            params=json.loads(params.model_dump_json()),
            metrics=json.loads(str(payload.get("metrics", "{}"))),
        )
        for h, sids in used.items():
            out[f"{h}.keep"] = sorted(sids)
    else:
        keep = {int(x) for x in payload.get("keep", []) if int(x) >= 0}
        piece["splits"] = {str(s): list(v) for s, v in sorted(st["splits"].items()) if s in keep}
    _write_json(Path(ctx.work_dir) / f".{MODEL_FILE}.staged", piece)
    return out


@register("sb.commit")
def _commit(ctx: PartyContext, payload: Payload) -> Payload:
    staged = Path(ctx.work_dir) / f".{MODEL_FILE}.staged"
    if not staged.is_file():
        raise ProtocolError(f"party {ctx.name!r}: no staged SecureBoost model to commit")
    os.replace(staged, Path(ctx.work_dir) / MODEL_FILE)
    (Path(ctx.work_dir) / _ROWS_FILE).unlink(missing_ok=True)
    st = ctx.state.pop(_STATE_KEY, None)
    cipher = (st or {}).get("cipher")
    if isinstance(cipher, GuestCipher) and cipher.backend == "paillier":
        cipher.forget()
    return {"ok": True}


def load_piece(work_dir: Path) -> dict[str, Any]:
    """Read a party's SecureBoost model piece from ``work_dir``."""
    path = Path(work_dir) / MODEL_FILE
    if not path.is_file():
        raise DataValidationError(
            f"no SecureBoost model piece at {path}", hint="Train the model first (fedlab train)."
        )
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("algorithm") != "secureboost":
        raise DataValidationError(f"{path} is not a SecureBoost model piece")
    return raw  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------
# coordinator side
# ---------------------------------------------------------------------------------------


class _Exchanger(Exchanger):
    """Counts exchanges and checks every reply is there; returns the reply payloads."""

    def __call__(self, requests: Sequence[Envelope]) -> dict[str, Payload]:  # type: ignore[override]
        return {p: e.payload for p, e in super().__call__(requests).items()}


def _align(transport: Transport, config: ExperimentConfig, progress: ProgressFn) -> Any:
    from federation.alignment import align

    return align(transport, config, progress=progress)


def _col_sample(n: int, frac: float, rng: np.random.Generator) -> np.ndarray:
    if frac >= 1.0 or n == 0:
        return np.arange(n, dtype=np.int64)
    k = max(1, int(round(frac * n)))
    return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)


def drive(
    transport: Transport, config: ExperimentConfig, *, progress: ProgressFn = no_progress
) -> ProtocolResult:
    """Run alignment and SecureBoost training; every party saves its own model piece."""
    params = parse_params(config.params)
    backend = config.experiment.backend
    if backend not in ("paillier", "plaintext"):
        raise ConfigError(
            f"secureboost runs with backend 'paillier' (or 'plaintext' for tests), not {backend!r}",
            hint="Set [experiment].backend.",
        )
    guest = config.guest.name
    hosts = [h.name for h in config.hosts]
    require_parties(transport, [guest, *hosts])
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    aligned = _align(transport, config, progress)
    seconds["align"] = time.perf_counter() - t0

    t = time.perf_counter()
    ex = _Exchanger(transport)
    seed = int(config.experiment.seed)
    base = {"params": params.model_dump_json(), "backend": backend, "seed": seed}
    g0 = ex([Envelope(guest, "sb.setup", dict(base))])[guest]
    n_aligned = int(g0["n_rows"])
    hs = ex(
        [
            Envelope(h, "sb.setup", {**base, "publish_names": h in params.publish_feature_names})
            for h in hosts
        ]
    )
    for h in hosts:
        if int(hs[h]["n_rows"]) != n_aligned:
            raise ProtocolError(
                f"party {h!r} holds {hs[h]['n_rows']} aligned rows, the guest {n_aligned}",
                hint="Re-run the alignment.",
            )
    n_feat = {guest: int(g0["n_features"]), **{h: int(hs[h]["n_features"]) for h in hosts}}
    host_names = {
        h: [str(x) for x in hs[h]["feature_names"]] for h in hosts if "feature_names" in hs[h]
    }
    valid_idx = np.asarray(g0["valid_idx"], dtype=np.int64)
    ex(
        [
            Envelope(
                h,
                "sb.host_init",
                {"public": g0["public"], "layout": g0["layout"], "valid_idx": valid_idx},
            )
            for h in hosts
        ]
    )
    seconds["setup"] = time.perf_counter() - t
    progress(
        "sb.setup",
        {
            "n_aligned": n_aligned,
            "n_train": int(g0["n_train"]),
            "n_valid": int(valid_idx.size),
            "backend": backend,
        },
    )

    t_train = time.perf_counter()
    rng = np.random.default_rng([seed, 11])
    losses: list[float] = []
    phase = {"encrypt": 0.0, "host_histograms": 0.0, "guest_splits": 0.0, "decrypt": 0.0}
    bytes_start = sum(m.nbytes for m in transport.log.messages)
    for tree in range(params.n_trees):
        cols = {p: _col_sample(n_feat[p], params.colsample, rng) for p in [guest, *hosts]}
        use_hosts = [h for h in hosts if tree >= params.guest_only_first_trees and cols[h].size > 0]
        b = ex(
            [
                Envelope(
                    guest,
                    "sb.tree_begin",
                    {"tree": tree, "guest_cols": cols[guest], "encrypt": bool(use_hosts)},
                )
            ]
        )[guest]
        phase["encrypt"] += float(b.get("encrypt_seconds", 0.0))
        pending: dict[str, np.ndarray] = {}  # host -> its split requests of the last level
        guest_masks: tuple[list[int], np.ndarray] = ([-1], np.zeros(0, dtype=np.uint8))
        split_nodes: list[int] = [-1]
        for level in range(params.max_depth + 1):
            host_masks: dict[str, tuple[list[int], np.ndarray]] = {}
            applied: set[str] = set()
            hist_payloads: dict[str, Payload] = {}
            last = level == params.max_depth
            if use_hosts and level > 0:
                owners = [h for h in use_hosts if h in pending]
                if owners and (len(use_hosts) > 1 or last):
                    # owners apply their splits first so that every host gets every mask
                    # (with a single participating host this rides on its sb.hist)
                    rep = ex([Envelope(h, "sb.apply", {"split": pending[h]}) for h in owners])
                    for h in owners:
                        host_masks[h] = (
                            [int(x) for x in rep[h]["m.nodes"]],
                            np.asarray(rep[h]["m.bits"], dtype=np.uint8),
                        )
                    applied = set(owners)
            if use_hosts and not last:
                reqs = []
                for h in use_hosts:
                    pl: Payload = {"level": level, "tree": tree, "split_nodes": split_nodes}
                    if level == 0:
                        pl.update(gh=b["gh"], active=b["active"], cols=cols[h])
                    else:
                        nodes, bits = _merge_masks(
                            [guest_masks] + [m for o, m in host_masks.items() if o != h]
                        )
                        pl.update({"m.nodes": nodes, "m.bits": bits})
                        if h in pending and h not in applied:
                            pl["split"] = pending[h]
                    reqs.append(Envelope(h, "sb.hist", pl))
                t_h = time.perf_counter()
                rep = ex(reqs)
                phase["host_histograms"] += time.perf_counter() - t_h
                for h in use_hosts:
                    if h in pending and h not in host_masks:
                        host_masks[h] = (
                            [int(x) for x in rep[h]["m.nodes"]],
                            np.asarray(rep[h]["m.bits"], dtype=np.uint8),
                        )
                    hist_payloads[h] = rep[h]
            gp: Payload = {"hosts": list(host_masks), "level": level}
            for h, (nodes, bits) in host_masks.items():
                gp[f"{h}.m.nodes"], gp[f"{h}.m.bits"] = nodes, bits
            if last:
                gp["hosts"] = list(host_masks) or ["-"]
                end = ex(
                    [Envelope(guest, "sb.tree_end", {k: v for k, v in gp.items() if k != "level"})]
                )[guest]
                break
            gp["hosts"] = sorted(set(host_masks) | set(hist_payloads)) or ["-"]
            for h, hp in hist_payloads.items():
                for key in ("built", "nbmax", "present", "skip", "hist"):
                    gp[f"{h}.{key}"] = hp[key]
                if level == 0:
                    gp[f"{h}.cols"] = cols[h]
            t_g = time.perf_counter()
            gr = ex([Envelope(guest, "sb.level", gp)])[guest]
            phase["guest_splits"] += time.perf_counter() - t_g
            phase["decrypt"] += float(gr.get("decrypt_seconds", 0.0))
            split_nodes = [int(x) for x in gr["split_nodes"]]
            guest_masks = (
                [int(x) for x in gr["g.nodes"]],
                np.asarray(gr["g.bits"], dtype=np.uint8),
            )
            pending = {
                h: np.asarray(gr[f"{h}.split"], dtype=np.int64)
                for h in use_hosts
                if f"{h}.split" in gr
            }
            if split_nodes == [-1]:
                # every open node became a leaf: close the tree without the other levels
                end = ex([Envelope(guest, "sb.tree_end", {"hosts": ["-"]})])[guest]
                break
        losses.append(float(end["loss"]))
        best_n = int(end["best_n"]) if params.early_stopping_rounds else len(losses)
        progress("tree", {"tree": tree, "loss": end["loss"]})
        if end["stop"]:
            break
    seconds["train"] = time.perf_counter() - t_train
    train_bytes = sum(m.nbytes for m in transport.log.messages) - bytes_start

    t = time.perf_counter()
    fin = ex([Envelope(guest, "sb.finish", {"n_trees": best_n})])[guest]
    gm = json.loads(str(fin["metrics"]))
    st_rep = ex([Envelope(guest, "sb.stage", {"n_trees": best_n, "metrics": json.dumps(gm)})])
    ex(
        [
            Envelope(
                h,
                "sb.stage",
                {"keep": [int(x) for x in st_rep[guest].get(f"{h}.keep", [])] or [-1]},
            )
            for h in hosts
        ]
    )
    ex([Envelope(p, "sb.commit", {}) for p in [guest, *hosts]])
    seconds["save"] = time.perf_counter() - t
    seconds.update({k: round(v, 4) for k, v in phase.items()})
    importance = _importance(gm.get("importance", {}), host_names)
    metrics: dict[str, Any] = {
        "algorithm": "secureboost",
        "backend": backend,
        "auc": gm["auc"],
        "ks": gm["ks"],
        "train_auc": gm["train_auc"],
        "n_aligned": int(getattr(aligned, "n_aligned", n_aligned)),
        "n_train": int(g0["n_train"]),
        "n_valid": int(valid_idx.size),
        **{k: gm[k] for k in CURVE_KEYS if k in gm},
        "trees": best_n,
        "trees_built": len(losses),
        "loss": losses,
        "exchanges": ex.count,
        "bytes_per_tree": int(train_bytes / max(1, len(losses))),
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "feature_importance": importance,
    }
    summary = {
        "algorithm": "secureboost",
        "backend": backend,
        "trees": best_n,
        "parties": {
            p: {"role": "guest" if p == guest else "host", "n_features": n_feat[p]}
            for p in [guest, *hosts]
        },
    }
    progress("sb.done", {"auc": gm["auc"], "ks": gm["ks"], "trees": best_n})
    return ProtocolResult(metrics=metrics, model_summary=summary)


def _merge_masks(parts: Sequence[tuple[list[int], np.ndarray]]) -> tuple[list[int], np.ndarray]:
    nodes: list[int] = []
    bits: list[np.ndarray] = []
    for ns, bs in parts:
        real = [int(k) for k in ns if int(k) >= 0]
        if real:
            nodes.extend(real)
            bits.append(np.asarray(bs, dtype=np.uint8))
    return (nodes or [-1]), (np.concatenate(bits) if bits else np.zeros(0, dtype=np.uint8))


def _importance(raw: dict[str, Any], host_names: dict[str, list[str]]) -> dict[str, Any]:
    """Per party: feature -> split count and total gain; host features as ``party:index``
    unless the host published its names."""
    out: dict[str, Any] = {}
    for party, feats in raw.items():
        names = host_names.get(party)
        d = {}
        for key, v in feats.items():
            if names is not None and key.startswith(f"{party}:"):
                idx = int(key.split(":", 1)[1])
                key = names[idx] if 0 <= idx < len(names) else key
            d[key] = v
        out[party] = d
    return out


@register("sb.finish")
def _finish(ctx: PartyContext, payload: Payload) -> Payload:
    """Guest: metrics of the kept trees (validation rows, else training rows), importance."""
    from sklearn.metrics import roc_auc_score

    st = _st(ctx)
    ntrees = int(payload["n_trees"])
    if ntrees == len(st["trees"]):
        margin = st["margin"]
    elif ntrees == st["best"][1] and st["best"][2] is not None:
        margin = st["best"][2]
    else:
        raise ProtocolError(
            f"guest {ctx.name!r}: cannot evaluate {ntrees} of {len(st['trees'])} trees"
        )
    y = st["y"]
    ev = st["valid"] if st["valid"].size else st["train"]
    imp: dict[str, dict[str, dict[str, float]]] = {}
    for tr in st["trees"][:ntrees]:
        for info in tr.values():
            if "party" not in info:
                continue
            party = str(info["party"])
            f = int(info["feature"])
            key = st["feature_names"][f] if party == ctx.name else f"{party}:{f}"
            e = imp.setdefault(party, {}).setdefault(key, {"splits": 0, "gain": 0.0})
            e["splits"] += 1
            e["gain"] += float(info["gain"])
    from features.metrics import curve_aggregates

    metrics = {
        "auc": float(roc_auc_score(y[ev], margin[ev])),
        "ks": ks(y[ev], margin[ev]),
        **curve_aggregates(y[ev], margin[ev]),
        "train_auc": float(roc_auc_score(y[st["train"]], margin[st["train"]])),
        "importance": imp,
    }
    return {"metrics": json.dumps(metrics)}


# ---------------------------------------------------------------------------------------
# joint inference: a sample walks the trees across parties
# ---------------------------------------------------------------------------------------


@register("sb.predict_begin")
def _predict_begin(ctx: PartyContext, payload: Payload) -> Payload:
    """Every party: load its model piece and bin its aligned rows with its own edges.

    ``model_ref`` (optional) is the folder holding the piece (a training run's
    ``parties/NAME``, or its run folder at a SuperNode: :func:`federation.pieces.
    piece_folder`), else the party's work dir; a host applies a piggybacked alignment
    commit (``idx``) first. The guest then starts the walk and returns its first queries."""
    from features.binning import QuantileBinner
    from federation.pieces import piece_folder

    if ctx.role == PartyRole.HOST and "idx" in payload:
        from federation.alignment import apply_commit

        apply_commit(ctx, payload)
    try:
        piece = load_piece(piece_folder(ctx, payload.get("model_ref")))
    except DataValidationError:
        raise ProtocolError(
            f"party {ctx.name!r} has no SecureBoost model piece to score with",
            hint="Give the training run's DIR (--model) or train first.",
        ) from None
    binner = QuantileBinner.from_dict(piece["binner"])
    X = _scoring_matrix(ctx, piece)
    bins = binner.transform(X)
    st: dict[str, Any] = {"bins": bins, "piece": piece}
    ctx.state["secureboost_predict"] = st
    out: Payload = {"n_rows": int(bins.shape[0])}
    if ctx.role == PartyRole.GUEST:
        trees = [{int(k): v for k, v in tr.items()} for tr in piece["trees"]]
        st["trees"] = trees
        st["pos"] = np.zeros((len(trees), bins.shape[0]), dtype=np.int64)
        out.update(_guest_walk(ctx, st, {}))
    return out


def _scoring_matrix(ctx: PartyContext, piece: dict[str, Any]) -> np.ndarray:
    """The aligned rows encoded with the training encoding kept in the piece (a row gets
    the same features alone or in a batch); a piece saved before encodings were kept, or a
    party whose matrix does not come from its data file, encodes the scored rows themselves."""
    from federation.partydata import SETUP_KEY, aligned_table

    names = [str(f) for f in piece["feature_names"]]
    if not piece.get("encoder") or SETUP_KEY not in ctx.state:
        return _model_columns(ctx, _matrix(ctx), names)
    from features.encoding import TableEncoder

    enc = TableEncoder.from_dict(piece["encoder"])
    if enc.feature_names != names:
        raise ConfigError(
            f"party {ctx.name!r}: its SecureBoost piece holds an encoding whose "
            "columns differ from the model's features",
            hint="Train the model again.",
        )
    return np.asarray(enc.transform(aligned_table(ctx)), dtype=np.float64)


def _model_columns(ctx: PartyContext, m: Any, names: Sequence[str]) -> np.ndarray:
    """The scoring rows' features in the model's column order.

    A one-hot level or missing flag the new rows do not produce is 0; any other column the
    model needs and the data lacks is an error naming it."""
    have = {str(n): j for j, n in enumerate(m.feature_names)}
    X = np.asarray(m.X, dtype=np.float64)
    out = np.empty((X.shape[0], len(names)))
    lacking = []
    for j, name in enumerate(names):
        if name in have:
            out[:, j] = X[:, have[name]]
        elif "=" in name or name.endswith("__missing"):
            out[:, j] = 0.0
        else:
            lacking.append(name)
    if lacking:
        raise DataValidationError(
            f"party {ctx.name!r}: the scoring data lacks the model's feature(s) {lacking}",
            hint="Score data with the training columns.",
        )
    return out


def _guest_walk(ctx: PartyContext, st: dict[str, Any], answers: dict[str, np.ndarray]) -> Payload:
    """Advance every (tree, row) by the hosts' answers, then by the guest's own nodes until
    each row sits at a leaf or at a host's node; return the next queries."""
    trees, pos, bins = st["trees"], st["pos"], st["bins"]
    pending = st.get("pending", {})
    for h, bits in answers.items():
        t_idx, r_idx = pending[h]
        left = np.unpackbits(np.asarray(bits, dtype=np.uint8))[: t_idx.size].astype(bool)
        cur = pos[t_idx, r_idx]
        pos[t_idx, r_idx] = np.where(left, 2 * cur + 1, 2 * cur + 2)
    queries: dict[str, tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]] = {}
    for ti, tr in enumerate(trees):
        while True:
            moved = False
            for k in np.unique(pos[ti]).tolist():
                info = tr[int(k)]
                if "leaf" in info or info["party"] != ctx.name:
                    continue
                rows = np.flatnonzero(pos[ti] == k)
                left = bins[rows, int(info["feature"])] <= int(info["bin"])
                pos[ti, rows] = np.where(left, 2 * k + 1, 2 * k + 2)
                moved = True
            if not moved:
                break
        for k in np.unique(pos[ti]).tolist():
            info = tr[int(k)]
            if "leaf" in info:
                continue
            rows = np.flatnonzero(pos[ti] == k)
            q = queries.setdefault(str(info["party"]), ([], [], []))
            q[0].append(np.full(rows.size, ti))
            q[1].append(rows)
            q[2].append(np.full(rows.size, int(info["split_id"])))
    st["pending"] = {}
    out: Payload = {"hosts": sorted(queries) or ["-"]}
    for h, (ts, rs, ss) in queries.items():
        t_idx, r_idx = np.concatenate(ts), np.concatenate(rs)
        st["pending"][h] = (t_idx, r_idx)
        out[f"{h}.rows"] = r_idx.astype(np.int64)
        out[f"{h}.sids"] = np.concatenate(ss).astype(np.int64)
    if not queries:
        margin = np.full(bins.shape[0], float(st["piece"].get("base_margin", 0.0)))
        for ti, tr in enumerate(trees):
            ids = np.array(sorted(tr), dtype=np.int64)
            w = np.array([tr[int(k)].get("leaf", 0.0) for k in ids])
            margin += w[np.searchsorted(ids, pos[ti])]
        st["margin"] = margin
        out["done"] = True
    return out


@register("sb.predict_answer")
def _predict_answer(ctx: PartyContext, payload: Payload) -> Payload:
    """Host: left (1) / right (0) for each (row, split id) query on its own splits."""
    st = ctx.state.get("secureboost_predict")
    if st is None:
        raise ProtocolError(f"party {ctx.name!r}: prediction query before sb.predict_begin")
    rows = np.asarray(payload["rows"], dtype=np.int64)
    sids = np.asarray(payload["sids"], dtype=np.int64)
    splits = st["piece"]["splits"]
    uniq = np.unique(sids)
    left = np.zeros(rows.size, dtype=bool)
    for sid in uniq.tolist():
        if str(sid) not in splits:
            raise ProtocolError(
                f"party {ctx.name!r}: unknown split id {sid}",
                hint="Score with the model pieces of one training run.",
            )
        f, bn = splits[str(sid)]
        sel = sids == sid
        left[sel] = st["bins"][rows[sel], int(f)] <= int(bn)
    return {"bits": np.packbits(left)}


@register("sb.predict_step")
def _predict_step(ctx: PartyContext, payload: Payload) -> Payload:
    st = ctx.state.get("secureboost_predict")
    if st is None:
        raise ProtocolError(f"party {ctx.name!r}: prediction step before sb.predict_begin")
    hosts = [str(h) for h in payload.get("hosts", []) if str(h) != "-"]
    return _guest_walk(ctx, st, {h: np.asarray(payload[f"{h}.bits"]) for h in hosts})


@register("sb.predict_result")
def _predict_result(ctx: PartyContext, payload: Payload) -> Payload:
    """Guest: the probabilities of its aligned rows (kept at the guest unless asked).

    ``scores_file``: write them with the aligned IDs to ``scores.csv`` in the guest's work
    dir (``federation.scoring.write_scores``); ``reveal``: return them to the caller."""
    st = ctx.state.pop("secureboost_predict", None)
    if st is None or "margin" not in st:
        raise ProtocolError(f"party {ctx.name!r}: no finished SecureBoost prediction")
    prob = _sigmoid(st["margin"])
    out: Payload = {"n": int(prob.size)}
    out_path = str(payload.get("out", ""))
    if out_path:
        _write_json(Path(ctx.work_dir) / out_path, {"probability": prob.tolist()})
    if bool(payload.get("scores_file", False)):
        from federation.scoring import SCORES_FILE, write_scores

        write_scores(ctx, st["margin"])
        out["file"] = SCORES_FILE
    if bool(payload.get("reveal", False)):
        out["probability"] = prob
    return out


@dataclass(frozen=True)
class PredictOutcome:
    """What the coordinator learns from a joint prediction (``probability`` only when the
    guest was asked to reveal it)."""

    n_rows: int
    exchanges: int
    probability: np.ndarray | None
    file: str = ""


def joint_predict(
    transport: Transport,
    guest: str,
    hosts: Sequence[str],
    *,
    begin: dict[str, Payload] | None = None,
    reveal: bool = False,
    scores_file: bool = False,
    out: str = "",
) -> PredictOutcome:
    """Joint inference for the parties' aligned rows with their saved model pieces.

    The walk advances level by level: each exchange carries, for every host, all pending
    (row, split id) queries of all trees at once; a host answers one bit per query.
    ``begin`` adds fields to a party's first message (``model_ref``, a host's alignment
    commit ``idx``). ``reveal`` returns the guest's probabilities to the caller (the
    coordinator): only where the guest agrees (tests). ``scores_file`` has the guest write
    ``scores.csv`` (IDs, margin, probability) in its own work dir; ``out`` a JSON file.
    """
    ex = _Exchanger(transport)
    begin = begin or {}
    reqs = [Envelope(p, "sb.predict_begin", dict(begin.get(p, {}))) for p in [guest, *hosts]]
    rep = ex(reqs)
    n = int(rep[guest]["n_rows"])
    for h in hosts:
        if int(rep[h]["n_rows"]) != n:
            raise ProtocolError(
                f"party {h!r} holds {rep[h]['n_rows']} aligned rows to score, the guest {n}",
                hint="Re-run the alignment.",
            )
    walk = rep[guest]
    while not walk.get("done"):
        asked = [str(h) for h in walk["hosts"] if str(h) != "-"]
        ans = ex(
            [
                Envelope(
                    h, "sb.predict_answer", {"rows": walk[f"{h}.rows"], "sids": walk[f"{h}.sids"]}
                )
                for h in asked
            ]
        )
        step: Payload = {"hosts": asked or ["-"]}
        for h in asked:
            step[f"{h}.bits"] = ans[h]["bits"]
        walk = ex([Envelope(guest, "sb.predict_step", step)])[guest]
    res = ex(
        [
            Envelope(
                guest,
                "sb.predict_result",
                {"reveal": reveal, "out": out, "scores_file": scores_file},
            )
        ]
    )[guest]
    prob = np.asarray(res["probability"], dtype=np.float64) if reveal else None
    return PredictOutcome(
        n_rows=n, exchanges=ex.count, probability=prob, file=str(res.get("file", ""))
    )


def predict(
    transport: Transport, guest: str, hosts: Sequence[str], *, reveal: bool = True, out: str = ""
) -> np.ndarray | None:
    """:func:`joint_predict` returning the guest's probabilities (``reveal``) or ``None``
    (the guest keeps them, written to ``out`` in its work dir when given)."""
    return joint_predict(transport, guest, hosts, reveal=reveal, out=out).probability


__all__ = [
    "GuestCipher",
    "HostCipher",
    "Layout",
    "MODEL_FILE",
    "PredictOutcome",
    "SecureBoostParams",
    "best_split",
    "drive",
    "load_piece",
    "joint_predict",
    "parse_params",
    "predict",
    "segment_reduce",
]
