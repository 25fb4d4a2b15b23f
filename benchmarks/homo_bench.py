"""Aggregation of one FedAvg round: CKKS vs plain FedAvg vs Flower's SecAgg+ (and pairwise masks).

    python benchmarks/homo_bench.py [--params 1000000] [--clients 10] [--no-simulation]
    python benchmarks/homo_bench.py --taiwan DATA_DIR   # also IID vs non-IID homo_lr AUC

Every client k holds a model vector theta_k and a training-row count n_k; the round's result
is the sample-weighted mean sum n_k theta_k / sum n_k. ``plaintext``, ``ckks`` and ``masked``
(our single pairwise masks) sum the weighted updates n_k/U * theta_k (the clients divide by
the summed weight); ``secaggplus`` is Flower's SecAggPlusWorkflow + secaggplus_mod, which
returns the weighted mean itself.

Per backend: seconds at the clients (protect: encrypt / mask, measured one client after
another in this process), seconds at the coordinator, seconds to reveal the aggregate at
one client, the round's seconds (their sum), bytes uploaded by all clients, bytes sent to
one client (protocol messages and the aggregate it gets back), and the weighted mean's max
abs error against numpy (and relative to its largest value). SecAgg+ runs twice: in this
process (its clients called one after another, for the client/server split) and on Flower's
simulation runtime with one SuperNode per client (wall seconds of the four stages of a
second round, Ray start-up and actor warm-up excluded). Ratios are against plain FedAvg.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

WEIGHT_UNIT = 1000.0
_VALUES: dict[tuple[int, int, int], np.ndarray] = {}


def _time(fn, *args):  # noqa: ANN001, ANN202
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def client_update(seed: int, k: int, n_params: int) -> tuple[np.ndarray, int]:
    """Client k's model vector and training rows (the same in every process)."""
    key = (seed, k, n_params)
    rng = np.random.default_rng([seed, k])
    rows = int(rng.integers(1000, 8000))
    if key not in _VALUES:
        _VALUES.clear()  # keep one client's vector per process
        _VALUES[key] = rng.normal(scale=0.5, size=n_params)
    return _VALUES[key], rows


def _weighted(seed: int, n_clients: int, n_params: int) -> tuple[list[np.ndarray], float]:
    ups, weight = [], 0.0
    for k in range(n_clients):
        theta, rows = client_update(seed, k, n_params)
        ups.append(rows / WEIGHT_UNIT * theta)
        weight += rows / WEIGHT_UNIT
    return ups, weight


