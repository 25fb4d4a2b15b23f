"""Horizontal FedAvg through the lab against the pooled-rows model, on Taiwan over 4 banks.

    python benchmarks/homo_pooled.py DATA_DIR [--banks 4] [--algorithm homo_lr homo_nn]
                                              [--backend ckks] [--runtime local]

DATA_DIR holds ``taiwan_default_credit_raw.csv`` (the public Taiwan default data). The
table is split IID over the banks (``federation.homo.split``); a catalog is seeded with one
bank per part (``lab.seed_banks``: dataset, indicators, sample set). Per algorithm, a
horizontal experiment with the algorithm's default parameters goes through the lab as its
people would (created by the first bank with every other bank's sample, submitted, each
partner bank's consent, approved) and a worker runs it. The script prints the AUC of the
model the worker filed (pooled histogram of every bank's held-out rows) next to the AUC of
the same model trained on the pooled training rows in this process
(``federation.homo.reference``: scikit-learn's logistic regression for ``homo_lr``, the same
torch network and epoch budget for ``homo_nn``), scored exactly on the same held-out rows,
and their difference (the acceptance bound is 0.01).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any


def _bank_files(data_dir: Path, banks: int, root: Path) -> tuple[int, dict[str, Path]]:
    """The Taiwan table split IID over ``banks`` banks: (rows, bank -> its file)."""
    from federation.homo.split import iid_split, load_taiwan, write_bank_files

    df = load_taiwan(data_dir)
    return len(df), write_bank_files(df, iid_split(len(df), banks, seed=1), root / "data")


def _through_the_lab(
    engine: Any, cat: Any, owner: str, algorithm: str, backend: str | None, work: Path, runtime: str
) -> tuple[dict[str, Any], dict[str, Any], str, float]:
    """One horizontal experiment created, consented, approved and run by a worker: the
    filed model's metrics, the experiment's parameters and backend, the run's seconds."""
    from sqlmodel import select

    from lab.db import session_scope
    from lab.models import ModelVersion
    from lab.runner import Worker
    from lab.seed_banks import horizontal_experiment
    from lab.services import experiments

    exp_id = horizontal_experiment(
        engine,
        algorithm=algorithm,
        owner=owner,
        samples=cat.samples,
        indicators=cat.indicators[owner],
        backend=backend,
    )
    t = time.perf_counter()
    Worker(engine, "bench", work, runtime=runtime).run_once()
    seconds = time.perf_counter() - t
    with session_scope(engine) as s:
        exp = experiments.experiment_row(s, exp_id)
        if exp.failure_reason:
            raise SystemExit(f"{algorithm}: the run failed: {exp.failure_reason}")
        row = s.exec(select(ModelVersion).where(ModelVersion.experiment_id == exp_id)).one()
        return dict(row.metrics), dict(exp.params), exp.backend, seconds


def run(
    data_dir: Path, banks: int, algorithms: list[str], backend: str | None, runtime: str
) -> None:
    from features.validation import load_party_table
    from federation.homo.params import parse_params
    from federation.homo.reference import pooled_reference
    from federation.homo.split import TAIWAN_ID, TAIWAN_LABEL
    from lab.db import make_engine, upgrade
    from lab.jobs.experiment import nested_params
    from lab.seed_banks import seed_banks

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n_rows, files = _bank_files(data_dir, banks, root)
        frames = {
            b: load_party_table(p, id_column=TAIWAN_ID, label=TAIWAN_LABEL, id_kind="opaque")
            for b, p in files.items()
        }
        engine = make_engine(root / "lab.db", create=True)
        upgrade(engine)
        cat = seed_banks(engine, files, id_column=TAIWAN_ID, label=TAIWAN_LABEL)
        owner = sorted(files)[0]
        print(f"Taiwan default data: {n_rows} rows over {banks} banks (IID), runtime {runtime}")
        head = ("algorithm", "backend", "federated", "pooled", "diff", "seconds")
        print("{:<10} {:<10} {:>10} {:>8} {:>8} {:>8}".format(*head))
        for algorithm in algorithms:
            metrics, params, used, seconds = _through_the_lab(
                engine, cat, owner, algorithm, backend, root / "runs", runtime
            )
            ref = pooled_reference(
                frames,
                algorithm=algorithm,
                params=parse_params(nested_params(params), algorithm),
                id_column=TAIWAN_ID,
                label=TAIWAN_LABEL,
            )
            fed = float(metrics["auc"])
            print(
                f"{algorithm:<10} {used:<10} {fed:>10.4f} {ref.auc:>8.4f} "
                f"{fed - ref.auc:>+8.4f} {seconds:>8.1f}"
            )
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--banks", type=int, default=4)
    ap.add_argument("--algorithm", nargs="+", default=["homo_lr", "homo_nn"])
    ap.add_argument("--backend", default=None, help="default: each algorithm's recommended one")
    ap.add_argument("--runtime", default="local", choices=["local", "simulation"])
    a = ap.parse_args()
    run(a.data_dir, a.banks, a.algorithm, a.backend, a.runtime)


if __name__ == "__main__":
    main()
