"""Generate the synthetic vertical-federation data of ``synthetic_hetero_lr.toml``.

A bank (guest: account behaviour + the default label) and three agencies (hosts: tax,
social insurance, courts) hold different columns about overlapping enterprises, keyed by an
18-character unified social credit code. The label follows a logistic model over columns of
all four parties, so a joint model beats the bank's own.

Run:  python examples/make_synthetic_hetero.py --out examples/data/synthetic --rows 4000
"""

from __future__ import annotations

import argparse
import string
from pathlib import Path

import numpy as np
import pandas as pd

_ALPHABET = np.array(list(string.digits + "ABCDEFGHJKLMNPQRTUWXY"))

#: party -> (columns, true coefficients in the label model)
COLUMNS: dict[str, dict[str, float]] = {
    "bank": {"loan_balance": 0.4, "overdue_count": 0.9, "account_age": -0.5, "utilization": 0.6},
    "tax": {"revenue": -0.7, "tax_paid": -0.3, "tax_arrears": 0.8},
    "social": {"employees": -0.4, "insurance_arrears": 0.6},
    "court": {"lawsuits": 0.7, "enforcements": 0.5},
}


def uscc(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct random 18-character enterprise codes (format only, no checksum)."""
    codes: set[str] = set()
    while len(codes) < n:
        chars = rng.choice(_ALPHABET, size=(n, 16))
        codes.update("91" + "".join(row) for row in chars)
    return np.array(sorted(codes)[:n])


def make_synthetic(rows: int = 4000, *, seed: int = 7, coverage: float = 0.92) -> dict[str, pd.DataFrame]:
    """One DataFrame per party; the bank's has the ``default_12m`` label.

    Each agency covers a random ``coverage`` share of the enterprises (plus some it alone
    knows), so alignment has real work to do.
    """
    rng = np.random.default_rng(seed)
    ids = uscc(rng, int(rows * 1.2))
    n = ids.size
    latent = rng.normal(size=n)  # a common "health" factor: columns correlate
    data: dict[str, np.ndarray] = {}
    logit = np.full(n, -1.6)
    for cols in COLUMNS.values():
        for name, coef in cols.items():
            x = 0.6 * rng.normal(size=n) + 0.4 * latent * np.sign(coef)
            data[name] = x
            logit += coef * x
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    # raw-looking scales
    scale = {"loan_balance": 1e5, "revenue": 1e6, "tax_paid": 1e4, "employees": 30.0}
    frames: dict[str, pd.DataFrame] = {}
    bank_rows = np.arange(rows)
    for party, cols in COLUMNS.items():
        if party == "bank":
            keep = bank_rows
        else:
            keep = np.sort(np.concatenate([
                rng.choice(rows, size=int(coverage * rows), replace=False),
                np.arange(rows, n),  # enterprises the bank does not know
            ]))
        df = pd.DataFrame({"uscc": ids[keep]})
        for c in cols:
            df[c] = np.round(data[c][keep] * scale.get(c, 1.0) + (3 * scale.get(c, 1.0) if c in scale else 0), 4)
        if party == "bank":
            df["default_12m"] = y[keep]
        frames[party] = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "synthetic")
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for party, df in make_synthetic(args.rows, seed=args.seed).items():
        df.to_csv(args.out / f"{party}.csv", index=False)
        print(f"{party}: {len(df)} rows -> {args.out / (party + '.csv')}")


if __name__ == "__main__":
    main()
