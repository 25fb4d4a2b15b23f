"""Federated WOE/IV binning (and PSI) for a guest with labels and hosts with features.

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

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crypto.errors import ConfigError, DataValidationError, ProtocolError
from features import woe as W
from federation.config import ExperimentConfig
from federation.party import PartyContext, register
from federation.protocol import ProgressFn, no_progress
from federation.roles import PartyRole
from federation.transport import Envelope, Payload, Transport

BIN, SUMS, MERGE, APPLY, PSI = "woe.bin", "woe.sums", "woe.merge", "woe.apply", "woe.psi"
STATE_KEY = "woe"


class WoeParams(BaseModel):
    """Binning parameters (part of ``[params]`` of a scorecard experiment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_fine_bins: int = Field(20, ge=2, le=200, description="host quantile bins before merging")
    max_bins: int = Field(8, ge=1, le=50, description="final bins per feature (+ missing)")
    min_bin_size: int = Field(50, ge=1, description="fewest aligned rows in any revealed bin")
    monotonic: bool = True
    key_bits: int = Field(2048, ge=1024)
    publish_feature_names: list[str] = Field(
        default_factory=list,
        description="hosts whose column names the guest and the report may show",
    )
    share_woe: bool = True
    label_backend: Literal["paillier", "plaintext"] = "paillier"


def parse_woe_params(raw: dict[str, Any]) -> WoeParams:
    try:
        return WoeParams.model_validate(raw)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid WOE binning [params]: {errs}") from None


# ---------------------------------------------------------------------------------------
# party side: data


def _table(ctx: PartyContext) -> pd.DataFrame:
    """This party's aligned table (``federation.partydata``); tests may stand in for it."""
    from federation.partydata import aligned_table

    return aligned_table(ctx)


def _setup_names(ctx: PartyContext) -> tuple[str, str]:
    from federation.partydata import party_setup

    s = party_setup(ctx)
    return s.id_column, (s.label if ctx.role == PartyRole.GUEST else "")


def party_columns(
    ctx: PartyContext,
) -> tuple[dict[str, tuple[W.Kind, np.ndarray]], np.ndarray | None]:
    """This party's feature columns (aligned order) and, at the guest, the 0/1 label."""
    df = _table(ctx)
    id_col, label = _setup_names(ctx)
    cols = W.feature_columns(df, [id_col, *([label] if label else [])])
    if not cols:
        raise DataValidationError(
            f"party {ctx.name!r}: no feature column to bin",
            hint="Name at least one feature column for this party.",
        )
    y = None
    if label:
        if label not in df.columns:
            raise DataValidationError(f"guest {ctx.name!r}: label column {label!r} not found")
        y = pd.to_numeric(df[label], errors="coerce").to_numpy(dtype=np.float64)
        if not np.all(np.isin(y, (0.0, 1.0))):
            raise DataValidationError(
                f"guest {ctx.name!r}: label {label!r} must be 0/1 on every aligned row"
            )
        if len(np.unique(y)) < 2:
            raise DataValidationError(
                f"guest {ctx.name!r}: the aligned rows hold one class only",
                hint="Check the label column and the intersection.",
            )
    return cols, y


def _st(ctx: PartyContext) -> dict[str, Any]:
    st = ctx.state.get(STATE_KEY)
    if st is None:
        raise ProtocolError(
            f"party {ctx.name!r}: WOE message before {BIN!r}", hint="Restart the run."
        )
    return st  # type: ignore[no-any-return]


def binnings(ctx: PartyContext) -> list[W.Binning]:
    """This party's final binnings (after the federated merge), in feature order."""
    return [W.Binning.from_dict(d) for d in _st(ctx)["binnings"]]


def woe_values(ctx: PartyContext) -> list[np.ndarray]:
    """WOE of every final bin of every feature (guest: its own; host: as shared)."""
    st = _st(ctx)
    if "woe" not in st:
        raise ProtocolError(f"party {ctx.name!r} holds no WOE values (share_woe is off)")
    return [np.asarray(w, dtype=np.float64) for w in st["woe"]]


def woe_matrix_of(
    ctx: PartyContext, features: Sequence[int] | None = None
) -> tuple[np.ndarray, list[str]]:
    """This party's aligned rows WOE-transformed (columns ``features``, default all)."""
    st = _st(ctx)
    cols, _ = party_columns(ctx)
    names = list(st["features"])
    bins, woes = binnings(ctx), woe_values(ctx)
    idx = list(range(len(names))) if features is None else list(features)
    X = np.empty((len(next(iter(cols.values()))[1]), len(idx)), dtype=np.float64)
    for k, j in enumerate(idx):
        X[:, k] = woes[j][bins[j].transform(cols[names[j]][1])]
    return X, [names[j] for j in idx]


# ---------------------------------------------------------------------------------------
# party side: handlers


def _public_id(ctx: PartyContext, j: int, name: str, publish: bool) -> str:
    return name if publish else f"{ctx.name}:f{j}"


@register(BIN)
def _bin(ctx: PartyContext, payload: Payload) -> Payload:
    params = WoeParams.model_validate_json(str(payload["params"]))
    cols, y = party_columns(ctx)
    names = list(cols)
    st: dict[str, Any] = {
        "params": params.model_dump_json(),
        "features": names,
        "kinds": [cols[c][0] for c in names],
        "n": len(cols[names[0]][1]),
    }
    ctx.state[STATE_KEY] = st
    if ctx.role == PartyRole.GUEST:
        assert y is not None
        bins, tables = [], []
        for name in names:
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
            )
            b = b.merged(plan)
            t = W.woe_from_ids(b.transform(vals), y, b.n_bins)
            bins.append(b.to_dict())
            tables.append(t.to_dict())
        st.update(
            binnings=bins,
            woe=[t["woe"] for t in tables],
            tables=tables,
            iv=[t["iv"] for t in tables],
        )
        out: Payload = {"n_rows": st["n"], "n_features": len(names)}
        if params.label_backend == "plaintext":
            out["labels"] = y  # benchmarks/tests only: the labels in the clear
            return out
        from crypto.paillier import generate_keypair

        pk, sk = generate_keypair(params.key_bits)
        p, q = sk.export_primes()
        st["key"] = {"public": pk.to_bytes(), "p": int(p), "q": int(q)}
        out.update(public_key=pk.to_bytes(), enc_labels=_encrypt_labels(pk, y).to_bytes())
        return out
    publish = bool(payload.get("publish", False))
    bins = [
        W.fine_binning(
            cols[c][1], cols[c][0], n_bins=params.n_fine_bins, min_bin_size=params.min_bin_size
        ).to_dict()
        for c in names
    ]
    st["binnings"] = bins
    return {
        "n_rows": st["n"],
        "n_features": len(names),
        "names": [_public_id(ctx, j, c, publish) for j, c in enumerate(names)],
        "kinds": [cols[c][0] for c in names],
        "missing": np.array(
            [_own_missing_bin(W.Binning.from_dict(b)) for b in bins], dtype=np.int64
        ),
    }


