"""CKKS and PSI rows of the crypto benchmark; each figure next to a baseline from this run.

    python benchmarks/bench_ckks_psi.py              # quick: CKKS 100k floats, PSI 100k x 100k
    python benchmarks/bench_ckks_psi.py --full       # CKKS 1M floats, PSI 100k and 1M x 1M
    python benchmarks/bench_ckks_psi.py --precision  # measured error per CKKS profile

Columns: ``ratio`` = baseline / ours (above 1: ours is faster or smaller).
Baselines: CKKS -- TenSEAL's own one-vector encrypt/decrypt and numpy on plaintext; PSI --
the straightforward one-process X25519 through ``cryptography`` (hashed ID used directly as
the u-coordinate, full 32-byte comparison), at 1M extrapolated from its 100k run.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crypto import psi  # noqa: E402
from crypto.ckks import PROFILES, CkksArray, CkksContext, sum_encrypted  # noqa: E402
from crypto.parallel import psi_backend_name as backend_name  # noqa: E402

Row = dict[str, Any]


def _row(op: str, ours: float, base: float, units: str, note: str = "") -> Row:
    ratio = base / ours if ours else float("nan")
    return {
        "operation": op,
        "ours": ours,
        "baseline": base,
        "ratio": ratio,
        "units": units,
        "note": note,
    }


# ---- CKKS ---------------------------------------------------------------------------------
def ckks_rows(n: int, parties: int = 10, profile: str = "fast") -> list[Row]:
    import tenseal as ts

    rng = np.random.default_rng(0)
    secret = CkksContext.from_profile(profile)
    pub = secret.public()
    xs = [rng.normal(0, 1, n) for _ in range(parties)]

    t = time.perf_counter()
    encs = [CkksArray.encrypt(pub, x) for x in xs]
    t_enc = (time.perf_counter() - t) / parties
    t = time.perf_counter()
    ts.ckks_vector(pub.raw, xs[0].tolist())
    t_enc_base = time.perf_counter() - t

    t = time.perf_counter()
    blobs = [e.to_bytes() for e in encs]
    t_ser = (time.perf_counter() - t) / parties
    t = time.perf_counter()
    encs = [CkksArray.from_bytes(pub, b) for b in blobs]
    t_de = (time.perf_counter() - t) / parties
    nbytes = len(blobs[0])
    del blobs

    t = time.perf_counter()
    total = sum_encrypted(encs)
    t_sum = time.perf_counter() - t
    t = time.perf_counter()
    plain = np.sum(xs, axis=0)
    t_sum_plain = time.perf_counter() - t

    t = time.perf_counter()
    dec = total.decrypt(secret)
    t_dec = time.perf_counter() - t
    big = ts.ckks_vector(secret.raw, xs[0].tolist())
    t = time.perf_counter()
    big.decrypt()
    t_dec_base = time.perf_counter() - t
    err = float(np.abs(dec - plain).max())

    k = f"{n / 1e6:g}M" if n >= 10**6 else f"{n // 1000}k"
    k = k if profile == "fast" else f"{k} [{profile}]"
    return [
        _row(f"CKKS encrypt {k} floats", t_enc, t_enc_base, "s", "baseline: one TenSEAL vector"),
        {
            "operation": f"CKKS serialize + load {k}",
            "ours": t_ser + t_de,
            "baseline": "",
            "ratio": "",
            "units": "s",
            "note": "per update",
        },
        _row(f"CKKS sum of {parties} x {k}", t_sum, t_sum_plain, "s", "baseline: numpy plaintext"),
        _row(f"CKKS decrypt {k}", t_dec, t_dec_base, "s", "baseline: one TenSEAL vector"),
        _row(f"CKKS bytes per {k} update", nbytes, 8.0 * n, "B", "baseline: float64"),
        {
            "operation": f"CKKS sum-of-{parties} max abs error",
            "ours": err,
            "baseline": 1e-3,
            "ratio": 1e-3 / err if err else float("inf"),
            "units": "abs",
            "note": "target <= 1e-3: " + ("PASS" if err <= 1e-3 else "FAIL"),
        },
    ]


def ckks_dot_row(with_matmul: bool) -> list[Row]:
    import tenseal as ts

    rng = np.random.default_rng(1)
    secret = CkksContext.create()
    n, k = secret.slot_count, 16
    d, X = rng.uniform(-1, 1, n), rng.uniform(-1, 1, (n, k))
    enc = CkksArray.encrypt(secret, d)
    t = time.perf_counter()
    pdot = enc.partial_dot(X)
    t_ours = time.perf_counter() - t
    err = float(np.abs(pdot.decrypt_sums(secret) - X.T @ d).max())
    rows = []
    if with_matmul:
        ctx_g = CkksContext.create(galois=True)
        v = ts.ckks_vector(ctx_g.raw, d.tolist())
        t = time.perf_counter()
        v.matmul(X.tolist())
        t_base = time.perf_counter() - t
        rows.append(
            _row(
                f"CKKS X^T d {n}x{k} (partial_dot)", t_ours, t_base, "s", "baseline: TenSEAL matmul"
            )
        )
    else:
        rows.append(
            {
                "operation": f"CKKS X^T d {n}x{k} (partial_dot)",
                "ours": t_ours,
                "baseline": "",
                "ratio": "",
                "units": "s",
                "note": "TenSEAL matmul baseline (~30 s): --full",
            }
        )
    rows.append(
        {
            "operation": "CKKS partial_dot max abs error",
            "ours": err,
            "baseline": "",
            "ratio": "",
            "units": "abs",
            "note": "4096 terms",
        }
    )
    return rows


def precision_table() -> list[Row]:
    rng = np.random.default_rng(7)
    rows = []
    for name, prof in PROFILES.items():
        secret = CkksContext.create(prof.params)
        n = 4 * secret.slot_count
        x, y = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
        ex = CkksArray.encrypt(secret, x)
        xs = [rng.uniform(-1, 1, n) for _ in range(10)]
        s10 = sum_encrypted([CkksArray.encrypt(secret, v) for v in xs]).decrypt(secret)
        X = rng.uniform(-1, 1, (secret.slot_count, 8))
        d = x[: secret.slot_count]
        t = time.perf_counter()
        CkksArray.encrypt(secret, x)
        t_enc = (time.perf_counter() - t) / (n / secret.slot_count)
        figures = {
            "encrypt_decrypt_max_abs_err": np.abs(ex.decrypt(secret) - x).max(),
            "sum10_max_abs_err": np.abs(s10 - np.sum(xs, axis=0)).max(),
        }
        if prof.params.depth > 0:
            pd = CkksArray.encrypt(secret, d).partial_dot(X).decrypt_sums(secret)
            figures["mul_plain_max_abs_err"] = np.abs((ex * y).decrypt(secret) - x * y).max()
            figures["mul_scalar_max_abs_err"] = np.abs((ex * 0.37).decrypt(secret) - x * 0.37).max()
            figures["partial_dot_max_abs_err"] = np.abs(pd - X.T @ d).max()
        for key, v in figures.items():
            rows.append({"operation": f"{name}: {key}", "ours": float(v), "units": "abs"})
        rows.append({"operation": f"{name}: encrypt one ciphertext", "ours": t_enc, "units": "s"})
        rows.append(
            {
                "operation": f"{name}: public context bytes",
                "ours": float(len(secret.to_bytes())),
                "units": "B",
            }
        )
    return rows


# ---- PSI ----------------------------------------------------------------------------------
def _psi_sets(n: int, overlap: float = 0.5, seed: int = 0) -> tuple[list[str], list[str]]:
    rnd = random.Random(seed)
    n_common = int(n * overlap)
    pool = rnd.sample(range(10**9), 2 * n - n_common)
    ids = [f"91{v:016d}" for v in pool]
    guest, host = ids[:n], ids[n - n_common :]
    rnd.shuffle(guest)
    rnd.shuffle(host)
    return guest, host


def baseline_psi(guest: list[str], host: list[str]) -> tuple[float, int]:
    """One process, `cryptography` X25519, SHA-256(id) as the u-coordinate, 32-byte compare."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

    t = time.perf_counter()
    kg, kh = X25519PrivateKey.generate(), X25519PrivateKey.generate()

    def mult(k: X25519PrivateKey, u: bytes) -> bytes:
        return k.exchange(X25519PublicKey.from_public_bytes(u))

    a = [mult(kg, hashlib.sha256(i.encode()).digest()) for i in guest]
    ab = [mult(kh, p) for p in a]
    b = [mult(kh, hashlib.sha256(i.encode()).digest()) for i in host]
    random.shuffle(b)
    ba = {mult(kg, p) for p in b}
    size = sum(1 for v in ab if v in ba)
    return time.perf_counter() - t, size


