"""The catalog part of ``fedlab demo``: the lab's whole workflow on the demo's data.

Given a folder of synthetic party files (``features.synth``: one bank named ``bank``, the
agencies and ``authorizations.csv``), :func:`run_lab_flow`

1. creates a SQLite catalog at ``out/catalog.db`` and seeds it (platform, the bank, the
   agencies, users, algorithms, indicators, standing consents of tax and market
   regulation, the bank's enterprise authorizations imported from the data folder);
2. as the bank modeler, registers a sample set (counts only) and creates two experiments
   on it — hetero LR and SecureBoost over bank, tax, social insurance and courts
   indicators — and submits them;
3. as the officers of the agencies whose consent is missing, grants it;
4. as platform staff, approves both;
5. runs a worker (``Worker.run_once`` per experiment) through ``federation.run`` on the
   chosen runtime; each run files a candidate model version with its metrics;
6. as the bank modeler, publishes the better model; as staff, verifies the audit chain.

Every user's step goes through the lab server (lab.server, started on loopback for the
demo): each user holds a bearer token, never a database handle; only the platform's worker
and the seeding open the catalog.

What leaves a party: the same as in any federated run (protocol messages, metrics.json
aggregates to the coordinator and the catalog). The catalog receives metadata, counts and
aggregate metrics only; the summary printed here is aggregates only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from lab.sdk import ExperimentHandle, Lab

Echo = Callable[[str], Any]

CATALOG_FILE = "catalog.db"
BANK = "bank"
HOSTS = ("tax", "social_insurance", "courts")
BANK_COLUMNS = (
    "acct_avg_monthly_inflow",
    "acct_avg_balance",
    "acct_inflow_volatility",
    "loan_overdue_count_24m",
    "loan_max_overdue_days",
    "credit_line_utilization",
)
HOST_INDICATORS = (
    "taxes_paid_12m",
    "tax_credit_grade",
    "tax_arrears_amount",
    "insured_employees",
    "contribution_arrears_months_12m",
    "lawsuits_defendant_24m",
    "enforcement_cases_24m",
    "dishonest_debtor",
)


@dataclass(frozen=True)
class DemoExperiment:
    """One experiment of the flow: its algorithm, backend and parameters."""

    name: str
    algorithm: str
    params: dict[str, Any]
    backend: str = "paillier"


EXPERIMENTS: tuple[DemoExperiment, ...] = (
    DemoExperiment(
        "hetero LR, bank + tax + social insurance + courts",
        "hetero_lr",
        {"epochs": 10, "learning_rate": 0.3, "l2": 0.01, "key_bits": 1024},
    ),
    DemoExperiment(
        "SecureBoost, bank + tax + social insurance + courts",
        "secureboost",
        {"n_trees": 5, "max_depth": 3, "learning_rate": 0.3, "key_bits": 1024},
    ),
)


def _check_data(data_dir: Path) -> None:
    need = [f"{BANK}.csv", "authorizations.csv", *(f"{h}.csv" for h in HOSTS)]
    missing = [n for n in need if not (data_dir / n).is_file()]
    if missing:
        raise ConfigError(
            f"demo data folder {str(data_dir)!r} lacks {missing}",
            hint="Generate it first: fedlab data synth --out DIR "
            "(one bank named 'bank' plus the agencies).",
        )


def _fmt(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, int | float) else "-"


def run_lab_flow(
    *,
    out: Path,
    data_dir: Path,
    runtime: str = "simulation",
    echo: Echo = print,
    experiments: tuple[DemoExperiment, ...] = EXPERIMENTS,
) -> dict[str, Any]:
    """Seed a catalog, run the bank → agency → staff → worker → model library flow.

    ``out/catalog.db`` is created (a catalog left by an earlier run is replaced); the
    worker's run folders go to ``out/lab_runs``. Returns a summary: per experiment its
    status, model version and metrics; the published model; the audit chain's state.
    """
    from lab.db import make_engine, upgrade

    started = time.perf_counter()
    out, data_dir = Path(out).resolve(), Path(data_dir).resolve()
    _check_data(data_dir)
    out.mkdir(parents=True, exist_ok=True)
    db = _fresh_catalog_path(out)
    engine = make_engine(db, create=True)  # the demo makes its own catalog
    try:
        upgrade(engine)
        summary = _flow(engine, db, out, data_dir, runtime, echo, experiments, started)
    finally:
        engine.dispose()
    _echo_summary(summary, echo)
    return summary


def _flow(
    engine: Engine,
    db: Path,
    out: Path,
    data_dir: Path,
    runtime: str,
    echo: Echo,
    experiments: tuple[DemoExperiment, ...],
    started: float,
) -> dict[str, Any]:
    """Steps 1-6, the users' ones through a lab server on loopback."""
    from lab.seed import seed_demo
    from lab.server.embedded import serve

    with serve(engine) as url:
        as_user = _users(engine, url)
        seeded = seed_demo(engine, banks=(BANK,), data_dir=data_dir)
        echo(
            f"[lab 1/5] Catalog {db.name}: platform, bank {BANK!r}, {len(seeded.agencies)} "
            f"agencies, {len(seeded.users)} users, "
            f"{sum(len(v) for v in seeded.indicators.values())} indicators; lab server on "
            f"{url}"
        )
        modeler, staff = as_user(f"{BANK}_modeler"), as_user("staff")
        sample_id, handles = _submit_experiments(modeler, data_dir, experiments, echo)
        _grant_missing_consents(as_user, handles, echo)
        for exp in handles:
            staff.experiments.get(exp.id).approve("demo: purpose and parties checked")
        echo(
            f"[lab 4/5] staff approved experiments {[e.id for e in handles]}; worker runs "
            f"them on the {runtime} runtime"
        )
        results = _run_worker(engine, out, runtime, handles, staff, modeler, echo)
        return {
            "catalog": str(db),
            "server": url,
            "runtime": runtime,
            "sample": sample_id,
            "experiments": results,
            "published": _publish_best(modeler, results),
            "audit": _audit_state(staff),
            "seconds": round(time.perf_counter() - started, 1),
        }


