"""One epoch of hetero LR per backend, against the plaintext backend on the same code path.

Workload (issue 4): a guest with 30,000 aligned rows x 10 features and 2 hosts x 20
features; one epoch of mini-batch training on LocalTransport (every message is encoded to
Flower records and back, as in the simulation runtime). Prints seconds per epoch, bytes on
the wire, exchanges, and the ratio to the plaintext epoch (the crypto overhead).

    python benchmarks/vertical_lr_bench.py [--rows 30000] [--batch-size 8192]
        [--backends plaintext,ckks,paillier] [--key-bits 2048] [--precompute]
        [--workers 2] [--sigmoid exact] [--runtime local|simulation]

Alignment is not part of the measurement: every party already holds its rows in the
agreed order. Key generation and the first (setup) exchange are reported separately.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from federation import hetero_lr
from federation.config import parse_config
from federation.hetero_lr import data as lr_data
from federation.local_transport import LocalTransport
from federation.party import PartyContext
from federation.roles import PartyRole


def make_parties(rows: int, seed: int = 0) -> dict[str, SimpleNamespace]:
    """Aligned party matrices: guest 10 features + label, two hosts with 20 each."""
    rng = np.random.default_rng(seed)
    shapes = {"guest": 10, "host1": 20, "host2": 20}
    mats = {p: rng.normal(size=(rows, k)) for p, k in shapes.items()}
    coef = {p: rng.normal(scale=0.3, size=k) for p, k in shapes.items()}
    logit = sum(mats[p] @ coef[p] for p in shapes) - 1.2
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(float)
    ids = np.array([f"E{i:08d}" for i in range(rows)], dtype=object)
    return {
        p: SimpleNamespace(
            ids=ids,
            X=X,
            feature_names=[f"{p}_x{j}" for j in range(X.shape[1])],
            y=y if p == "guest" else None,
        )
        for p, X in mats.items()
    }


def run_epoch(
    backend: str,
    parties: dict[str, SimpleNamespace],
    batch_size: int,
    key_bits: int,
    work: Path,
    precompute: bool = False,
    workers: int = 1,
    sigmoid: str = "exact",
) -> dict[str, Any]:
    ctxs = [
        PartyContext(
            p, PartyRole.GUEST if p == "guest" else PartyRole.HOST, None, work / backend / p
        )
        for p in parties
    ]
    transport = LocalTransport(ctxs)
    lr_data._aligned = lambda ctx: parties[ctx.name]  # aligned in memory (no PSI here)
    config = parse_config(
        {
            "experiment": {"name": "bench", "backend": backend, "runtime": "local"},
            "params": {
                "epochs": 1,
                "batch_size": batch_size,
                "learning_rate": 0.5,
                "early_stopping": False,
                "key_bits": key_bits,
                "valid_fraction": 0.02,
                "workers": workers,
                "sigmoid": sigmoid,
                "precompute_epochs": int(precompute and backend == "paillier"),
            },
            "parties": [
                {
                    "name": p,
                    "role": "guest" if p == "guest" else "host",
                    "data": f"{p}.csv",
                    **({"label": "y"} if p == "guest" else {}),
                }
                for p in parties
            ],
        }
    )
    res = hetero_lr.train_aligned(transport, config)
    m = res.metrics
    train_msgs = [
        msg
        for msg in transport.log.messages
        if msg.action in ("lr.host_step", "lr.guest_step", "lr.backward")
    ]
    return {
        "epoch_s": m["seconds"]["train"],
        "setup_s": m["seconds"]["setup"],
        "offline_s": m["seconds"].get("offline", 0.0),
        "n_train": m["n_train"],
        "bytes": sum(msg.nbytes for msg in train_msgs),
        "exchanges": m["train_exchanges"],
        "auc": m["auc"],
    }


WORKERS = 1  # crypto worker processes per party in the simulation runtime (--workers)


def run_epoch_simulation(
    backend: str,
    parties: dict[str, SimpleNamespace],
    batch_size: int,
    key_bits: int,
    work: Path,
    precompute: bool = False,
    sigmoid: str = "exact",
) -> dict[str, Any]:
    """The same epoch on Flower's simulation runtime: each party in its own Ray worker, so
    the hosts' encrypted gradients are computed in parallel. Parties' CSVs are written
    first and aligned by PSI (alignment is timed separately)."""
    import pandas as pd

    from federation.run import run_experiment

    data = work / "sim-data"
    data.mkdir(parents=True, exist_ok=True)
    for p, ns in parties.items():
        df = pd.DataFrame(ns.X, columns=ns.feature_names)
        df.insert(0, "id", ns.ids)
        if ns.y is not None:
            df.insert(1, "y", ns.y.astype(int))
        df.to_csv(data / f"{p}.csv", index=False)
    config = parse_config(
        {
            "experiment": {
                "name": "bench-sim",
                "backend": backend,
                "runtime": "simulation",
                "id_column": "id",
            },
            "params": {
                "epochs": 1,
                "batch_size": batch_size,
                "learning_rate": 0.5,
                "early_stopping": False,
                "key_bits": key_bits,
                "valid_fraction": 0.02,
                "workers": WORKERS,
                "sigmoid": sigmoid,
                "precompute_epochs": int(precompute and backend == "paillier"),
            },
            "parties": [
                {
                    "name": p,
                    "role": "guest" if p == "guest" else "host",
                    "data": str(data / f"{p}.csv"),
                    **({"label": "y"} if p == "guest" else {}),
                }
                for p in parties
            ],
        }
    )
    # the plaintext baseline on the simulation runtime: an explicit opt-in (benchmark only)
    summary = run_experiment(
        config,
        work / f"sim-{backend}",
        runtime="simulation",
        allow_plaintext=backend == "plaintext",
    )
    m = summary.metrics
    train_bytes = sum(
        msg.nbytes
        for msg in (summary.log.messages if summary.log else [])
        if msg.action in ("lr.host_step", "lr.guest_step", "lr.backward")
    )
    return {
        "epoch_s": m["seconds"]["train"],
        "setup_s": m["seconds"]["setup"],
        "offline_s": m["seconds"].get("offline", 0.0),
        "n_train": m["n_train"],
        "bytes": train_bytes,
        "exchanges": m["train_exchanges"],
        "auc": m["auc"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=30_000)
    ap.add_argument("--batch-size", type=int, default=8192)
    ap.add_argument("--backends", default="plaintext,ckks,paillier")
    ap.add_argument("--key-bits", type=int, default=2048)
    ap.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="Paillier worker processes for X^T d and the randomness pool",
    )
    ap.add_argument("--sigmoid", default="exact", choices=["exact", "taylor"])
    ap.add_argument(
        "--precompute",
        action="store_true",
        help="Paillier: fill the coordinator's randomness pool before the epoch "
        "(reported as offline seconds)",
    )
    ap.add_argument(
        "--runtime",
        default="local",
        choices=["local", "simulation"],
        help="local: LocalTransport in this process; simulation: Flower's "
        "simulation runtime (the issue's target runtime)",
    )
    ap.add_argument(
        "--party-workers",
        type=int,
        default=1,
        help="simulation: crypto worker processes of each party and of the "
        "coordinator ([params] workers)",
    )
    args = ap.parse_args()
    global WORKERS
    WORKERS = args.party_workers
    parties = make_parties(args.rows)
    print(
        f"hetero LR, one epoch: {args.rows} rows x (10 + 20 + 20) features, "
        f"batch {args.batch_size}, sigmoid {args.sigmoid}, runtime {args.runtime}, "
        f"{args.workers} crypto worker(s), Paillier {args.key_bits} bits"
    )
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            t0 = time.perf_counter()
            if args.runtime == "simulation":
                results[backend] = run_epoch_simulation(
                    backend,
                    parties,
                    args.batch_size,
                    args.key_bits,
                    Path(tmp),
                    args.precompute,
                    args.sigmoid,
                )
            else:
                results[backend] = run_epoch(
                    backend,
                    parties,
                    args.batch_size,
                    args.key_bits,
                    Path(tmp),
                    args.precompute,
                    args.workers,
                    args.sigmoid,
                )
            results[backend]["wall_s"] = time.perf_counter() - t0
    base = results.get("plaintext", {}).get("epoch_s")
    n_train = next(iter(results.values()))["n_train"]
    print(f"training rows per epoch: {n_train}")
    cores = max(1, args.workers)
    print(
        f"{'backend':<10} {'s/epoch':>9} {'x plain':>9} {'MB wire':>9} {'exch':>5} "
        f"{'setup s':>8} {'offline s':>9} {'krf/core-s':>10} {'AUC':>7}"
    )
    for b, r in results.items():
        ratio = f"{r['epoch_s'] / base:9.1f}" if base else f"{'-':>9}"
        # thousands of row-features per core-second (FATE's published rate: ~15)
        rate = n_train * 50 / r["epoch_s"] / (cores if b == "paillier" else 1) / 1e3
        print(
            f"{b:<10} {r['epoch_s']:9.2f} {ratio} {r['bytes'] / 1e6:9.1f} {r['exchanges']:5d} "
            f"{r['setup_s']:8.2f} {r['offline_s']:9.2f} {rate:10.0f} {r['auc']:7.4f}"
        )


if __name__ == "__main__":
    main()
