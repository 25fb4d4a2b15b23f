"""SecureBoost vs centralized XGBoost on the default-credit split (ratios in one process).

Workload (issue #5): 30,000 aligned rows, 23 features over 2 parties (guest 13 + host 10),
50 trees, depth 5, 32 bins, learning rate 0.3, lambda 1. The federated run goes through
LocalTransport (every message encoded to Flower records and back) after alignment, with
the Paillier backend; the centralized baseline is XGBoost ``tree_method="hist"`` on the
pooled bin indices (the same split candidates), ``nthread=1``.

Prints: federated seconds (wall, and CPU seconds of this process plus its worker
processes), XGBoost seconds with nthread=1 and nthread=2, their ratios, bytes per tree,
exchanges, the phase breakdown, the AUC of both (they must agree: the protocol is lossless)
and the load average (the machine may be shared: wall-clock ratios then mostly measure the
load; the CPU-seconds ratio does not). With ``--trees`` below 50 the figures are also
extrapolated linearly to 50 trees (said so in the output); XGBoost always also runs 50.

    python benchmarks/secureboost_bench.py [--rows 30000] [--trees 50] [--key-bits 2048]
                                           [--plaintext] [--data DIR]

``--bound`` measures instead a lower bound of the federated run on this machine: it counts,
per tree, the hosts' ciphertext multiplications (with the shared additions and, for
comparison, per column), the packing squarings, the guest's encryptions and decryptions
(from a plaintext-backend run of ``--bound-trees`` trees: the same integers, so the same
counts), times one of each operation at ``--key-bits`` in this process, and divides the
total by the cores. It ignores everything else (Python bookkeeping, messages, waiting).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd


def _data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("FEDLAB_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def _load(avg: tuple[float, float, float]) -> str:
    return "(" + ", ".join(f"{x:.2f}" for x in avg) + ")"


def _cpu_seconds(since: dict[int, float] | None = None) -> Any:
    """CPU seconds (user + system) of this process and its worker processes; with
    ``since`` (an earlier call's snapshot) the seconds used after it."""
    import psutil

    me = psutil.Process()
    snap: dict[int, float] = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        snap[proc.pid] = t.user + t.system
    if since is None:
        return snap
    return sum(v - since.get(pid, 0.0) for pid, v in snap.items())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=30_000)
    ap.add_argument("--trees", type=int, default=50)
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--bins", type=int, default=32)
    ap.add_argument("--key-bits", type=int, default=2048)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--plaintext",
        action="store_true",
        help="also run the plaintext backend through the same code path",
    )
    ap.add_argument("--data", default=None, help="folder with default_credit_hetero_*.csv")
    ap.add_argument(
        "--bound",
        action="store_true",
        help="only print the operation counts and the lower bound on this machine",
    )
    ap.add_argument("--bound-trees", type=int, default=5)
    args = ap.parse_args(argv)

    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    from features.binning import QuantileBinner
    from features.encoding import party_matrix
    from federation import secureboost as sb
    from federation.config import parse_config
    from federation.local_transport import LocalTransport
    from federation.party import PartyContext
    from federation.roles import PartyRole

    data = _data_dir(args.data)
    g = pd.read_csv(data / "default_credit_hetero_guest.csv", dtype={"id": str}).iloc[: args.rows]
    h = pd.read_csv(data / "default_credit_hetero_host.csv", dtype={"id": str}).iloc[: args.rows]
    mats = {
        "bank": party_matrix(g, id_column="id", label="y"),
        "agency": party_matrix(h, id_column="id", label=None),
    }
    y = np.asarray(mats["bank"].y, dtype=np.float64)
    params = {
        "n_trees": args.trees,
        "max_depth": args.depth,
        "learning_rate": 0.3,
        "reg_lambda": 1.0,
        "gamma": 0.0,
        "min_child_weight": 1.0,
        "max_bins": args.bins,
        "key_bits": args.key_bits,
        "validation_fraction": 0.0,
        "workers": args.workers,
    }

    # the protocol starts after alignment: stand-ins give each party its aligned matrix
    sb.driver._align = lambda t, c, p: SimpleNamespace(n_aligned=args.rows)  # type: ignore[assignment]
    sb.data.matrix = lambda ctx: mats[ctx.name]

    def federated(
        backend: str, trees: int = args.trees
    ) -> tuple[float, dict[str, Any], np.ndarray]:
        with tempfile.TemporaryDirectory() as tmp:
            ctxs = [
                PartyContext("bank", PartyRole.GUEST, Path(tmp) / "g.csv", Path(tmp) / "bank"),
                PartyContext("agency", PartyRole.HOST, Path(tmp) / "h.csv", Path(tmp) / "agency"),
            ]
            transport = LocalTransport(ctxs)
            cfg = parse_config(
                {
                    "experiment": {
                        "name": "bench",
                        "algorithm": "secureboost",
                        "backend": backend,
                        "id_column": "id",
                        "runtime": "local",
                    },
                    "params": dict(params, n_trees=trees),
                    "parties": [
                        {"name": "bank", "role": "guest", "data": "g.csv", "label": "y"},
                        {"name": "agency", "role": "host", "data": "h.csv"},
                    ],
                }
            )
            t = time.perf_counter()
            res = sb.drive(transport, cfg)
            secs = time.perf_counter() - t
            pred = sb.predict(transport, "bank", ["agency"])
            assert pred is not None
            return secs, res.metrics, pred

    # centralized reference on the same bins (each party's own binning, pooled)
    Xb = np.hstack([QuantileBinner(args.bins).fit_transform(m.X) for m in mats.values()])

    def xgboost(nthread: int, trees: int) -> tuple[float, float, np.ndarray]:
        t, c = time.perf_counter(), time.process_time()
        d = xgb.DMatrix(Xb.astype(np.float64), label=y, nthread=nthread)
        bst = xgb.train(
            {
                "tree_method": "hist",
                "objective": "binary:logistic",
                "base_score": 0.5,
                "max_bin": 256,
                "max_depth": args.depth,
                "eta": 0.3,
                "reg_lambda": 1.0,
                "gamma": 0.0,
                "min_child_weight": 1.0,
                "nthread": nthread,
            },
            d,
            trees,
        )
        pred = bst.predict(d)
        return time.perf_counter() - t, time.process_time() - c, pred

    if args.bound:
        counts = _count_operations(sb, federated, args.bound_trees)
        xgb1 = min((xgboost(1, 50) for _ in range(3)), key=lambda r: r[0])
        xgb2 = min((xgboost(2, 50) for _ in range(3)), key=lambda r: r[0])
        _print_bound(counts, _time_operations(args.key_bits), xgb1[0], xgb2[0])
        return 0
    load0 = os.getloadavg()
    xgb1 = min((xgboost(1, args.trees) for _ in range(3)), key=lambda r: r[0])
    xgb2 = min((xgboost(2, args.trees) for _ in range(3)), key=lambda r: r[0])
    ref = xgb1[2]
    cpu0 = _cpu_seconds()
    fed_secs, metrics, pred = federated("paillier")
    fed_cpu = _cpu_seconds(cpu0)
    load1 = os.getloadavg()
    x50 = (
        (
            min((xgboost(1, 50) for _ in range(3)), key=lambda r: r[0]),
            min((xgboost(2, 50) for _ in range(3)), key=lambda r: r[0]),
        )
        if args.trees != 50
        else (xgb1, xgb2)
    )
    tag = "" if args.key_bits >= 2048 else "  [BELOW RECOMMENDED SECURITY: 2048-bit keys]"
    print(
        f"rows={args.rows} trees={args.trees} depth={args.depth} bins={args.bins} "
        f"key_bits={args.key_bits} workers={args.workers}{tag}"
    )
    print(
        f"load average (1, 5, 15 min) before {_load(load0)}  after {_load(load1)} "
        f"on {os.cpu_count()} cores"
    )
    print(
        f"federated (paillier)      {fed_secs:10.2f} s wall  {fed_cpu:10.2f} s CPU "
        f"(this process + workers)"
    )
    print(f"xgboost hist nthread=1    {xgb1[0]:10.3f} s wall  {xgb1[1]:10.3f} s CPU")
    print(f"xgboost hist nthread=2    {xgb2[0]:10.3f} s wall  {xgb2[1]:10.3f} s CPU")
    print(f"ratio wall vs nthread=1   {fed_secs / xgb1[0]:10.1f} x")
    print(f"ratio wall vs nthread=2   {fed_secs / xgb2[0]:10.1f} x")
    print(f"ratio CPU vs nthread=1    {fed_cpu / xgb1[1]:10.1f} x")
    print(f"bytes per tree            {metrics['bytes_per_tree']:10d}")
    print(f"exchanges                 {metrics['exchanges']:10d}")
    print(f"phases (s)                {metrics['seconds']}")
    print(
        f"AUC federated {roc_auc_score(y, pred):.6f}  xgboost {roc_auc_score(y, ref):.6f}  "
        f"max |p - p_xgb| {np.abs(pred - ref).max():.2e}"
    )
    if args.trees != 50:
        per_tree = metrics["seconds"]["train"] / args.trees
        per_cpu = fed_cpu / args.trees
        print(
            f"EXTRAPOLATED to 50 trees (linear in trees from this {args.trees}-tree run; "
            f"XGBoost measured at 50): federated ~{per_tree * 50:.0f} s wall, "
            f"~{per_cpu * 50:.0f} s CPU; ratios ~{per_tree * 50 / x50[0][0]:.0f}x wall vs "
            f"nthread=1 ({x50[0][0]:.3f} s), ~{per_tree * 50 / x50[1][0]:.0f}x vs nthread=2 "
            f"({x50[1][0]:.3f} s), ~{per_cpu * 50 / x50[0][1]:.0f}x CPU"
        )
    if args.plaintext:
        plain_secs, _, plain = federated("plaintext")
        print(
            f"plaintext backend     {plain_secs:10.2f} s  (crypto overhead "
            f"{fed_secs / plain_secs:.1f}x; max |p_paillier - p_plain| "
            f"{np.abs(pred - plain).max():.1e})"
        )
    return 0


