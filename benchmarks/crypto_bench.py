"""One table of crypto figures, each next to its baseline measured in the same run.

    python benchmarks/crypto_bench.py            # quick sizes
    python benchmarks/crypto_bench.py --full     # the issue's sizes (PSI 1M x 1M: minutes)

Rows come from ``bench_paillier.rows`` (Paillier vs plain ``phe`` / one-powmod loops; the
dot products also show the ratio of the median rounds) and ``bench_ckks_psi.rows`` (CKKS
aggregation, PSI wall times). The machine is shared: the load average before and after
the run is printed under the table.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the issue's full sizes")
    args = ap.parse_args()
    quick = not args.full

    import bench_ckks_psi
    import bench_paillier

    load_before = os.getloadavg()
    rows = []
    for mod in (bench_paillier, bench_ckks_psi):
        try:
            rows.extend(mod.rows(quick=quick))
        except TypeError:
            rows.extend(mod.rows(quick))
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    table = Table(title="fedlab crypto benchmark (ratios measured in this run)")
    for k in keys:
        table.add_column(k)
    for r in rows:
        table.add_row(*[_fmt(r.get(k, "")) for k in keys])
    Console(width=200).print(table)
    load = [", ".join(f"{v:.2f}" for v in la) for la in (load_before, os.getloadavg())]
    print(f"load average (1, 5, 15 min) before: {load[0]}; after: {load[1]}")


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


if __name__ == "__main__":
    main()
