"""Federated WOE/IV binning (and PSI) for a guest with labels and hosts with features.

The party handlers; the coordinator's side is ``federation.scorecard.woe_driver``.

Message by message in docs/protocols/woe_scorecard.md. Every message travels through the
coordinator. What leaves each party, and to whom:

1. ``woe.bin`` (coordinator -> every party: public parameters). Each party bins its own
   columns locally: the guest with optimal monotonic binning on its labels, each host with
   label-free quantile (or frequent-value) bins, merged locally so that every bin holds at
   least ``min_bin_size`` aligned rows. The guest replies with a fresh Paillier public key
   and its labels *encrypted* under it (one ciphertext per aligned row); a host replies
   with its number of features and, per feature, an opaque id (``<host>:f<j>``) or, when
   the host publishes its names (``publish_feature_names``), the column name.
2. ``woe.sums`` (coordinator -> each host: the public key and the encrypted labels). The
   host returns, per feature and bin, the encrypted sum of labels (``segment_sum``, fresh
   randomness) and the bin's row count. Counts are aggregates over >= ``min_bin_size``
   rows; no bin edge, category or row membership leaves the host.
3. ``woe.merge`` (coordinator -> guest: every host's encrypted sums and counts). The guest
   decrypts per-bin event counts, computes WOE/IV, decides merges (monotonic, minimum size,
   both classes, at most ``max_bins``) and replies, per host, merge instructions (the
   group of every bin), the WOE of each merged bin (when ``share_woe``: the host needs it
   to WOE-transform its columns for a scorecard) and the IV per feature. The guest drops its
   private key.
4. ``woe.apply`` (coordinator -> each host: its merge instructions). The host merges its
   bins and keeps the final binning (edges, WOE) in its own state.

Who learns what: the coordinator sees ciphertexts, per-bin counts of host features, merge
instructions and IVs. The guest learns, per host feature, the row count and event count of
every bin (never the edges, nor which rows fall in a bin). With ``share_woe`` a host learns
the WOE of its own merged bins; with its own counts it can derive the event count of each
of its merged bins (>= ``min_bin_size`` rows each) -- the price of letting a host score its
own features; documented in the protocol page.

``woe.psi``: each party compares the distribution over its final bins of its aligned rows
(the training observation date) with that of its table at a second observation date and
sends only the PSI per feature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from crypto.errors import DataValidationError, ProtocolError
from crypto.paillier import (
    EncryptedArray,
    PaillierPrivateKey,
    PaillierPublicKey,
    generate_keypair,
)
from crypto.parallel import ObfuscatorPool, default_workers, parallel_obfuscators
from features import woe as W
from federation.party import PartyContext, register
from federation.partydata import party_k, party_setup, read_validated
from federation.roles import PartyRole
from federation.scorecard.messages import APPLY, BIN, MERGE, PSI, SUMS
from federation.scorecard.params import WoeParams
from federation.scorecard.woe_state import (
    STATE_KEY,
    GuestKey,
    HostBins,
    WoeState,
    binnings,
    party_columns,
    woe_state,
)
from federation.transport import Payload


def _public_id(ctx: PartyContext, j: int, name: str, publish: bool) -> str:
    return name if publish else f"{ctx.name}:f{j}"


def _guest_bins(
    st: WoeState, cols: dict[str, tuple[W.Kind, np.ndarray]], y: np.ndarray, k: int
) -> None:
    """The guest's optimal monotonic bins of its own columns, merged (>= k of each class
    per bin), with WOE/IV."""
    params = st.params
    bins, tables = [], []
    for name in st.features:
        kind, vals = cols[name]
        b = W.optimal_binning(
            vals,
            kind,
            y,
            max_bins=params.max_bins,
            min_bin_size=params.min_bin_size,
            n_prebins=params.n_fine_bins,
            name=name,
        )
        t = W.woe_from_ids(b.transform(vals), y, b.n_bins)
        plan = W.merge_plan(
            t.events,
            t.counts,
            kind=kind,
            missing_bin=b.missing_bin if b.n_bins == b.n_fine else None,
            min_bin_size=params.min_bin_size,
            max_bins=params.max_bins,
            monotonic=params.monotonic,
            min_class=k,
        )
        b = b.merged(plan.tolist())
        t = W.woe_from_ids(b.transform(vals), y, b.n_bins)
        bins.append(b.to_dict())
        tables.append(t.to_dict())
    st.binnings = bins
    st.woe = [t["woe"] for t in tables]
    st.tables = tables
    st.iv = [t["iv"] for t in tables]


def _guest_labels(st: WoeState, y: np.ndarray) -> Payload:
    """The guest's reply: its labels encrypted under a fresh key (plaintext: in the clear)."""
    out: Payload = {"n_rows": st.n, "n_features": len(st.features)}
    if st.params.label_backend == "plaintext":
        out["labels"] = y  # benchmarks/tests only: the labels in the clear
        return out
    pk, sk = generate_keypair(st.params.key_bits)
    p, q = sk.export_primes()
    st.key = GuestKey(public=pk.to_bytes(), p=int(p), q=int(q))
    out.update(public_key=pk.to_bytes(), enc_labels=_encrypt_labels(pk, y).to_bytes())
    return out