def _count_operations(sb: Any, federated: Any, trees: int) -> dict[str, float]:
    """Per-tree operation counts of a plaintext-backend run (``federated`` set up for
    ``trees`` trees): the hosts' products (values in minus sums out of every reduction),
    what per-column sums would need, packing squarings and packed ciphertexts, and the
    guest's encrypted rows."""
    c = {"products": 0.0, "per_column": 0.0, "squarings": 0.0, "packed": 0.0, "rows": 0.0}
    from federation.secureboost import cipher, histograms, workers

    # where the package's modules look the counted functions up
    targets = {
        "segment_reduce": (histograms, workers),
        "pack_sums": (cipher, workers),
        "cube_sums": (workers,),
    }
    reduce, pack, cube, load = sb.segment_reduce, sb.pack_sums, sb.cube_sums, sb.HostCipher.load

    def counting_reduce(values: list[Any], starts: Any, modulus: Any) -> list[Any]:
        c["products"] += len(values) - len(starts)
        return reduce(values, starts, modulus)

    def counting_pack(sums: list[Any], w: int, k: int, modulus: Any) -> list[Any]:
        out = pack(sums, w, k, modulus)
        c["squarings"] += (len(sums) - len(out)) * w
        c["packed"] += len(out)
        return out

    def counting_cube(sub: Any, modes: Any, plan: Any, values: Any, modulus: Any) -> Any:
        for j in range(sub.shape[1]):
            col = sub[:, j]
            c["per_column"] += int((col != modes[j]).sum()) - len(
                set(col.tolist()) - {int(modes[j])}
            )
        return cube(sub, modes, plan, values, modulus)

    def counting_load(self: Any, blob: bytes) -> Any:
        out = load(self, blob)
        c["rows"] += len(out)
        return out

    counting = {
        "segment_reduce": counting_reduce,
        "pack_sums": counting_pack,
        "cube_sums": counting_cube,
    }
    real = {"segment_reduce": reduce, "pack_sums": pack, "cube_sums": cube}
    for name, mods in targets.items():
        for mod in mods:
            setattr(mod, name, counting[name])
    sb.HostCipher.load = counting_load
    try:
        federated("plaintext", trees)
    finally:
        for name, mods in targets.items():
            for mod in mods:
                setattr(mod, name, real[name])
        sb.HostCipher.load = load
    return {k: v / trees for k, v in c.items()}