def _own_missing_bin(b: W.Binning) -> int:
    """Final bin holding only the missing values, or -1 (none, or merged locally)."""
    if b.missing_bin is None:
        return -1
    final = b.mapping[b.missing_bin]
    alone = sum(1 for m in b.mapping if m == final) == 1
    return int(final) if alone else -1


def _encrypt_labels(pk: Any, y: np.ndarray) -> Any:
    """``[[y_i]]`` for every row; the DJN randomness is computed on ``FEDLAB_CRYPTO_WORKERS``
    processes when that is set above 1."""
    from crypto.paillier import ObfuscatorPool
    from crypto.parallel import default_workers, parallel_obfuscators

    workers = default_workers()
    pool = None
    if workers > 1 and y.size >= 4096:
        pool = ObfuscatorPool(pk, size=int(y.size), fill=False)
        pool.add(parallel_obfuscators(pk, int(y.size), workers).tolist())
    return pk.encrypt_ints(y.astype(np.int64), pool=pool)


@register(SUMS)
def _sums(ctx: PartyContext, payload: Payload) -> Payload:
    st = _st(ctx)
    if ctx.role != PartyRole.HOST:
        raise ProtocolError(f"party {ctx.name!r}: {SUMS!r} goes to hosts only")
    cols, _ = party_columns(ctx)
    bins = binnings(ctx)
    ids = [b.transform(cols[name][1]) for b, name in zip(bins, st["features"], strict=False)]
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
    from crypto.paillier import EncryptedArray, PaillierPublicKey

    pk = PaillierPublicKey.from_bytes(bytes(payload["public_key"]))
    enc = EncryptedArray.from_bytes(pk, bytes(payload["enc_labels"]))
    if len(enc) != st["n"]:
        raise ProtocolError(
            f"host {ctx.name!r}: {len(enc)} encrypted labels for its {st['n']} aligned rows"
        )
    parts = [
        enc.segment_sum(i, b.n_bins, rerandomize=True) for i, b in zip(ids, bins, strict=False)
    ]
    out["sums"] = EncryptedArray.concatenate(parts).to_bytes()
    return out


