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
    ap.add_argument("--plaintext", action="store_true",
                    help="also run the plaintext backend through the same code path")
    ap.add_argument("--data", default=None, help="folder with default_credit_hetero_*.csv")
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
    mats = {"bank": party_matrix(g, id_column="id", label="y"),
            "agency": party_matrix(h, id_column="id", label=None)}
    y = np.asarray(mats["bank"].y, dtype=np.float64)
    params = {"n_trees": args.trees, "max_depth": args.depth, "learning_rate": 0.3,
              "reg_lambda": 1.0, "gamma": 0.0, "min_child_weight": 1.0, "max_bins": args.bins,
              "key_bits": args.key_bits, "validation_fraction": 0.0, "workers": args.workers}

    # the protocol starts after alignment: stand-ins give each party its aligned matrix
    sb._align = lambda t, c, p: SimpleNamespace(n_aligned=args.rows)  # type: ignore[assignment]
    sb._matrix = lambda ctx: mats[ctx.name]  # type: ignore[assignment]

    def federated(backend: str) -> tuple[float, dict[str, Any], np.ndarray]:
        with tempfile.TemporaryDirectory() as tmp:
            ctxs = [PartyContext("bank", PartyRole.GUEST, Path(tmp) / "g.csv", Path(tmp) / "bank"),
                    PartyContext("agency", PartyRole.HOST, Path(tmp) / "h.csv",
                                 Path(tmp) / "agency")]
            transport = LocalTransport(ctxs)
            cfg = parse_config({
                "experiment": {"name": "bench", "algorithm": "secureboost", "backend": backend,
                               "id_column": "id", "runtime": "local"},
                "params": params,
                "parties": [{"name": "bank", "role": "guest", "data": "g.csv", "label": "y"},
                            {"name": "agency", "role": "host", "data": "h.csv"}]})
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
        bst = xgb.train({"tree_method": "hist", "objective": "binary:logistic",
                         "base_score": 0.5, "max_bin": 256, "max_depth": args.depth,
                         "eta": 0.3, "reg_lambda": 1.0, "gamma": 0.0, "min_child_weight": 1.0,
                         "nthread": nthread}, d, trees)
        pred = bst.predict(d)
        return time.perf_counter() - t, time.process_time() - c, pred

    load0 = os.getloadavg()
    xgb1 = min((xgboost(1, args.trees) for _ in range(3)), key=lambda r: r[0])
    xgb2 = min((xgboost(2, args.trees) for _ in range(3)), key=lambda r: r[0])
    ref = xgb1[2]
    cpu0 = _cpu_seconds()
    fed_secs, metrics, pred = federated("paillier")
    fed_cpu = _cpu_seconds(cpu0)
    load1 = os.getloadavg()
    x50 = (min((xgboost(1, 50) for _ in range(3)), key=lambda r: r[0]),
           min((xgboost(2, 50) for _ in range(3)), key=lambda r: r[0])) if args.trees != 50 \
        else (xgb1, xgb2)
    tag = "" if args.key_bits >= 2048 else "  [BELOW RECOMMENDED SECURITY: 2048-bit keys]"
    print(f"rows={args.rows} trees={args.trees} depth={args.depth} bins={args.bins} "
          f"key_bits={args.key_bits} workers={args.workers}{tag}")
    print(f"load average (1, 5, 15 min) before {_load(load0)}  after {_load(load1)} "
          f"on {os.cpu_count()} cores")
    print(f"federated (paillier)      {fed_secs:10.2f} s wall  {fed_cpu:10.2f} s CPU "
          f"(this process + workers)")
    print(f"xgboost hist nthread=1    {xgb1[0]:10.3f} s wall  {xgb1[1]:10.3f} s CPU")
    print(f"xgboost hist nthread=2    {xgb2[0]:10.3f} s wall  {xgb2[1]:10.3f} s CPU")
    print(f"ratio wall vs nthread=1   {fed_secs / xgb1[0]:10.1f} x")
    print(f"ratio wall vs nthread=2   {fed_secs / xgb2[0]:10.1f} x")
    print(f"ratio CPU vs nthread=1    {fed_cpu / xgb1[1]:10.1f} x")
    print(f"bytes per tree            {metrics['bytes_per_tree']:10d}")
    print(f"exchanges                 {metrics['exchanges']:10d}")
    print(f"phases (s)                {metrics['seconds']}")
    print(f"AUC federated {roc_auc_score(y, pred):.6f}  xgboost {roc_auc_score(y, ref):.6f}  "
          f"max |p - p_xgb| {np.abs(pred - ref).max():.2e}")
    if args.trees != 50:
        per_tree = metrics["seconds"]["train"] / args.trees
        per_cpu = fed_cpu / args.trees
        print(f"EXTRAPOLATED to 50 trees (linear in trees from this {args.trees}-tree run; "
              f"XGBoost measured at 50): federated ~{per_tree * 50:.0f} s wall, "
              f"~{per_cpu * 50:.0f} s CPU; ratios ~{per_tree * 50 / x50[0][0]:.0f}x wall vs "
              f"nthread=1 ({x50[0][0]:.3f} s), ~{per_tree * 50 / x50[1][0]:.0f}x vs nthread=2 "
              f"({x50[1][0]:.3f} s), ~{per_cpu * 50 / x50[0][1]:.0f}x CPU")
    if args.plaintext:
        plain_secs, _, plain = federated("plaintext")
        print(f"plaintext backend     {plain_secs:10.2f} s  (crypto overhead "
              f"{fed_secs / plain_secs:.1f}x; max |p_paillier - p_plain| "
              f"{np.abs(pred - plain).max():.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
