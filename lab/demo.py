"""The end-to-end demo behind ``fedlab demo``.

On synthetic data it shows what the lab does, step by step:

1. generate one CSV per party (a bank and five agencies) plus the authorization table;
2. a *reference* computed only because the demo owns all synthetic data: a centralized
   model on the pooled rows, with bank-only features and with every party's features
   (in production nobody can pool the rows — that is the point of the lab);
3. a federated hetero logistic regression on the Flower runtime (simulation by default):
   PSI alignment over authorized enterprises, Paillier-encrypted training, evaluation;
4. the lab's workflow on the same data (``lab.demo_lab``): a catalog is seeded, the bank
   modeler submits hetero LR and SecureBoost experiments, agencies consent, platform staff
   approve, the worker runs them, the better model is published in the model library and
   the audit chain is verified;
5. a summary: federated AUC/KS next to the centralized reference, bytes and exchanges.

Only aggregates are printed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEMO_HOSTS = ("tax", "social_insurance", "courts")


@dataclass
class DemoResult:
    out: Path
    reference: dict[str, float] = field(default_factory=dict)
    federated: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    lab: dict[str, Any] = field(default_factory=dict)


def write_experiment(
    path: Path, *, data_dir: Path, backend: str, runtime: str, params: dict[str, Any]
) -> Path:
    """The demo's experiment.toml (relative data paths)."""
    rel = data_dir.relative_to(path.parent) if data_dir.is_relative_to(path.parent) else data_dir
    lines = [
        "[experiment]",
        'name = "demo-hetero-lr"',
        'algorithm = "hetero_lr"',
        f'backend = "{backend}"',
        'id_column = "uscc"',
        f'runtime = "{runtime}"',
        'authorization = "required"',
        'as_of = "2024-06-30"',
        "",
        "[params]",
    ]
    for k, v in params.items():
        lines.append(f"{k} = {json.dumps(v)}")
    lines += [
        "",
        "[[parties]]",
        'name = "bank"',
        'role = "guest"',
        f'data = "{rel / "bank.csv"}"',
        'label = "default_12m"',
        f'authorizations = "{rel / "authorizations.csv"}"',
    ]
    for h in DEMO_HOSTS:
        lines += [
            "",
            "[[parties]]",
            f'name = "{h}"',
            'role = "host"',
            f'data = "{rel / (h + ".csv")}"',
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def centralized_reference(tables: dict[str, Any], *, seed: int) -> dict[str, float]:
    """AUC of a centralized LR: bank-only vs bank + demo agencies, on the pooled rows."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from features.encoding import party_matrix

    bank = party_matrix(tables["bank"], id_column="uscc", label="default_12m")
    frames = [pd.DataFrame(bank.X, index=bank.ids)]
    for h in DEMO_HOSTS:
        m = party_matrix(tables[h], id_column="uscc")
        frames.append(pd.DataFrame(m.X, index=m.ids, columns=[f"{h}:{n}" for n in m.feature_names]))
    joined = pd.concat(frames, axis=1, join="inner")
    y = pd.Series(bank.y, index=bank.ids).loc[joined.index].to_numpy()
    n_bank = bank.X.shape[1]
    X = joined.to_numpy()
    tr, te = train_test_split(np.arange(len(y)), test_size=0.3, random_state=seed, stratify=y)
    out: dict[str, float] = {"rows": float(len(y))}
    for name, cols in (("bank_only_auc", slice(0, n_bank)), ("all_parties_auc", slice(None))):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(X[tr][:, cols], y[tr])
        out[name] = float(roc_auc_score(y[te], model.predict_proba(X[te][:, cols])[:, 1]))
    return out


def _step_data(out: Path, res: DemoResult, enterprises: int, seed: int, echo: Any) -> Any:
    """[1/4] The synthetic party files under ``out/data``; returns the tables."""
    from features import synth

    t = time.perf_counter()
    echo(
        f"[1/4] Synthetic data: {enterprises} enterprises, a bank and {len(synth.AGENCIES)} "
        f"agencies (seed {seed})"
    )
    tables = synth.generate(enterprises, seed)
    paths = synth.write(out / "data", tables)
    for name, p in paths.items():
        echo(f"      {name:<18} {len(tables[name]):>7} rows  -> {p.relative_to(out.parent)}")
    res.seconds["data"] = time.perf_counter() - t
    return tables


def _step_reference(res: DemoResult, tables: Any, seed: int, echo: Any) -> None:
    """[2/4] The centralized reference (possible only on synthetic data)."""
    t = time.perf_counter()
    echo("[2/4] Reference (possible only on synthetic data): centralized LR on pooled rows")
    res.reference = centralized_reference(tables, seed=seed)
    echo(
        f"      bank-only AUC {res.reference['bank_only_auc']:.3f}  |  bank + "
        f"{', '.join(DEMO_HOSTS)} AUC {res.reference['all_parties_auc']:.3f}"
    )
    res.seconds["reference"] = time.perf_counter() - t


def _echo_progress(echo: Any) -> Any:
    """A run's progress callback that prints its phases and epochs."""

    def progress(event: str, fields: dict[str, Any]) -> None:
        if event == "phase":
            echo(f"      phase: {fields.get('phase') or fields.get('name')}")
        elif event == "epoch":
            loss = fields.get("loss")
            echo(
                f"      epoch {fields.get('epoch')}: loss "
                + (f"{loss:.4f}" if isinstance(loss, (int, float)) else str(loss))
            )

    return progress


def _step_federated(out: Path, res: DemoResult, runtime: str, backend: str, echo: Any) -> Path:
    """[3/4] The federated hetero LR run; returns its run folder."""
    from federation.run import run_experiment

    t = time.perf_counter()
    echo(
        f"[3/4] Federated hetero LR ({backend}) on the Flower {runtime} runtime: PSI "
        "alignment over authorized enterprises, encrypted training"
    )
    cfg = write_experiment(
        out / "experiment.toml",
        data_dir=out / "data",
        backend=backend,
        runtime=runtime,
        params={"epochs": 15, "learning_rate": 0.3, "l2": 0.01, "key_bits": 2048},
    )
    run_dir = out / "hetero_lr"
    summary = run_experiment(cfg, run_dir, progress=_echo_progress(echo))
    res.federated = dict(summary.metrics)
    res.seconds["federated"] = time.perf_counter() - t
    return run_dir


def _step_lab(out: Path, res: DemoResult, runtime: str, echo: Any) -> None:
    """[4/4] The lab's workflow on the same data (lab.demo_lab)."""
    from lab.demo_lab import run_lab_flow

    t = time.perf_counter()
    echo(
        "[4/4] The lab's workflow (数据模型实验室): catalog, submit, consent, approve, "
        "worker, model library, audit"
    )
    res.lab = run_lab_flow(out=out / "lab", data_dir=out / "data", runtime=runtime, echo=echo)
    res.seconds["lab"] = time.perf_counter() - t


def _echo_result(out: Path, res: DemoResult, run_dir: Path, echo: Any) -> None:
    """The closing summary: aggregates only."""
    m = res.federated
    echo("")
    echo("Result (aggregates only):")
    echo(f"  aligned enterprises     {m.get('n_aligned')}")
    echo(
        f"  federated AUC / KS      {m.get('auc', float('nan')):.3f} / "
        f"{m.get('ks', float('nan')):.3f}"
    )
    echo(
        f"  centralized AUC (ref.)  {res.reference['all_parties_auc']:.3f}   bank-only "
        f"{res.reference['bank_only_auc']:.3f}"
    )
    echo(f"  exchanges               {m.get('n_exchanges')}")
    echo(f"  model pieces            {run_dir / 'parties'} (one folder per party)")
    echo(f"  what each party learned {run_dir / 'disclosure.json'}")
    if res.lab:
        echo(
            f"  lab catalog             {out / 'lab' / 'catalog.db'} (open it: fedlab ui "
            f"--db {out / 'lab' / 'catalog.db'})"
        )
    echo("  seconds                 " + ", ".join(f"{k} {v:.0f}" for k, v in res.seconds.items()))


def run_demo(
    out: Path,
    *,
    enterprises: int = 4000,
    seed: int = 7,
    runtime: str = "simulation",
    backend: str = "paillier",
    echo: Any = print,
    lab_flow: bool = True,
) -> DemoResult:
    """Run the demo into ``out`` (created; an existing demo run there is replaced)."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    res = DemoResult(out=out)
    tables = _step_data(out, res, enterprises, seed, echo)
    _step_reference(res, tables, seed, echo)
    run_dir = _step_federated(out, res, runtime, backend, echo)
    if lab_flow:
        _step_lab(out, res, runtime, echo)
    _echo_result(out, res, run_dir, echo)
    return res


__all__ = ["DemoResult", "centralized_reference", "run_demo", "write_experiment"]
