"""SecureBoost vs centralized XGBoost on the default-credit split (ratios in one process).

Workload (issue #5): 30,000 aligned rows, 23 features over 2 parties (guest 13 + host 10),
50 trees, depth 5, 32 bins, learning rate 0.3, lambda 1. The federated run goes through
LocalTransport (every message encoded to Flower records and back) after alignment, with
the Paillier backend; the centralized baseline is XGBoost ``tree_method="hist"`` on the
pooled bin indices (the same split candidates), ``nthread=1``.

Prints: federated seconds, XGBoost seconds, their ratio, bytes per tree, exchanges, the
phase breakdown, and the AUC of both (they must agree: the protocol is lossless).

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
    t = time.perf_counter()
    d = xgb.DMatrix(Xb.astype(np.float64), label=y, nthread=1)
    bst = xgb.train({"tree_method": "hist", "objective": "binary:logistic", "base_score": 0.5,
                     "max_bin": 256, "max_depth": args.depth, "eta": 0.3, "reg_lambda": 1.0,
                     "gamma": 0.0, "min_child_weight": 1.0, "nthread": 1}, d, args.trees)
    ref = bst.predict(d)
    xgb_secs = time.perf_counter() - t

    fed_secs, metrics, pred = federated("paillier")
    print(f"rows={args.rows} trees={args.trees} depth={args.depth} bins={args.bins} "
          f"key_bits={args.key_bits} workers={args.workers}")
    print(f"federated (paillier)  {fed_secs:10.2f} s")
    print(f"xgboost hist nthread=1{xgb_secs:10.3f} s")
    print(f"ratio                 {fed_secs / xgb_secs:10.1f} x")
    print(f"bytes per tree        {metrics['bytes_per_tree']:10d}")
    print(f"exchanges             {metrics['exchanges']:10d}")
    print(f"phases (s)            {metrics['seconds']}")
    print(f"AUC federated {roc_auc_score(y, pred):.6f}  xgboost {roc_auc_score(y, ref):.6f}  "
          f"max |p - p_xgb| {np.abs(pred - ref).max():.2e}")
    if args.plaintext:
        plain_secs, _, plain = federated("plaintext")
        print(f"plaintext backend     {plain_secs:10.2f} s  (crypto overhead "
              f"{fed_secs / plain_secs:.1f}x; max |p_paillier - p_plain| "
              f"{np.abs(pred - plain).max():.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