def _time_operations(key_bits: int) -> dict[str, float]:
    """Seconds per operation in this process at ``key_bits``: a product mod n^2, a squaring
    mod n^2, one row's DJN randomness (the guest's CRT tables) and encryption, one CRT
    decryption."""
    import gmpy2

    from crypto.crt_randomness import crt_obfuscators
    from crypto.paillier import EncryptedArray
    from federation.secureboost import GuestCipher

    cipher = GuestCipher("paillier", key_bits, 256)
    N = gmpy2.mpz(cipher.pk.nsquare)
    key = cipher._crt_key()
    crt_obfuscators(key, 64)  # tables built outside the timing
    xs = crt_obfuscators(key, 2048)

    def per(fn: Any, count: int) -> float:
        best = float("inf")
        for _ in range(3):
            t = time.process_time()
            fn()
            best = min(best, (time.process_time() - t) / count)
        return best

    def products() -> None:  # as the hosts' bin sums do it
        acc, fmod = xs[0], gmpy2.f_mod
        for x in xs:
            acc = fmod(acc * x, N)

    def squarings() -> None:
        for x in xs[:256]:
            gmpy2.powmod(x, 1 << 64, N)

    enc = EncryptedArray(cipher.pk, xs[:64])
    plains = list(range(2048))
    out = {
        "product": per(products, len(xs)),
        "squaring": per(squarings, 256 * 64),
        "randomness only": per(lambda: crt_obfuscators(key, 2048), 2048),
        "encryption incl. randomness": per(lambda: cipher.encrypt(plains, workers=1), 2048),
        "decryption": per(lambda: cipher._sk.decrypt_ints(enc, workers=1), 64),
    }
    cipher.forget()
    return out