def _split(arr: np.ndarray, n_bins: np.ndarray) -> list[np.ndarray]:
    return np.split(np.asarray(arr), np.cumsum(n_bins)[:-1])


@register(MERGE)
def _merge(ctx: PartyContext, payload: Payload) -> Payload:
    st = _st(ctx)
    if ctx.role != PartyRole.GUEST:
        raise ProtocolError(f"party {ctx.name!r}: {MERGE!r} goes to the guest only")
    params = WoeParams.model_validate_json(st["params"])
    hosts = [str(h) for h in payload["hosts"]]  # type: ignore[union-attr]
    sk = None
    if "key" in st:
        from crypto.paillier import EncryptedArray, PaillierPrivateKey, PaillierPublicKey

        pk = PaillierPublicKey.from_bytes(st["key"]["public"])
        sk = PaillierPrivateKey(pk, st["key"]["p"], st["key"]["q"])
    out: Payload = {}
    host_tables: dict[str, Any] = {}
    for h in hosts:
        n_bins = np.asarray(payload[f"n_bins.{h}"], dtype=np.int64)
        counts = np.asarray(payload[f"counts.{h}"], dtype=np.int64)
        raw = payload[f"sums.{h}"]
        if sk is not None:
            enc = EncryptedArray.from_bytes(sk.public_key, bytes(raw))
            events = np.asarray(sk.decrypt_signed_ints(enc), dtype=np.float64)
        else:
            events = np.rint(np.asarray(raw, dtype=np.float64))
        if events.shape != counts.shape or counts.size != int(n_bins.sum()):
            raise ProtocolError(f"host {h!r}: sums and counts do not match its bin numbers")
        kinds = [str(k) for k in payload[f"kinds.{h}"]]  # type: ignore[union-attr]
        missing = np.asarray(payload[f"missing.{h}"], dtype=np.int64)
        groups, woes, ivs, tables = [], [], [], []
        for j, (ev, cn) in enumerate(
            zip(_split(events, n_bins), _split(counts, n_bins), strict=False)
        ):
            plan = W.merge_plan(
                ev,
                cn,
                kind=kinds[j],  # type: ignore[arg-type]
                missing_bin=int(missing[j]) if missing[j] >= 0 else None,
                min_bin_size=params.min_bin_size,
                max_bins=params.max_bins,
                monotonic=params.monotonic,
            )
            m_ev = np.bincount(plan, weights=ev, minlength=int(plan.max()) + 1)
            m_cn = np.bincount(plan, weights=cn, minlength=int(plan.max()) + 1)
            t = W.woe_iv(m_ev, m_cn)
            groups.append(plan)
            woes.append(t.woe)
            ivs.append(t.iv)
            tables.append(t.to_dict())
        host_tables[h] = {
            "names": [str(x) for x in payload[f"names.{h}"]],  # type: ignore[union-attr]
            "tables": tables,
            "groups": [g.tolist() for g in groups],
        }
        out[f"groups.{h}"] = np.concatenate(groups).astype(np.int64)
        out[f"iv.{h}"] = np.asarray(ivs, dtype=np.float64)
        if params.share_woe:
            out[f"woe.{h}"] = np.concatenate(woes)
    st["hosts"] = host_tables
    st.pop("key", None)  # the private key is not needed any more
    out["iv"] = np.asarray(st["iv"], dtype=np.float64)
    out["n_bins"] = np.asarray(
        [W.Binning.from_dict(b).n_bins for b in st["binnings"]], dtype=np.int64
    )
    return out