def _at_k(ctx: PartyContext, params: WoeParams) -> WoeParams:
    """The binning parameters with ``min_bin_size`` raised to this party's k: no bin count
    a party reveals (or that a WOE gives away) describes fewer than k enterprises."""
    k = party_k(ctx)
    if params.min_bin_size >= k:
        return params
    return params.model_copy(update={"min_bin_size": k})


@register(BIN)
def _bin(ctx: PartyContext, payload: Payload) -> Payload:
    params = _at_k(ctx, WoeParams.model_validate_json(str(payload["params"])))
    cols, y = party_columns(ctx)
    names = list(cols)
    st = WoeState(
        params=params, features=names, kinds=[cols[c][0] for c in names], n=len(cols[names[0]][1])
    )
    ctx.state[STATE_KEY] = st
    if ctx.role == PartyRole.GUEST:
        if y is None:
            raise DataValidationError(f"guest {ctx.name!r} has no label column")
        _guest_bins(st, cols, y, party_k(ctx))
        return _guest_labels(st, y)
    publish = bool(payload.get("publish", False))
    st.binnings = [
        W.fine_binning(
            cols[c][1], cols[c][0], n_bins=params.n_fine_bins, min_bin_size=params.min_bin_size
        ).to_dict()
        for c in names
    ]
    return {
        "n_rows": st.n,
        "n_features": len(names),
        "names": [_public_id(ctx, j, c, publish) for j, c in enumerate(names)],
        "kinds": [cols[c][0] for c in names],
        "missing": np.array(
            [_own_missing_bin(W.Binning.from_dict(b)) for b in st.binnings], dtype=np.int64
        ),
    }


def _own_missing_bin(b: W.Binning) -> int:
    """Final bin holding only the missing values, or -1 (none, or merged locally)."""
    if b.missing_bin is None:
        return -1
    final = b.mapping[b.missing_bin]
    alone = sum(1 for m in b.mapping if m == final) == 1
    return int(final) if alone else -1


def _encrypt_labels(pk: PaillierPublicKey, y: np.ndarray) -> Any:
    """``[[y_i]]`` for every row; the DJN randomness is computed on ``FEDLAB_CRYPTO_WORKERS``
    processes when that is set above 1."""
    workers = default_workers()
    pool = None
    if workers > 1 and y.size >= 4096:
        pool = ObfuscatorPool(pk, size=int(y.size), fill=False)
        pool.add(parallel_obfuscators(pk, int(y.size), workers).tolist())
    return pk.encrypt_ints(y.astype(np.int64), pool=pool)


@register(SUMS)
def _sums(ctx: PartyContext, payload: Payload) -> Payload:
    st = woe_state(ctx)
    if ctx.role != PartyRole.HOST:
        raise ProtocolError(f"party {ctx.name!r}: {SUMS!r} goes to hosts only")
    cols, _ = party_columns(ctx)
    bins = binnings(ctx)
    ids = [b.transform(cols[name][1]) for b, name in zip(bins, st.features, strict=False)]
    n_bins = np.array([b.n_bins for b in bins], dtype=np.int64)
    counts = np.concatenate(
        [np.bincount(i, minlength=b.n_bins) for i, b in zip(ids, bins, strict=False)]
    )
    out: Payload = {"counts": counts.astype(np.int64), "n_bins": n_bins}
    if "labels" in payload:  # plaintext backend (benchmarks/tests)
        y = np.asarray(payload["labels"], dtype=np.float64)
        out["sums"] = np.concatenate(
            [np.bincount(i, weights=y, minlength=b.n_bins) for i, b in zip(ids, bins, strict=False)]
        )
        return out
    pk = PaillierPublicKey.from_bytes(bytes(payload["public_key"]))
    enc = EncryptedArray.from_bytes(pk, bytes(payload["enc_labels"]))
    if len(enc) != st.n:
        raise ProtocolError(
            f"host {ctx.name!r}: {len(enc)} encrypted labels for its {st.n} aligned rows"
        )
    parts = [
        enc.segment_sum(i, b.n_bins, rerandomize=True) for i, b in zip(ids, bins, strict=False)
    ]
    out["sums"] = EncryptedArray.concatenate(parts).to_bytes()
    return out


def _split(arr: np.ndarray, n_bins: np.ndarray) -> list[np.ndarray]:
    return np.split(np.asarray(arr), np.cumsum(n_bins)[:-1])


def _host_events(sk: PaillierPrivateKey | None, raw: Any) -> np.ndarray:
    """Per-bin event counts of a host's features: decrypted (or plaintext sums)."""
    if sk is None:
        return np.rint(np.asarray(raw, dtype=np.float64))
    enc = EncryptedArray.from_bytes(sk.public_key, bytes(raw))
    return np.asarray(sk.decrypt_signed_ints(enc), dtype=np.float64)


