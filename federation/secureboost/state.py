"""Typed party state of SecureBoost: what each party keeps between messages, for itself.

The runtime pickles ``ctx.state`` at the party and never sends it anywhere, so nothing here
is revealed to anyone: the guest keeps its labels, gradients, trees and private key (its
primes, as integers) in :class:`GuestState`; a host keeps its bins, its split thresholds
under the split ids and the guest's ciphertexts (as bytes) in :class:`HostState`. State
holds numpy arrays, plain values and bytes only; the objects rebuilt from it (the ciphers
with their key objects, parsed ciphertexts) live in the process-local ``ctx.cache``, which
may be empty on any message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crypto.errors import ProtocolError
from federation.party import PartyContext
from federation.secureboost.cipher import GuestCipher, HostCipher
from federation.secureboost.histograms import Plan
from federation.secureboost.layout import Layout
from federation.secureboost.params import SecureBoostParams

TRAIN_KEY = "secureboost"  # ctx.state: GuestState or HostState, from sb.setup to sb.commit
PREDICT_KEY = "secureboost_predict"  # ctx.state: PredictState during a joint prediction
_CIPHER_CACHE = "secureboost.cipher"  # ctx.cache: (public key bytes, cipher)
_ROWS_CACHE = "secureboost.rows"  # ctx.cache: (tree token, parsed ciphertexts)


@dataclass
class PartyData:
    """What both roles keep from ``sb.setup``: parameters and their own binned features."""

    params: SecureBoostParams
    backend: str
    seed: int
    n: int
    bins: np.ndarray
    binner: dict[str, Any]
    feature_names: list[str]
    nbmax: int
    # the fitted table encoding (medians, categories): scoring encodes new rows with it
    encoder: dict[str, Any] | None


@dataclass
class GuestTree:
    """The guest's tree under construction."""

    tree: int
    a: np.ndarray  # fixed-point g + offset per row
    b: np.ndarray  # fixed-point h per row
    active: np.ndarray
    cols: np.ndarray
    pos: np.ndarray
    nodes: dict[int, dict[str, Any]] = field(default_factory=dict)
    open: list[int] = field(default_factory=lambda: [0])
    hist: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    host_cols: dict[str, list[int]] = field(default_factory=dict)
    leaves: dict[int, float] = field(default_factory=dict)


@dataclass
class Best:
    """The best validation loss so far, after how many trees, and the margin then."""

    loss: float = float("inf")
    n_trees: int = 0
    margin: np.ndarray | None = None