def _fresh_catalog_path(out: Path) -> Path:
    """``out/catalog.db`` with any catalog (and its SQLite journals) of an earlier run gone."""
    db = out / CATALOG_FILE
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    return db


def _users(engine: Engine, url: str) -> Callable[[str], Lab]:
    """``as_user(name)``: an SDK connection to the lab server at ``url`` as the demo user
    ``name``, with a day's API token the platform mints for it (the demo's users have no
    password: a local demo catalog)."""
    from lab.db import session_scope
    from lab.sdk import Lab
    from lab.services import tokens
    from lab.services.catalog import authenticate

    def as_user(name: str) -> Lab:
        with session_scope(engine) as s:
            me = authenticate(session=s, username=name, password=None, password_required=False)
            _, token = tokens.mint_token(session=s, actor=me, name="fedlab demo", days=1)
        return Lab.connect(url, token=token)

    return as_user


def _submit_experiments(
    modeler: Lab, data_dir: Path, experiments: tuple[DemoExperiment, ...], echo: Echo
) -> tuple[int, list[ExperimentHandle]]:
    """[lab 2/5] The bank's sample set (counts only) and its experiments, submitted."""
    from lab.seed import LABEL, OBSERVATION_END, csv_counts

    rows, positives = csv_counts(data_dir / f"{BANK}.csv", LABEL)
    sample = modeler.samples.create(
        name="demo applicants, default within 12 months",
        dataset=BANK,
        label_column=LABEL,
        id_list_location=str(data_dir / f"{BANK}.csv"),
        label_definition="90+ days past due within 12 months after the observation date",
        observation_start=date(2023, 7, 1),
        observation_end=OBSERVATION_END,
        n_total=rows,
        n_positive=positives,
    )
    indicators = [f"{BANK}_{c}" for c in BANK_COLUMNS] + list(HOST_INDICATORS)
    handles = []
    for spec in experiments:
        exp = modeler.experiments.create(
            name=spec.name,
            sample=sample.id,
            algorithm=spec.algorithm,
            indicators=indicators,
            params=spec.params,
            backend=spec.backend,
        )
        handles.append(exp.submit("demo"))
    echo(
        f"[lab 2/5] {BANK}_modeler: sample {sample.id} ({rows} enterprises, {positives} "
        f"defaults), {len(handles)} experiments submitted"
    )
    return sample.id, handles


def _grant_missing_consents(
    as_user: Callable[[str], Lab], handles: list[ExperimentHandle], echo: Echo
) -> None:
    """[lab 3/5] The officers of the agencies whose consent is missing grant it."""
    from lab.seed import STANDING_CONSENTS

    granted: list[str] = []
    for exp in handles:
        for need in exp.consents():
            if need.status == "granted":
                continue
            officer = as_user(f"{need.agency}_officer")
            officer.consents.grant(bank=BANK, indicators=need.indicators, days=365)
            granted.append(need.agency)
    echo(
        f"[lab 3/5] Consent granted by {', '.join(sorted(set(granted))) or 'nobody'} "
        f"(standing consent: {', '.join(STANDING_CONSENTS)})"
    )