def ours_psi(guest: list[str], host: list[str], cache_dir: Path) -> dict[str, float]:
    """Explicit message steps on one 2-core pool; cold run, offline cache build, online run.

    Steps that do not depend on each other are queued together (as two machines would run
    them at the same time): the guest's and the host's blinding, then the host's reblinding
    of ``a`` and the guest's reblinding of ``b``.
    """
    expected = sorted(set(guest) & set(host))
    kh = psi.PsiKey.generate()

    def run(pool: psi.PsiPool, cache: psi.HostBlindCache | None) -> float:
        t = time.perf_counter()
        kg = psi.PsiKey.generate()
        pending_a = psi.blind_async(pool, kg, guest)  # guest
        if cache is not None:  # host: b from the offline phase, sent right away
            offer = psi.host_offer(kh, host, blinded=cache.blinded(kh, host))
            pending_ba = psi.reblind_async(pool, kg, offer.packed)  # guest
            a = pending_a.result()  # guest -> host
            pending_ab = psi.reblind_async(pool, kh, a)  # host
        else:
            pending_b = psi.blind_async(pool, kh, host)  # host
            a = pending_a.result()  # guest -> host
            pending_ab = psi.reblind_async(pool, kh, a)  # host
            offer = psi.host_offer(kh, host, blinded=pending_b.result())  # host -> guest
            pending_ba = psi.reblind_async(pool, kg, offer.packed)  # guest
        index = psi.index_packed(pending_ba.result())  # guest, while ab is computed
        ab = psi.truncate_packed(pending_ab.result())  # host -> guest
        ids, idx = psi.intersect_guest_packed(guest, ab, index=index)
        rows = psi.host_rows(offer, idx)  # guest -> host
        wall = time.perf_counter() - t
        if ids != expected or [host[r] for r in rows] != expected:
            raise AssertionError("PSI intersection differs from Python's set intersection")
        return wall

    def phase(fn: Any) -> tuple[float, float, Any]:
        """Wall time, CPU seconds of this process and its (reaped) pool workers, result."""
        before = _cpu()
        with psi.PsiPool() as pool:
            t = time.perf_counter()
            out = fn(pool)
            wall = time.perf_counter() - t
        return wall, _cpu() - before, out

    cold, cold_cpu, _ = phase(lambda pool: run(pool, None))
    cache = psi.HostBlindCache(cache_dir / "host.psicache")
    offline, offline_cpu, _ = phase(lambda pool: cache.blinded(kh, host, pool=pool))
    online, online_cpu, _ = phase(lambda pool: run(pool, cache))
    assert cache.last_hit
    return {
        "cold": cold,
        "offline": offline,
        "online": online,
        "cold_cpu": cold_cpu,
        "offline_cpu": offline_cpu,
        "online_cpu": online_cpu,
    }