@dataclass
class GuestState(PartyData):
    y: np.ndarray
    valid: np.ndarray
    train: np.ndarray
    layout: Layout
    public: bytes
    primes: tuple[int, int] | None  # the private key (paillier), never sent
    margin: np.ndarray
    trees: list[dict[int, dict[str, Any]]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    best: Best = field(default_factory=Best)
    split_ids: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    cur: GuestTree | None = None

    def tree(self) -> GuestTree:
        if self.cur is None:
            raise ProtocolError("SecureBoost tree step before sb.tree_begin")
        return self.cur


@dataclass
class HostTree:
    """A host's view of the tree under construction: the guest's rows as ciphertexts."""

    tree: int
    pos: np.ndarray
    active: np.ndarray
    gh: bytes  # the guest's ciphertexts of the active rows
    token: str  # names this tree's ciphertexts (cache, worker processes)
    inv: np.ndarray  # aligned row -> position among the ciphertexts (-1: inactive)
    cols: np.ndarray
    rows_file: str | None  # the ciphertexts shared with the worker processes


@dataclass
class HostState(PartyData):
    splits: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (feature, bin)
    public: bytes = b""
    layout: Layout | None = None
    plan: Plan = None  # how the host shares additions across its columns
    cur: HostTree | None = None

    def tree(self) -> HostTree:
        if self.cur is None:
            raise ProtocolError("SecureBoost host step before the tree's first sb.hist")
        return self.cur

    def host_layout(self) -> Layout:
        if self.layout is None:
            raise ProtocolError("SecureBoost host step before sb.host_init")
        return self.layout


@dataclass
class PredictState:
    """A party's joint prediction: its bins of the scored rows and its model piece; at the
    guest also every (tree, row)'s current node and the queries waiting for answers."""

    bins: np.ndarray
    piece: dict[str, Any]
    trees: list[dict[int, dict[str, Any]]] = field(default_factory=list)
    pos: np.ndarray | None = None
    pending: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    margin: np.ndarray | None = None


def _train_state(ctx: PartyContext) -> Any:
    st = ctx.state.get(TRAIN_KEY)
    if st is None:
        raise ProtocolError(
            f"party {ctx.name!r}: SecureBoost message before sb.setup",
            hint="Restart the training run.",
        )
    return st


def guest_state(ctx: PartyContext) -> GuestState:
    st = _train_state(ctx)
    if not isinstance(st, GuestState):
        raise ProtocolError(f"party {ctx.name!r}: a guest's SecureBoost step sent to a host")
    return st


def host_state(ctx: PartyContext) -> HostState:
    st = _train_state(ctx)
    if not isinstance(st, HostState):
        raise ProtocolError(f"party {ctx.name!r}: a host's SecureBoost step sent to the guest")
    return st


def party_data(ctx: PartyContext) -> GuestState | HostState:
    st = _train_state(ctx)
    if not isinstance(st, GuestState | HostState):
        raise ProtocolError(f"party {ctx.name!r}: SecureBoost state of another kind")
    return st


def guest_cipher(ctx: PartyContext, st: GuestState) -> GuestCipher:
    """The guest's cipher, rebuilt from its state when this process has none cached."""
    got = ctx.cache.get(_CIPHER_CACHE)
    if got is not None and got[0] == st.public and isinstance(got[1], GuestCipher):
        return got[1]
    p = st.params
    key = (st.public, st.primes) if st.primes is not None else None
    cipher = GuestCipher(st.backend, p.key_bits, p.randomness_bits, key=key)
    ctx.cache[_CIPHER_CACHE] = (st.public, cipher)
    return cipher


def keep_guest_cipher(ctx: PartyContext, cipher: GuestCipher) -> None:
    ctx.cache[_CIPHER_CACHE] = (cipher.public, cipher)


def host_cipher(ctx: PartyContext, st: HostState) -> HostCipher:
    """A host's cipher (the guest's public key), rebuilt when this process has none."""
    got = ctx.cache.get(_CIPHER_CACHE)
    if got is not None and got[0] == st.public and isinstance(got[1], HostCipher):
        return got[1]
    cipher = HostCipher(st.backend, st.public, st.params.key_bits)
    ctx.cache[_CIPHER_CACHE] = (st.public, cipher)
    return cipher


def host_rows(ctx: PartyContext, st: HostState, hc: HostTree) -> np.ndarray:
    """This tree's ciphertexts as an object array, parsed once per tree and process."""
    got = ctx.cache.get(_ROWS_CACHE)
    if got is not None and got[0] == hc.token:
        cached: np.ndarray = got[1]
        return cached
    cts = host_cipher(ctx, st).load(hc.gh)
    ctx.cache[_ROWS_CACHE] = (hc.token, cts)
    return cts


def drop_cache(ctx: PartyContext) -> None:
    """Forget this run's cached objects (the run is over)."""
    ctx.cache.pop(_CIPHER_CACHE, None)
    ctx.cache.pop(_ROWS_CACHE, None)


__all__ = [
    "Best",
    "GuestState",
    "GuestTree",
    "HostState",
    "HostTree",
    "PREDICT_KEY",
    "PartyData",
    "PredictState",
    "TRAIN_KEY",
    "drop_cache",
    "guest_cipher",
    "guest_state",
    "host_cipher",
    "host_rows",
    "host_state",
    "keep_guest_cipher",
    "party_data",
]