def _relaying_executor(echo: Echo) -> Any:
    """The federation executor, echoing each epoch's (or tree's) loss as it comes."""
    from lab.runner import federation_executor

    def executor(cfg: Any, out_dir: Path, rt: str, progress: Any) -> dict[str, Any]:
        def relay(event: str, fields: dict[str, Any]) -> None:
            if event in ("epoch", "tree") and isinstance(fields.get("loss"), int | float):
                echo(
                    f"          {cfg.experiment.name} {event} {fields.get(event)}: "
                    f"loss {fields['loss']:.4f}"
                )
            progress(event, fields)

        return federation_executor(cfg, out_dir, rt, relay)

    return executor


def _run_worker(
    engine: Engine,
    out: Path,
    runtime: str,
    handles: list[ExperimentHandle],
    staff: Lab,
    modeler: Lab,
    echo: Echo,
) -> list[dict[str, Any]]:
    """A worker runs each approved experiment; one result row per experiment."""
    from lab.runner import Worker

    worker = Worker(
        engine, "demo", out / "lab_runs", executor=_relaying_executor(echo), runtime=runtime
    )
    results: list[dict[str, Any]] = []
    for exp in handles:
        t = time.perf_counter()
        worker.run_once()
        row = _result_row(exp.id, staff, modeler, round(time.perf_counter() - t, 1))
        results.append(row)
        echo(
            f"          experiment {exp.id} {row['algorithm']}: {row['status']} in "
            f"{row['seconds']} s" + (f" ({row['failure_reason']})" if row["failure_reason"] else "")
        )
    return results


def _result_row(exp_id: int, staff: Lab, modeler: Lab, seconds: float) -> dict[str, Any]:
    """An experiment's outcome: status and, once it succeeded, its model's figures."""
    info = staff.experiments.get(exp_id).info
    row: dict[str, Any] = {
        "id": exp_id,
        "name": info.name,
        "algorithm": exp_algorithm(staff, info.algorithm_id),
        "status": info.status.value,
        "seconds": seconds,
        "failure_reason": info.failure_reason,
    }
    if info.status.value == "succeeded":
        mv = modeler.experiments.get(exp_id).model
        row.update(
            model_id=mv.id,
            model=mv.name,
            version=mv.version,
            model_status=mv.status.value,
            auc=mv.metrics.get("auc"),
            ks=mv.metrics.get("ks"),
            roc_points=len(mv.roc.get("fpr", [])),
        )
    return row


def _publish_best(modeler: Lab, results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The bank modeler publishes the model with the best validation AUC (None: no model)."""
    done = [r for r in results if r["status"] == "succeeded"]
    if not done:
        return None
    best = max(done, key=lambda r: r.get("auc") or 0.0)
    mv = modeler.models.publish(best["model_id"], "demo: best validation AUC")
    best["model_status"] = mv.status.value
    return {"id": mv.id, "model": mv.name, "version": mv.version, "algorithm": mv.algorithm}


def _audit_state(staff: Lab) -> dict[str, Any]:
    """Staff verify the audit chain: whether it holds, its length and head."""
    report = staff.audit.verify()
    return {
        "ok": report.ok,
        "events": report.events,
        "head": report.head_hash,
        "problem": report.problem,
    }


def exp_algorithm(lab: Any, algorithm_id: int) -> str:
    """The algorithm's name for an experiment's ``algorithm_id``."""
    return next((a.name for a in lab.algorithms.list() if a.id == algorithm_id), "?")


def _echo_summary(summary: dict[str, Any], echo: Echo) -> None:
    echo("[lab 5/5] Model library and audit trail (aggregates only):")
    for r in summary["experiments"]:
        model = (
            (
                f"{r['model']} v{r['version']} [{r['model_status']}]  AUC {_fmt(r.get('auc'))}"
                f"  KS {_fmt(r.get('ks'))}"
            )
            if "model" in r
            else "no model"
        )
        echo(f"  experiment {r['id']:<3} {r['algorithm']:<12} {r['status']:<10} {model}")
    pub = summary["published"]
    echo(
        "  published: "
        + (
            f"{pub['model']} v{pub['version']} ({pub['algorithm']})"
            if pub
            else "nothing (no experiment succeeded)"
        )
    )
    audit = summary["audit"]
    echo(
        f"  audit chain {'OK' if audit['ok'] else 'BROKEN: ' + audit['problem']} with "
        f"{audit['events']} events, head {audit['head'][:16]}"
    )
    echo(f"  catalog {summary['catalog']}  ({summary['seconds']} s)")


__all__ = ["EXPERIMENTS", "DemoExperiment", "exp_algorithm", "run_lab_flow"]