def _cpu() -> float:
    import resource

    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _load() -> str:
    try:
        return "load " + Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return ""


def psi_rows(sizes: list[int], base_n: int) -> list[Row]:
    guest, host = _psi_sets(base_n)
    t_base, size = baseline_psi(guest, host)
    assert size == len(set(guest) & set(host))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            g, h = (guest, host) if n == base_n else _psi_sets(n, seed=1)
            r = ours_psi(g, h, Path(tmp))
            scale = n / base_n
            base = t_base * scale
            lab = f"{n // 1000}k" if n < 10**6 else f"{n / 1e6:g}M"
            note = "" if n == base_n else "baseline extrapolated from its 100k run"
            load = _load()
            for phase, label, share in [
                ("cold", "cold", 1.0),
                ("offline", "host offline blind", 0.25),
                ("online", "online (host cache)", 0.75),
            ]:
                cpu = r[f"{phase}_cpu"]
                extra = f"cpu {cpu:.1f} s (cpu/2 = {cpu / 2:.1f} s); {load}"
                if share != 1.0:
                    extra = f"baseline: {share:g} of its run; " + extra
                rows.append(
                    _row(
                        f"PSI {lab} x {lab} 50% overlap, {label}",
                        r[phase],
                        base * share,
                        "s wall",
                        "; ".join(x for x in (note, extra) if x),
                    )
                )
    return rows


def rows(quick: bool = False) -> list[Row]:
    out: list[Row] = []
    n = 100_000 if quick else 1_000_000
    out += ckks_rows(n)
    out += [
        r
        for r in ckks_rows(n, profile="aggregate")
        if "bytes" in r["operation"] or "encrypt" in r["operation"]
    ]
    out += ckks_dot_row(with_matmul=not quick)
    out += psi_rows([100_000] if quick else [100_000, 1_000_000], base_n=100_000)
    for r in out:
        r.setdefault(
            "note", f"PSI backend {backend_name()}" if r["operation"].startswith("PSI") else ""
        )
    return out


def _print(table: list[Row]) -> None:
    keys: list[str] = []
    for r in table:
        keys += [k for k in r if k not in keys]

    def fmt(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    widths = {k: max(len(k), *(len(fmt(r.get(k, ""))) for r in table)) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys))
    for r in table:
        print("  ".join(fmt(r.get(k, "")).ljust(widths[k]) for k in keys))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--full", action="store_true", help="CKKS 1M floats and PSI 1M x 1M")
    ap.add_argument("--precision", action="store_true", help="only the CKKS precision per profile")
    ap.add_argument("--only", choices=["ckks", "psi"], help="run one half")
    ap.add_argument(
        "--psi-sizes", type=int, nargs="+", help="PSI set sizes (default: 100k, +1M with --full)"
    )
    args = ap.parse_args()
    if args.precision:
        _print(precision_table())
        return
    if args.only == "ckks":
        n = 1_000_000 if args.full else 100_000
        _print(
            ckks_rows(n) + ckks_rows(n, profile="aggregate") + ckks_dot_row(with_matmul=args.full)
        )
    elif args.only == "psi":
        sizes = args.psi_sizes or ([100_000, 1_000_000] if args.full else [100_000])
        _print(psi_rows(sizes, base_n=100_000))
    else:
        _print(rows(quick=not args.full))


if __name__ == "__main__":
    main()
