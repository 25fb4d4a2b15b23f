"""Benchmark: synthetic multi-party data for N enterprises, all parties, written to CSV.

Prints seconds and rows/s, and two ratios measured in the same process:
- against the I/O floor: plain ``DataFrame.to_csv`` of the very same frames;
- against raw numpy: drawing as many standard normals as the tables have cells.
Target (issue #2): 100k enterprises for all parties in <= 30 s on a 2-core machine.

    python benchmarks/synth_bench.py [--enterprises 100000] [--seed 1] [--dirty]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from features import synth

BUDGET_SECONDS = 30.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--enterprises", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dirty", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        tables = synth.generate(args.enterprises, args.seed, dirty=args.dirty)
        t1 = time.perf_counter()
        synth.write(Path(tmp) / "synth", tables)
        t2 = time.perf_counter()

        # baseline 1: plain to_csv of the same frames (no rounding, no temp-file rename)
        base_dir = Path(tmp) / "plain"
        base_dir.mkdir()
        t3 = time.perf_counter()
        for name, df in tables.items():
            df.to_csv(base_dir / f"{name}.csv", index=False)
        t4 = time.perf_counter()

        # baseline 2: numpy drawing as many normals as there are cells
        cells = sum(df.size for df in tables.values())
        t5 = time.perf_counter()
        np.random.default_rng(args.seed).standard_normal(cells)
        t6 = time.perf_counter()

    rows = sum(len(df) for df in tables.values())
    gen_s, write_s, total = t1 - t0, t2 - t1, t2 - t0
    plain_csv, raw_numpy = t4 - t3, t6 - t5
    print(f"enterprises           {args.enterprises:,}{' (dirty)' if args.dirty else ''}")
    for name, df in tables.items():
        print(f"  {name:<20} {len(df):>9,} rows x {df.shape[1]:>2} cols")
    print(f"rows (all parties)    {rows:,}  cells {cells:,}")
    print(f"generate              {gen_s:7.2f} s")
    print(f"write CSV             {write_s:7.2f} s")
    print(
        f"total                 {total:7.2f} s   {rows / total:,.0f} rows/s   "
        f"{args.enterprises / total:,.0f} enterprises/s"
    )
    print(
        f"baseline plain to_csv {plain_csv:7.2f} s   ratio total/plain_to_csv = "
        f"{total / plain_csv:.2f}x"
    )
    print(
        f"baseline raw numpy    {raw_numpy:7.3f} s   ratio generate/raw_numpy = "
        f"{gen_s / raw_numpy:.1f}x"
    )
    scaled = total * 100_000 / args.enterprises
    verdict = "PASS" if scaled <= BUDGET_SECONDS else "FAIL"
    print(
        f"budget                {verdict}: {scaled:.1f} s per 100k enterprises "
        f"(<= {BUDGET_SECONDS:.0f} s)"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
