"""A seeded demo catalog for the sandbox tests, with sentinels planted in every party's file.

Built once per test process (argon2 hashing and seeding are slow) and copied per test:
synthetic data for two banks and three agencies, every party's CSV and the authorization
table carrying unique sentinel strings and numbers, the demo catalog pointing at them,
and experiments in every interesting state (draft, submitted with a consent missing,
submitted and approvable, two succeeded runs with model versions).
"""

from __future__ import annotations

import csv
import json
import shutil
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from lab.db import make_engine, session_scope, upgrade
from lab.models import ExperimentCreate, Role, UserCreate
from lab.runner import Worker
from lab.seed import seed_demo
from lab.services import experiments
from lab.services.access import Principal
from lab.services.catalog import authenticate, create_user

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "sandbox_ui" / "app.py"
BANKS = ("bank_a", "bank_b")
AGENCIES = ("tax", "social_insurance", "courts")
PASSWORD = "sandbox-test-pw-1"  # a throwaway password of throwaway test users
SIGNIN_USERS = {"alice": (Role.BANK_MODELER, "bank_a"), "sam": (Role.PLATFORM_STAFF, "platform")}
ROLE_USERS = {
    Role.BANK_MODELER: "bank_a_modeler",
    Role.DATA_SCIENTIST: "bank_a_ds",
    Role.AGENCY_OFFICER: "social_insurance_officer",
    Role.PLATFORM_STAFF: "staff",
    Role.ADMIN: "admin",
}


@dataclass
class Template:
    db: Path
    data: Path
    sentinels: list[str]
    ids: dict[str, int] = field(default_factory=dict)
    indicators: dict[str, list[str]] = field(default_factory=dict)


def sentinel_for(party: str, column: str) -> str:
    return f"SNTL{zlib.crc32(f'{party}/{column}'.encode()) % 10**6:06d}{party[:3].upper()}"