def _merge_host(
    params: WoeParams, sk: PaillierPrivateKey | None, payload: Payload, h: str, k: int
) -> tuple[HostBins, list[np.ndarray], list[np.ndarray], list[float]]:
    """The guest's merge of one host's bins: merge groups (>= k of each class: the host's
    WOE gives its event counts away), WOE and IV per feature."""
    n_bins = np.asarray(payload[f"n_bins.{h}"], dtype=np.int64)
    counts = np.asarray(payload[f"counts.{h}"], dtype=np.int64)
    events = _host_events(sk, payload[f"sums.{h}"])
    if events.shape != counts.shape or counts.size != int(n_bins.sum()):
        raise ProtocolError(f"host {h!r}: sums and counts do not match its bin numbers")
    kinds = [str(k) for k in payload[f"kinds.{h}"]]
    missing = np.asarray(payload[f"missing.{h}"], dtype=np.int64)
    groups, woes, ivs, tables = [], [], [], []
    for j, (ev, cn) in enumerate(zip(_split(events, n_bins), _split(counts, n_bins), strict=False)):
        plan = W.merge_plan(
            ev,
            cn,
            kind=kinds[j],  # type: ignore[arg-type]
            missing_bin=int(missing[j]) if missing[j] >= 0 else None,
            min_bin_size=params.min_bin_size,
            max_bins=params.max_bins,
            monotonic=params.monotonic,
            min_class=k,
        )
        m_ev = np.bincount(plan, weights=ev, minlength=int(plan.max()) + 1)
        m_cn = np.bincount(plan, weights=cn, minlength=int(plan.max()) + 1)
        t = W.woe_iv(m_ev, m_cn)
        groups.append(plan)
        woes.append(t.woe)
        ivs.append(t.iv)
        tables.append(t.to_dict())
    names = [str(x) for x in payload[f"names.{h}"]]
    return HostBins(names, tables, [g.tolist() for g in groups]), groups, woes, ivs


@register(MERGE)
def _merge(ctx: PartyContext, payload: Payload) -> Payload:
    st = woe_state(ctx)
    if ctx.role != PartyRole.GUEST:
        raise ProtocolError(f"party {ctx.name!r}: {MERGE!r} goes to the guest only")
    sk = None
    if st.key is not None:
        pk = PaillierPublicKey.from_bytes(st.key.public)
        sk = PaillierPrivateKey(pk, st.key.p, st.key.q)
    out: Payload = {}
    for h in [str(h) for h in payload["hosts"]]:
        st.hosts[h], groups, woes, ivs = _merge_host(st.params, sk, payload, h, party_k(ctx))
        out[f"groups.{h}"] = np.concatenate(groups).astype(np.int64)
        out[f"iv.{h}"] = np.asarray(ivs, dtype=np.float64)
        if st.params.share_woe:
            out[f"woe.{h}"] = np.concatenate(woes)
    st.key = None  # the private key is not needed any more
    out["iv"] = np.asarray(st.iv, dtype=np.float64)
    out["n_bins"] = np.asarray([W.Binning.from_dict(b).n_bins for b in st.binnings], dtype=np.int64)
    return out


@register(APPLY)
def _apply(ctx: PartyContext, payload: Payload) -> Payload:
    st = woe_state(ctx)
    bins = binnings(ctx)
    n_bins = np.array([b.n_bins for b in bins], dtype=np.int64)
    groups = _split(np.asarray(payload["groups"], dtype=np.int64), n_bins)
    if sum(g.size for g in groups) != int(n_bins.sum()):
        raise ProtocolError(
            f"host {ctx.name!r}: merge instructions for "
            f"{sum(g.size for g in groups)} bins, it has {int(n_bins.sum())}"
        )
    merged = [b.merged(g.tolist()) for b, g in zip(bins, groups, strict=False)]
    st.binnings = [b.to_dict() for b in merged]
    new_bins = np.array([b.n_bins for b in merged], dtype=np.int64)
    if "woe" in payload:
        woe = _split(np.asarray(payload["woe"], dtype=np.float64), new_bins)
        st.woe = [w.tolist() for w in woe]
    if "iv" in payload:
        st.iv = [float(v) for v in np.asarray(payload["iv"], dtype=np.float64)]
    return {"n_bins": new_bins}


@register(PSI)
def _psi(ctx: PartyContext, payload: Payload) -> Payload:
    """PSI per feature: aligned rows (expected) vs this party's table at another date."""
    st = woe_state(ctx)
    setup = party_setup(ctx)
    path = Path(str(payload["actual"]))
    if not path.is_absolute() and ctx.data_path is not None:
        path = Path(ctx.data_path).parent / path
    actual = read_validated(path, id_column=setup.id_column, label=None, id_kind=setup.id_kind)
    cols, _ = party_columns(ctx)
    values = []
    for b, name in zip(binnings(ctx), st.features, strict=False):
        if name not in actual.columns:
            raise DataValidationError(
                f"party {ctx.name!r}: {path.name} lacks feature column {name!r} needed for the PSI"
            )
        kind = cols[name][0]
        exp = W.bin_counts(b, cols[name][1])
        act = W.bin_counts(b, W.column_values(actual[name], kind))
        values.append(W.psi(exp, act))
    return {"psi": np.asarray(values, dtype=np.float64), "n_actual": int(len(actual))}


__all__: list[str] = []
