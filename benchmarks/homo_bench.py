"""Aggregation of one FedAvg round: CKKS vs plain FedAvg vs SecAgg-style pairwise masks.

    python benchmarks/homo_bench.py [--params 1000000] [--clients 10]
    python benchmarks/homo_bench.py --taiwan DATA_DIR   # also IID vs non-IID homo_lr AUC

Per backend: seconds at the clients (protect: encrypt / mask, measured per client and
multiplied by the number of clients, as if they ran one after another), seconds at the
coordinator (sum), seconds to reveal the aggregate at one client, bytes uploaded per
round (all clients), bytes sent back (one client), and the CKKS aggregate's max abs error
relative to the largest true value. Ratios are against plain FedAvg in this process.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def _time(fn, *args):  # noqa: ANN001, ANN202
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def aggregation_rows(n_params: int, n_clients: int, seed: int = 0) -> list[dict[str, float]]:
    from federation.homo_ckks import (
        CiphertextAggregator,
        decrypt_aggregate,
        encrypt_update,
        mask_update,
        new_shared_context,
        pair_seed,
        unmask_sum,
        x25519_keypair,
    )

    rng = np.random.default_rng(seed)
    ups = [rng.normal(scale=0.05, size=n_params) * rng.uniform(1, 8) for _ in range(n_clients)]
    ref = np.sum(ups, axis=0)
    rows = []

    # plain FedAvg: float64 arrays (float32 would halve the bytes)
    total, t_sum = _time(lambda: np.sum(ups, axis=0))
    rows.append({"backend": "plaintext", "client_s": 0.0, "server_s": t_sum, "reveal_s": 0.0,
                 "up_bytes": sum(u.nbytes for u in ups), "down_bytes": total.nbytes,
                 "rel_err": float(np.max(np.abs(total - ref)) / np.max(np.abs(ref)))})

    # CKKS ("aggregate" profile: additions only)
    sc = new_shared_context("aggregate")
    blob0, t_enc = _time(encrypt_update, sc, ups[0])
    blobs = [blob0] + [encrypt_update(sc, u) for u in ups[1:]]
    agg = CiphertextAggregator(sc.to_bytes())
    out, t_sum = _time(agg.sum, blobs)
    dec, t_dec = _time(decrypt_aggregate, sc, out)
    rows.append({"backend": "ckks", "client_s": t_enc * n_clients, "server_s": t_sum,
                 "reveal_s": t_dec, "up_bytes": sum(len(b) for b in blobs),
                 "down_bytes": len(out),
                 "rel_err": float(np.max(np.abs(dec - ref)) / np.max(np.abs(ref))),
                 "abs_err": float(np.max(np.abs(dec - ref)))})

    # SecAgg-style pairwise masks (X25519 seeds, ChaCha20 masks, 64-bit ring)
    names = [f"c{i:02d}" for i in range(n_clients)]
    keys = {n: x25519_keypair() for n in names}
    seeds = {n: {p: pair_seed(keys[n][0], keys[p][1], me=n, peer=p, run="bench")
                 for p in names if p != n} for n in names}
    m0, t_mask = _time(lambda: mask_update(ups[0], seeds[names[0]], me=names[0],
                                           participants=names, round_no=1))
    masked = [m0] + [mask_update(u, seeds[n], me=n, participants=names, round_no=1)
                     for n, u in zip(names[1:], ups[1:])]
    total, t_sum = _time(unmask_sum, masked)
    rows.append({"backend": "secagg", "client_s": t_mask * n_clients, "server_s": t_sum,
                 "reveal_s": 0.0, "up_bytes": sum(m.nbytes for m in masked),
                 "down_bytes": total.nbytes,
                 "rel_err": float(np.max(np.abs(total - ref)) / np.max(np.abs(ref)))})
    return rows


def print_rows(rows: list[dict[str, float]], n_params: int, n_clients: int) -> None:
    base = rows[0]
    print(f"\naggregation of a {n_params:,}-parameter update from {n_clients} clients "
          "(one round)")
    print(f"{'backend':<10} {'clients s':>10} {'server s':>9} {'reveal s':>9} {'round s':>8} "
          f"{'upload MB':>10} {'x plain':>8} {'down MB':>8} {'rel err':>9}")
    for r in rows:
        rnd = r["client_s"] + r["server_s"] + r["reveal_s"]
        print(f"{r['backend']:<10} {r['client_s']:>10.2f} {r['server_s']:>9.3f} "
              f"{r['reveal_s']:>9.2f} {rnd:>8.2f} {r['up_bytes'] / 2**20:>10.1f} "
              f"{r['up_bytes'] / base['up_bytes']:>8.1f} {r['down_bytes'] / 2**20:>8.1f} "
              f"{r['rel_err']:>9.1e}")
    ck = next(r for r in rows if r["backend"] == "ckks")
    ok = "OK" if ck["rel_err"] <= 1e-4 else "ABOVE 1e-4"
    print(f"CKKS aggregate: max abs error {ck['abs_err']:.2e}, relative {ck['rel_err']:.2e} "
          f"({ok})")


def taiwan_rows(data_dir: Path, work: Path) -> None:
    """homo_lr on Taiwan over 4 banks, IID vs non-IID (LIMIT_BAL bands), CKKS."""
    from federation.config import parse_config
    from federation.homo import drive
    from federation.homo_split import (
        TAIWAN_ID,
        TAIWAN_LABEL,
        iid_split,
        load_taiwan,
        split_by,
        write_bank_files,
    )
    from federation.local_transport import LocalTransport
    from federation.party import PartyContext
    from federation.roles import PartyRole

    df = load_taiwan(data_dir)
    splits = {"iid": iid_split(len(df), 4, seed=1),
              "non-iid LIMIT_BAL": split_by(df, "LIMIT_BAL", 4, seed=1),
              "non-iid AGE": split_by(df, "AGE", 4, seed=1)}
    print("\nhomo_lr on Taiwan, 4 banks, CKKS, 8 rounds x 1 local epoch")
    for name, parts in splits.items():
        paths = write_bank_files(df, parts, work / name.replace(" ", "_"))
        cfg = parse_config({
            "experiment": {"name": "bench", "algorithm": "homo_lr", "backend": "ckks",
                           "id_column": TAIWAN_ID, "runtime": "local", "seed": 3},
            "params": {"rounds": 8, "batch_size": 512, "learning_rate": 0.1, "momentum": 0.9},
            "parties": [{"name": n, "role": "guest", "data": str(p), "label": TAIWAN_LABEL}
                        for n, p in paths.items()]})
        tr = LocalTransport([PartyContext(n, PartyRole.GUEST, p, work / "w" / name / n)
                             for n, p in paths.items()])
        m = drive(tr, cfg).metrics
        print(f"{name:<18} AUC {m['auc']:.4f} KS {m['ks']:.4f} per bank "
              f"{ {b: round(a, 3) for b, a in m['bank_auc'].items()} } "
              f"{m['seconds_per_round']:.2f} s/round {m['bytes_per_round'] / 2**20:.2f} MB/round")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--taiwan", type=Path, default=None, help="folder with the public data")
    args = ap.parse_args()
    print_rows(aggregation_rows(args.params, args.clients), args.params, args.clients)
    if args.taiwan is not None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            taiwan_rows(args.taiwan, Path(tmp))


if __name__ == "__main__":
    main()