@register(APPLY)
def _apply(ctx: PartyContext, payload: Payload) -> Payload:
    st = _st(ctx)
    bins = binnings(ctx)
    n_bins = np.array([b.n_bins for b in bins], dtype=np.int64)
    groups = _split(np.asarray(payload["groups"], dtype=np.int64), n_bins)
    if sum(g.size for g in groups) != int(n_bins.sum()):
        raise ProtocolError(
            f"host {ctx.name!r}: merge instructions for "
            f"{sum(g.size for g in groups)} bins, it has {int(n_bins.sum())}"
        )
    merged = [b.merged(g) for b, g in zip(bins, groups, strict=False)]
    st["binnings"] = [b.to_dict() for b in merged]
    new_bins = np.array([b.n_bins for b in merged], dtype=np.int64)
    if "woe" in payload:
        woe = _split(np.asarray(payload["woe"], dtype=np.float64), new_bins)
        st["woe"] = [w.tolist() for w in woe]
    if "iv" in payload:
        st["iv"] = [float(v) for v in np.asarray(payload["iv"], dtype=np.float64)]
    return {"n_bins": new_bins}


@register(PSI)
def _psi(ctx: PartyContext, payload: Payload) -> Payload:
    """PSI per feature: aligned rows (expected) vs this party's table at another date."""
    st = _st(ctx)
    from federation.partydata import party_setup, read_validated

    setup = party_setup(ctx)
    path = Path(str(payload["actual"]))
    if not path.is_absolute() and ctx.data_path is not None:
        path = Path(ctx.data_path).parent / path
    actual = read_validated(path, id_column=setup.id_column, label=None, id_kind=setup.id_kind)
    cols, _ = party_columns(ctx)
    values = []
    for b, name in zip(binnings(ctx), st["features"], strict=False):
        if name not in actual.columns:
            raise DataValidationError(
                f"party {ctx.name!r}: {path.name} lacks feature column {name!r} needed for the PSI"
            )
        kind = cols[name][0]
        exp = W.bin_counts(b, cols[name][1])
        act = W.bin_counts(b, W.column_values(actual[name], kind))
        values.append(W.psi(exp, act))
    return {"psi": np.asarray(values, dtype=np.float64), "n_actual": int(len(actual))}


# ---------------------------------------------------------------------------------------
# coordinator side


@dataclass
class WoeOutcome:
    """Public result of a federated binning: IV per feature and bin counts, by party."""

    report: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    exchanges: int = 0
    n_rows: int = 0


def _ex(transport: Transport, reqs: list[Envelope]) -> dict[str, Envelope]:
    replies = transport.exchange(reqs)
    for r in reqs:
        if r.party not in replies:
            raise ProtocolError(f"party {r.party!r} sent no reply to {r.action!r}")
    return replies