def plant_sentinels(data: Path) -> list[str]:
    """Overwrite the first rows of every party file with unique strings and numbers."""
    planted: list[str] = []
    for path in sorted(data.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
        party = path.stem
        for i, row in enumerate(rows[:3]):
            for j, col in enumerate(fields):
                value = row[col]
                if col in ("uscc",):
                    # an 18-character ID that is also a sentinel
                    row[col] = f"9{len(planted):03d}SNTL{i}{j:02d}{party[:4].upper():<4}"[
                        :18
                    ].ljust(18, "Z")
                    planted.append(row[col])
                elif _is_number(value) and col not in ("default_12m",):
                    number = f"{7_300_000 + 17 * len(planted) + i}.{731 + j}"
                    row[col] = number
                    planted.append(number)
                elif (
                    value and not _is_number(value) and col not in ("bank",) and not _is_date(value)
                ):
                    row[col] = sentinel_for(party, f"{col}{i}")
                    planted.append(row[col])
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    return planted


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return v.strip() != ""


def _is_date(v: str) -> bool:
    return len(v) == 10 and v[4] == "-" and v[7] == "-"


def stand_in_executor(cfg: Any, out_dir: Path, runtime: str, progress: Any) -> dict[str, Any]:
    """Stands in for the federation: per-epoch loss, then metrics.json with ROC points, a
    score histogram and scorecard points (computed on numbers made up here, not on data)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    rng = np.random.default_rng(zlib.crc32(cfg.experiment.name.encode()))
    for epoch in range(3):
        progress("epoch", {"epoch": epoch, "loss": 0.69 - 0.05 * epoch})
    n = 240
    y = (rng.random(n) < 0.2).astype(int)
    score = rng.normal(size=n) + 1.2 * y
    fpr, tpr, _ = roc_curve(y, score)
    edges = np.quantile(score, np.linspace(0, 1, 11))
    hist_pos = np.histogram(score[y == 1], edges)[0]
    hist_neg = np.histogram(score[y == 0], edges)[0]
    guest_cols = [
        c
        for p, cols in (cfg.experiment.features or {}).items()
        if p == cfg.guest.name
        for c in cols
    ]
    host_cols = [
        c
        for p, cols in (cfg.experiment.features or {}).items()
        if p != cfg.guest.name
        for c in cols
    ]
    metrics: dict[str, Any] = {
        "auc": float(roc_auc_score(y, score)),
        "ks": float(np.max(tpr - fpr)),
        "n_aligned": 1200,
        "n_train": 960,
        "n_valid": n,
        "n_valid_positive": int(y.sum()),
        "loss": [0.69, 0.64, 0.59],
        "epochs": 3,
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
        "score_hist_pos": hist_pos.tolist(),
        "score_hist_neg": hist_neg.tolist(),
        "points_base": 600,
    }
    for c in guest_cols[:2] + host_cols[:1]:
        metrics[f"points.{c}.low"] = 12
        metrics[f"points.{c}.high"] = -8
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return metrics


def who(engine: Engine, username: str) -> Principal:
    with session_scope(engine) as s:
        return authenticate(session=s, username=username, password=None, password_required=False)


def new_experiment(
    engine: Engine,
    user: str,
    sample_id: int,
    name: str,
    indicators: list[str],
    *,
    submit: bool = True,
    approve: bool = False,
) -> int:
    me, staff = who(engine, user), who(engine, "staff")
    with session_scope(engine) as s:
        exp = experiments.create_experiment(
            session=s,
            actor=me,
            experiment_in=ExperimentCreate(
                name=name,
                sample_id=sample_id,
                algorithm="hetero_lr",
                indicator_codes=indicators,
                params={"epochs": 3},
                backend="plaintext",
            ),
        )
        if submit:
            experiments.submit_experiment(session=s, actor=me, experiment_id=exp.id)
        if approve:
            experiments.approve_experiment(
                session=s, actor=staff, experiment_id=exp.id, reason="looks fine"
            )
    return exp.id


def run_worker(engine: Engine, runs: Path, *, real: bool = False) -> list[int]:
    """Run every approved experiment; ``real`` uses the federation (local runtime)."""
    from lab.runner import federation_executor

    worker = Worker(
        engine,
        "sandbox-test",
        runs,
        executor=federation_executor if real else stand_in_executor,
        runtime="local",
    )
    while worker.run_once():
        pass
    return worker.processed


_TEMPLATES: dict[Path, Template] = {}


def build_template(root: Path, *, n: int = 300, plant: bool = True) -> Template:
    """The seeded catalog and planted data under ``root`` (once per process).

    ``plant=False`` keeps the data clean (valid USCCs) so real federated runs work on it.
    """
    if root in _TEMPLATES:
        return _TEMPLATES[root]
    from features import synth

    shutil.rmtree(root, ignore_errors=True)
    data = root / "data"
    synth.write(data, synth.generate(n, 11, banks=BANKS))
    planted = plant_sentinels(data) if plant else []
    engine = make_engine(root / "lab.db", create=True)
    upgrade(engine)
    seed = seed_demo(
        engine, banks=BANKS, data_dir=data, agencies=AGENCIES, standing_consents=("tax",)
    )
    admin = who(engine, "admin")
    with session_scope(engine) as s:
        for name, (role, org) in SIGNIN_USERS.items():
            create_user(
                session=s,
                actor=admin,
                user_in=UserCreate(username=name, role=role, org_code=org, password=PASSWORD),
            )
    own_a, tax = seed.indicators["bank_a"][:4], seed.indicators["tax"][:3]
    social = seed.indicators["social_insurance"][:2]
    tpl = Template(
        db=root / "lab.db", data=data, sentinels=planted, indicators=dict(seed.indicators)
    )
    tpl.ids["done1"] = new_experiment(
        engine, "bank_a_modeler", seed.samples["bank_a"], "bank_a tax lr", own_a + tax, approve=True
    )
    tpl.ids["done2"] = new_experiment(
        engine, "bank_a_ds", seed.samples["bank_a"], "bank_a tax lr", own_a[:2] + tax, approve=True
    )
    run_worker(engine, root / "runs")
    tpl.ids["needs_consent"] = new_experiment(
        engine, "bank_a_ds", seed.samples["bank_a"], "bank_a social lr", own_a + social
    )
    tpl.ids["approvable"] = new_experiment(
        engine, "bank_a_modeler", seed.samples["bank_a"], "bank_a waiting", own_a + tax
    )
    tpl.ids["draft_b"] = new_experiment(
        engine,
        "bank_b_modeler",
        seed.samples["bank_b"],
        "bank_b draft",
        seed.indicators["bank_b"][:3],
        submit=False,
    )
    tpl.ids["sample_a"] = seed.samples["bank_a"]
    engine.dispose()
    _TEMPLATES[root] = tpl
    return tpl


def sandbox_catalog(url: str, monkeypatch: Any) -> Iterator[Engine]:
    """Point the sandbox app (AppTest) at the catalog ``url`` (local environment, default
    k) and yield an engine on it; for a fixture: ``yield from sandbox_catalog(...)``."""
    monkeypatch.setenv("FEDLAB_DATABASE_URL", url)
    monkeypatch.setenv("FEDLAB_ENVIRONMENT", "local")
    monkeypatch.delenv("FEDLAB_UI_MIN_CELL", raising=False)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def copy_catalog(tpl: Template, dest: Path) -> str:
    """A private copy of the template catalog; returns its URL."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(tpl.db, dest / "lab.db")
    return f"sqlite:///{dest / 'lab.db'}"


__all__ = [
    "APP",
    "PASSWORD",
    "ROLE_USERS",
    "SIGNIN_USERS",
    "Template",
    "build_template",
    "copy_catalog",
    "new_experiment",
    "run_worker",
    "sandbox_catalog",
    "stand_in_executor",
    "who",
]