def _errors(mean: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    err = float(np.max(np.abs(mean - ref)))
    return {"abs_err": err, "rel_err": err / float(np.max(np.abs(ref)))}


def aggregation_rows(n_params: int, n_clients: int, seed: int = 0) -> list[dict[str, Any]]:
    """plaintext, ckks and masked rows (sums of weighted updates), in this process."""
    from federation.homo.ckks import (
        CiphertextAggregator,
        decrypt_aggregate,
        encrypt_update,
        mask_update,
        new_shared_context,
        pair_seed,
        unmask_sum,
        x25519_keypair,
    )

    ups, weight = _weighted(seed, n_clients, n_params)
    ref = np.sum(ups, axis=0) / weight
    rows = []

    # plain FedAvg: float64 arrays (float32 would halve the bytes)
    total, t_sum = _time(lambda: np.sum(ups, axis=0))
    rows.append(
        {
            "backend": "plaintext",
            "client_s": 0.0,
            "server_s": t_sum,
            "reveal_s": 0.0,
            "up_bytes": sum(u.nbytes for u in ups),
            "down_bytes": total.nbytes,
            **_errors(total / weight, ref),
        }
    )

    # CKKS ("aggregate" profile: additions only)
    sc = new_shared_context("aggregate")
    blob0, t_enc = _time(encrypt_update, sc, ups[0])
    blobs = [blob0] + [encrypt_update(sc, u) for u in ups[1:]]
    agg = CiphertextAggregator(sc.to_bytes())
    out, t_sum = _time(agg.sum, blobs)
    dec, t_dec = _time(decrypt_aggregate, sc, out)
    rows.append(
        {
            "backend": "ckks",
            "client_s": t_enc * n_clients,
            "server_s": t_sum,
            "reveal_s": t_dec,
            "up_bytes": sum(len(b) for b in blobs),
            "down_bytes": len(out),
            **_errors(dec / weight, ref),
        }
    )

    # our single pairwise masks (X25519 seeds, ChaCha20 masks, 64-bit ring)
    names = [f"c{i:02d}" for i in range(n_clients)]
    keys = {n: x25519_keypair() for n in names}
    seeds = {
        n: {
            p: pair_seed(keys[n][0], keys[p][1], me=n, peer=p, run="bench") for p in names if p != n
        }
        for n in names
    }
    m0, t_mask = _time(
        lambda: mask_update(ups[0], seeds[names[0]], me=names[0], participants=names, round_no=1)
    )
    masked = [m0] + [
        mask_update(u, seeds[n], me=n, participants=names, round_no=1)
        for n, u in zip(names[1:], ups[1:], strict=False)
    ]
    total, t_sum = _time(unmask_sum, masked)
    rows.append(
        {
            "backend": "masked",
            "client_s": t_mask * n_clients,
            "server_s": t_sum,
            "reveal_s": 0.0,
            "up_bytes": sum(m.nbytes for m in masked),
            "down_bytes": total.nbytes,
            **_errors(total / weight, ref),
        }
    )
    return rows


def _secaggplus_params() -> Any:
    from federation.homo.secaggplus import SecAggPlusParams

    return SecAggPlusParams(max_weight=10_000)  # every client holds at most 8000 rows


class BenchClient:
    """Client k of the SecAgg+ rows: its vector stashed for round 1 (picklable for Ray)."""

    def __init__(self, n_params: int, seed: int) -> None:
        self.n_params = n_params
        self.seed = seed

    def party(self, k: int) -> Any:
        from federation.homo.secaggplus import stash_update
        from federation.party import PartyContext
        from federation.roles import PartyRole

        ctx = PartyContext(f"c{k:02d}", PartyRole.GUEST, None, Path("."))
        theta, rows = client_update(self.seed, k, self.n_params)
        stash_update(ctx.state, ctx.name, 1, theta, rows, _secaggplus_params())
        return ctx

    def __call__(self, context: Any) -> Any:  # a simulated SuperNode: its partition id
        return self.party(int(context.node_config["partition-id"]))


def _secaggplus_row(
    name: str, res: Any, ref: np.ndarray, n_clients: int, client_s: float
) -> dict[str, Any]:
    return {
        "backend": name,
        "client_s": client_s,
        "server_s": res.seconds - client_s,
        "reveal_s": 0.0,
        "up_bytes": res.bytes_received,  # + the mean sent back (float64):
        "down_bytes": res.bytes_sent / n_clients + res.values.nbytes,
        "wall_s": res.seconds,
        **_errors(res.values, ref),
    }


def secaggplus_rows(
    n_params: int, n_clients: int, seed: int = 0, *, simulation: bool = True
) -> list[dict[str, Any]]:
    """Flower's SecAgg+ in this process, then on the simulation runtime."""
    from federation.homo.secaggplus_mean import LocalChannel, SecAggPlusAggregator

    ups, weight = _weighted(seed, n_clients, n_params)
    ref = np.sum(ups, axis=0) / weight
    del ups
    bench = BenchClient(n_params, seed)
    parties = {p.name: p for p in (bench.party(k) for k in range(n_clients))}
    res = SecAggPlusAggregator(LocalChannel(parties), _secaggplus_params()).mean(sorted(parties), 1)
    rows = [_secaggplus_row("secaggplus", res, ref, n_clients, sum(res.stage_seconds.values()))]
    if simulation:
        res = _secaggplus_in_simulation(bench, n_clients)
        rows.append(_secaggplus_row("secagg+ sim", res, ref, n_clients, 0.0))
    return rows


def _secaggplus_in_simulation(bench: BenchClient, n_clients: int) -> Any:
    from flwr.clientapp import ClientApp

    from federation.homo.secaggplus import register_train
    from federation.homo.secaggplus_mean import GridChannel, SecAggPlusAggregator
    from federation.runtime.simulation import simulate
    from federation.server_app import build_server_app

    client = ClientApp()
    register_train(client, bench)
    box: dict[str, Any] = {}

    def main(grid: Any, context: Any) -> None:  # noqa: ARG001
        deadline = time.monotonic() + 120
        while len(list(grid.get_node_ids())) < n_clients and time.monotonic() < deadline:
            time.sleep(0.1)
        nodes = {f"node{i:02d}": nid for i, nid in enumerate(sorted(grid.get_node_ids()))}
        channel = GridChannel(grid, nodes, timeout=600.0, poll=0.02)
        agg = SecAggPlusAggregator(channel, _secaggplus_params())
        try:
            box["warm-up"] = agg.mean(sorted(nodes), 1)  # Ray actors start, apps load
            box["res"] = agg.mean(sorted(nodes), 1)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    simulate(build_server_app(main), client, n_clients)  # a private Ray cluster, see there
    if "error" in box:
        raise box["error"]
    print(
        f"secagg+ on the simulation runtime: first round {box['warm-up'].seconds:.1f} s "
        "(actors start), measured round's stages "
        + ", ".join(f"{k} {v:.2f} s" for k, v in box["res"].stage_seconds.items())
    )
    return box["res"]


def print_rows(rows: list[dict[str, Any]], n_params: int, n_clients: int) -> None:
    base = rows[0]
    print(f"\naggregation of a {n_params:,}-parameter update from {n_clients} clients (one round)")
    print(
        f"{'backend':<12} {'clients s':>10} {'server s':>9} {'reveal s':>9} {'round s':>8} "
        f"{'upload MB':>10} {'x plain':>8} {'down MB':>8} {'abs err':>9} {'rel err':>9}"
    )
    for r in rows:
        rnd = r.get("wall_s") or r["client_s"] + r["server_s"] + r["reveal_s"]
        split = r["client_s"] > 0 or "wall_s" not in r
        cs = f"{r['client_s']:>10.2f}" if split else f"{'-':>10}"
        ss = f"{r['server_s']:>9.3f}" if split else f"{'-':>9}"
        print(
            f"{r['backend']:<12} {cs} {ss} {r['reveal_s']:>9.2f} {rnd:>8.2f} "
            f"{r['up_bytes'] / 2**20:>10.1f} {r['up_bytes'] / base['up_bytes']:>8.2f} "
            f"{r['down_bytes'] / 2**20:>8.2f} {r['abs_err']:>9.1e} {r['rel_err']:>9.1e}"
        )
    ck = next(r for r in rows if r["backend"] == "ckks")
    ok = "OK" if ck["rel_err"] <= 1e-4 else "ABOVE 1e-4"
    print(f"CKKS aggregate: max abs error {ck['abs_err']:.2e}, relative {ck['rel_err']:.2e} ({ok})")
    sp = _secaggplus_params()
    bound = sp.error_bound([client_update(0, k, 1)[1] for k in range(n_clients)])
    print(
        f"SecAgg+ (clipping {sp.clipping_range:g}, 2^{sp.quantization_range.bit_length() - 1}"
        f" levels, "
        f"max_weight {sp.max_weight:g}): worst-case quantization error {bound:.1e}; "
        "'secagg+ sim' = wall seconds on Flower's simulation runtime (Ray start-up excluded)"
    )


def taiwan_rows(data_dir: Path, work: Path) -> None:
    """homo_lr on Taiwan over 4 banks: IID (CKKS, plain FedAvg, SecAgg+) and non-IID (CKKS)."""
    from federation.config import parse_config
    from federation.homo import drive
    from federation.homo.split import (
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
    splits = {
        "iid": iid_split(len(df), 4, seed=1),
        "non-iid LIMIT_BAL": split_by(df, "LIMIT_BAL", 4, seed=1),
        "non-iid AGE": split_by(df, "AGE", 4, seed=1),
    }
    print("\nhomo_lr on Taiwan, 4 banks, 8 rounds x 1 local epoch")
    runs = [("iid", b) for b in ("ckks", "plaintext", "secaggplus")] + [
        (s, "ckks") for s in splits if s != "iid"
    ]
    for name, backend in runs:
        parts = splits[name]
        paths = write_bank_files(df, parts, work / name.replace(" ", "_"))
        cfg = parse_config(
            {
                "experiment": {
                    "name": "bench",
                    "algorithm": "homo_lr",
                    "backend": backend,
                    "id_column": TAIWAN_ID,
                    "runtime": "local",
                    "seed": 3,
                },
                "params": {"rounds": 8, "batch_size": 512, "learning_rate": 0.1, "momentum": 0.9},
                "parties": [
                    {"name": n, "role": "guest", "data": str(p), "label": TAIWAN_LABEL}
                    for n, p in paths.items()
                ],
            }
        )
        tr = LocalTransport(
            [
                PartyContext(n, PartyRole.GUEST, p, work / "w" / name / backend / n)
                for n, p in paths.items()
            ]
        )
        m = drive(tr, cfg).metrics
        print(
            f"{name:<18} {backend:<10} AUC {m['auc']:.4f} KS {m['ks']:.4f} per bank "
            f"{ {b: round(a, 3) for b, a in m['bank_auc'].items()} } "
            f"{m['seconds_per_round']:.2f} s/round {m['bytes_per_round'] / 2**20:.2f} MB/round"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--taiwan", type=Path, default=None, help="folder with the public data")
    ap.add_argument(
        "--no-simulation",
        action="store_true",
        help="skip the SecAgg+ run on Flower's simulation runtime (Ray start-up)",
    )
    args = ap.parse_args()
    rows = aggregation_rows(args.params, args.clients)
    rows += secaggplus_rows(args.params, args.clients, simulation=not args.no_simulation)
    print_rows(rows, args.params, args.clients)
    if args.taiwan is not None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            taiwan_rows(args.taiwan, Path(tmp))


if __name__ == "__main__":
    main()