def federated_woe(
    transport: Transport,
    config: ExperimentConfig,
    params: WoeParams,
    *,
    progress: ProgressFn = no_progress,
) -> WoeOutcome:
    """Bin every party's features and compute WOE/IV of host features on the guest's labels
    (parties must be aligned already). Returns the public IV report."""
    guest = config.guest.name
    hosts = [h.name for h in config.hosts]
    out = WoeOutcome()
    t = time.perf_counter()
    pj = params.model_dump_json()
    r1 = _ex(
        transport,
        [Envelope(guest, BIN, {"params": pj})]
        + [
            Envelope(h, BIN, {"params": pj, "publish": h in params.publish_feature_names})
            for h in hosts
        ],
    )
    rows = {p: int(r.payload["n_rows"]) for p, r in r1.items()}
    if len(set(rows.values())) != 1:
        raise ProtocolError(
            f"parties disagree on the number of aligned rows: {rows}",
            hint="Re-run the alignment; every party must hold the same rows.",
        )
    out.n_rows = rows[guest]
    g1 = r1[guest].payload
    out.seconds["bin"] = time.perf_counter() - t
    progress("woe", {"step": "bin", "n_rows": out.n_rows})

    t = time.perf_counter()
    if "labels" in g1:
        lab: Payload = {"labels": np.asarray(g1["labels"])}
    else:
        lab = {"public_key": bytes(g1["public_key"]), "enc_labels": bytes(g1["enc_labels"])}
    r2 = _ex(transport, [Envelope(h, SUMS, lab) for h in hosts])
    out.seconds["sums"] = time.perf_counter() - t
    progress("woe", {"step": "sums"})

    t = time.perf_counter()
    mp: Payload = {"hosts": hosts}
    for h in hosts:
        p = r2[h].payload
        mp.update(
            {
                f"sums.{h}": p["sums"] if isinstance(p["sums"], np.ndarray) else bytes(p["sums"]),
                f"counts.{h}": np.asarray(p["counts"], dtype=np.int64),
                f"n_bins.{h}": np.asarray(p["n_bins"], dtype=np.int64),
                f"names.{h}": [str(x) for x in r1[h].payload["names"]],  # type: ignore[union-attr]
                f"kinds.{h}": [str(x) for x in r1[h].payload["kinds"]],  # type: ignore[union-attr]
                f"missing.{h}": np.asarray(r1[h].payload["missing"], dtype=np.int64),
            }
        )
    r3 = _ex(transport, [Envelope(guest, MERGE, mp)])[guest].payload
    out.seconds["merge"] = time.perf_counter() - t

    t = time.perf_counter()
    reqs = []
    for h in hosts:
        pl: Payload = {
            "groups": np.asarray(r3[f"groups.{h}"], dtype=np.int64),
            "iv": np.asarray(r3[f"iv.{h}"], dtype=np.float64),
        }
        if f"woe.{h}" in r3:
            pl["woe"] = np.asarray(r3[f"woe.{h}"], dtype=np.float64)
        reqs.append(Envelope(h, APPLY, pl))
    r4 = _ex(transport, reqs)
    out.seconds["apply"] = time.perf_counter() - t
    out.exchanges = 4

    n_feat = int(g1["n_features"])
    g_iv = np.asarray(r3["iv"], dtype=np.float64)
    g_bins = np.asarray(r3["n_bins"], dtype=np.int64)
    out.report[guest] = [
        {"id": f"{guest}:f{j}", "iv": float(g_iv[j]), "n_bins": int(g_bins[j])}
        for j in range(n_feat)
    ]
    for h in hosts:
        names = [str(x) for x in r1[h].payload["names"]]  # type: ignore[union-attr]
        iv = np.asarray(r3[f"iv.{h}"], dtype=np.float64)
        nb = np.asarray(r4[h].payload["n_bins"], dtype=np.int64)
        out.report[h] = [
            {"id": names[j], "iv": float(iv[j]), "n_bins": int(nb[j])} for j in range(len(names))
        ]
    progress("woe", {"step": "done", "seconds": round(sum(out.seconds.values()), 3)})
    return out


def federated_psi(transport: Transport, actual: dict[str, str]) -> dict[str, list[float]]:
    """PSI per feature at every named party (party -> its table at the second date)."""
    replies = _ex(transport, [Envelope(p, PSI, {"actual": path}) for p, path in actual.items()])
    return {p: [float(v) for v in np.asarray(r.payload["psi"])] for p, r in replies.items()}


__all__ = [
    "APPLY",
    "BIN",
    "MERGE",
    "PSI",
    "STATE_KEY",
    "SUMS",
    "WoeOutcome",
    "WoeParams",
    "binnings",
    "federated_psi",
    "federated_woe",
    "parse_woe_params",
    "party_columns",
    "woe_matrix_of",
    "woe_values",
]


# the scorecard's party handlers (sc.*) ride along: parties import this module
from federation import scorecard as _scorecard  # noqa: E402,F401