def _print_bound(counts: dict[str, float], t: dict[str, float], xgb1: float, xgb2: float) -> None:
    cores = os.cpu_count() or 1
    print(
        f"per tree: {counts['rows']:.0f} encrypted rows, {counts['products']:.0f} host "
        f"products ({counts['per_column']:.0f} with per-column sums), "
        f"{counts['squarings']:.0f} packing squarings, {counts['packed']:.0f} decryptions"
    )
    print(
        "seconds per operation (this process, load "
        + _load(os.getloadavg())
        + "): "
        + ", ".join(f"{k} {v * 1e6:.1f} us" for k, v in t.items())
    )
    parts = {
        "guest randomness + encryption": counts["rows"] * t["encryption incl. randomness"],
        "host products": counts["products"] * t["product"],
        "host packing": counts["squarings"] * t["squaring"],
        "guest decryption": counts["packed"] * t["decryption"],
    }
    total = sum(parts.values())
    for k, v in parts.items():
        print(f"  {k:32s} {v:8.3f} s CPU per tree")
    print(
        f"  {'with per-column host sums':32s} "
        f"{total + (counts['per_column'] - counts['products']) * t['product']:8.3f} s"
    )
    wall = 50 * total / cores
    print(
        f"lower bound, 50 trees on {cores} cores: {wall:.1f} s = {wall / xgb1:.0f}x XGBoost "
        f"nthread=1 ({xgb1:.3f} s), {wall / xgb2:.0f}x nthread=2 ({xgb2:.3f} s); the "
        f"randomness alone {50 * parts['guest randomness + encryption'] / cores:.1f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
