"""`fedlab lab samples|experiments create|consents|authorizations|models` through the CLI."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from features.uscc import generate_usccs
from lab.cli import app
from lab.commands.labcmd import parse_param
from lab.errors import AccessDeniedError, ConfigError, ConsentError
from lab.sdk import Lab


@pytest.fixture
def db(tmp_path: Path) -> str:
    from lab.settings import get_settings

    get_settings.cache_clear()  # settings cached by an earlier test must not leak in
    path = str(tmp_path / "cli.db")
    assert CliRunner().invoke(app, ["lab", "init", "--db", path]).exit_code == 0
    out = CliRunner().invoke(app, ["lab", "seed", "--db", path, "--banks", "bank_a,bank_b"])
    assert out.exit_code == 0, out.output
    return path


def run(db: str, user: str, *args: str) -> object:
    return CliRunner().invoke(app, ["lab", *args, "--db", db, "--user", user])


def test_parse_param_reads_numbers_booleans_and_text() -> None:
    assert parse_param("epochs=10") == ("epochs", 10)
    assert parse_param(" learning_rate =1e-2") == ("learning_rate", 0.01)
    assert parse_param("early_stopping=false") == ("early_stopping", False)
    assert parse_param("sigmoid=taylor") == ("sigmoid", "taylor")
    assert parse_param('name="10"') == ("name", "10")
    with pytest.raises(ConfigError, match="must look like KEY=VALUE"):
        parse_param("epochs")
    with pytest.raises(ConfigError, match="not '\\[1, 2\\]'"):
        parse_param("epochs=[1, 2]")


def test_sample_experiment_consent_and_approval_from_the_cli(db: str) -> None:
    # A bank modeler registers a sample set
    made = run(
        db,
        "bank_a_modeler",
        "samples",
        "create",
        "--name",
        "2024H1",
        "--dataset",
        "bank_a",
        "--id-list",
        "ids/2024h1.csv",
        "--n-total",
        "800",
        "--n-positive",
        "64",
        "--observation-end",
        "2024-06-30",
    )
    assert made.exit_code == 0, made.output
    sample_id = int(made.output.split()[1].rstrip(":"))
    lab = Lab.connect(db, user="bank_a_ds")
    sample = lab.samples.get(sample_id)
    assert (sample.n_total, sample.n_positive, sample.observation_end) == (
        800,
        64,
        date(2024, 6, 30),
    )
    denied = run(
        db,
        "tax_officer",
        "samples",
        "create",
        "--name",
        "x",
        "--dataset",
        "bank_a",
        "--id-list",
        "x.csv",
    )
    assert isinstance(denied.exception, AccessDeniedError)

    # ... creates and submits an experiment with typed parameters
    created = run(
        db,
        "bank_a_modeler",
        "experiments",
        "create",
        "--sample",
        str(sample_id),
        "--algorithm",
        "hetero_lr",
        "--name",
        "tax+si lr",
        "--indicator",
        "taxes_paid_12m",
        "--indicator",
        "insured_employees",
        "--param",
        "epochs=5",
        "--param",
        "learning_rate=0.5",
        "--param",
        "early_stopping=false",
        "--backend",
        "plaintext",
        "--submit",
    )
    assert created.exit_code == 0, created.output
    assert "submitted" in created.output
    exp_id = int(created.output.split()[1].rstrip(":"))
    info = lab.experiments.get(exp_id).info
    assert info.params["epochs"] == 5 and info.params["learning_rate"] == 0.5
    assert info.params["early_stopping"] is False and info.params["l2"] == 0.0  # default filled
    assert info.indicator_codes == ["taxes_paid_12m", "insured_employees"]
    bad = run(
        db,
        "bank_a_modeler",
        "experiments",
        "create",
        "--sample",
        str(sample_id),
        "--algorithm",
        "hetero_lr",
        "--name",
        "bad",
        "--param",
        "epochs=0",
    )
    assert isinstance(bad.exception, ConfigError)
    assert "'epochs'=0 is out of bounds [1, 10000]" in str(bad.exception)

    # Social insurance has no standing consent: approval waits for its officer
    early = run(db, "staff", "experiments", "approve", str(exp_id))
    assert isinstance(early.exception, ConsentError)
    assert "social_insurance: ['insured_employees'] missing" in str(early.exception)
    wrong = run(
        db,
        "tax_officer",
        "consents",
        "grant",
        "--bank",
        "bank_a",
        "--indicator",
        "insured_employees",
    )
    assert isinstance(wrong.exception, AccessDeniedError)  # not tax's indicator
    granted = run(
        db,
        "social_insurance_officer",
        "consents",
        "grant",
        "--bank",
        "bank_a",
        "--indicator",
        "insured_employees",
        "--days",
        "30",
    )
    assert granted.exit_code == 0, granted.output
    assert "1 indicator(s) for bank_a" in granted.output
    approved = run(db, "staff", "experiments", "approve", str(exp_id), "--reason", "ok")
    assert approved.exit_code == 0 and "approved" in approved.output

    # The bank sees its grants; the other bank does not see this one
    assert "insured_employees" in run(db, "bank_a_ds", "consents", "list").output
    assert "insured_employees" not in run(db, "bank_b_ds", "consents", "list").output
    grant_id = int(granted.output.split()[1].rstrip(":"))
    revoked = run(
        db,
        "social_insurance_officer",
        "consents",
        "revoke",
        str(grant_id),
        "--reason",
        "audit finding",
    )
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    needs = {n.agency: n.status for n in lab.experiments.get(exp_id).consents()}
    assert needs == {"tax": "granted", "social_insurance": "revoked"}


def test_authorizations_import_counts_only(db: str, tmp_path: Path) -> None:
    ids = [str(c) for c in generate_usccs(5, np.random.default_rng(3))]
    rows = [  # (uscc, bank, granted_on, expires_on)
        (ids[0], "bank_a", "2024-01-01", "2025-01-01"),  # valid on 2024-06-30
        (ids[1], "bank_a", "2024-03-01", "2024-12-31"),  # valid
        (ids[2], "bank_a", "2022-01-01", "2023-01-01"),  # expired by then
        (ids[3], "bank_b", "2024-01-01", "2025-01-01"),  # another bank's: skipped
    ]
    path = tmp_path / "auth.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([("uscc", "bank", "granted_on", "expires_on"), *rows])
    before = Lab.connect(db, user="staff").consents.authorizations("bank_a", date(2024, 6, 30))

    out = run(db, "bank_a_modeler", "authorizations", "import", str(path), "--bank", "bank_a")
    assert out.exit_code == 0, out.output
    shown = run(
        db, "bank_a_ds", "authorizations", "show", "--bank", "bank_a", "--as-of", "2024-06-30"
    )
    assert shown.output.strip() == (
        f"bank_a: {before.total + 3} authorizations, {before.valid + 2} valid on 2024-06-30"
    )
    assert all(i not in out.output + shown.output for i in ids)  # counts, never IDs
    again = run(db, "bank_a_modeler", "authorizations", "import", str(path), "--bank", "bank_a")
    assert f"{before.total + 3} authorizations" in again.output  # duplicates skipped

    ds = run(db, "bank_a_ds", "authorizations", "import", str(path), "--bank", "bank_a")
    assert isinstance(ds.exception, AccessDeniedError)  # only the bank's modeler imports
    other = run(db, "bank_b_modeler", "authorizations", "import", str(path), "--bank", "bank_a")
    assert isinstance(other.exception, AccessDeniedError)
    missing = run(
        db,
        "bank_a_modeler",
        "authorizations",
        "import",
        str(tmp_path / "no.csv"),
        "--bank",
        "bank_a",
    )
    assert isinstance(missing.exception, ConfigError) and "no.csv" in str(missing.exception)


def test_indicator_search_and_models_list(db: str) -> None:
    found = run(db, "bank_a_ds", "indicators", "search", "纳税")
    assert found.exit_code == 0 and "taxes_paid_12m" in found.output
    assert "insured_employees" not in found.output
    courts = run(db, "bank_a_ds", "indicators", "search", "--owner", "courts").output
    assert "lawsuits_defendant_24m" in courts and "taxes_paid_12m" not in courts
    empty = run(db, "bank_a_ds", "models", "list")
    assert empty.exit_code == 0 and empty.output == ""


def test_worker_once_runs_what_is_approved_and_refuses_a_federation_it_cannot_reach(
    tmp_path: Path,
) -> None:
    from features.synth import generate, write
    from lab.settings import get_settings

    get_settings.cache_clear()
    write(tmp_path / "data", generate(200, 5, banks=("bank_a",)))
    db = str(tmp_path / "cli.db")
    assert CliRunner().invoke(app, ["lab", "init", "--db", db]).exit_code == 0
    seeded = CliRunner().invoke(
        app, ["lab", "seed", "--db", db, "--banks", "bank_a", "--data", str(tmp_path / "data")]
    )
    assert seeded.exit_code == 0, seeded.output
    ds = Lab.connect(db, user="bank_a_ds")
    exp = ds.experiments.create(
        name="cli worker",
        sample=ds.samples.list()[0].id,
        algorithm="hetero_lr",
        indicators=["taxes_paid_12m", "tax_arrears_amount"],
        params={"epochs": 2},
        backend="plaintext",
    ).submit()
    Lab.connect(db, user="staff").experiments.get(exp.id).approve("parties checked")

    def worker(*args: str) -> Any:
        return CliRunner().invoke(
            app,
            [
                "lab",
                "worker",
                "--db",
                db,
                "--once",
                "--id",
                "cli",
                "--runs",
                str(tmp_path / "runs"),
                *args,
            ],
        )

    # a federation named for another runtime, or one that is not there: nothing is claimed
    mixed = worker("--runtime", "simulation", "--superlink", "127.0.0.1:9093")
    assert isinstance(mixed.exception, ConfigError)
    assert "deployment runtime only" in str(mixed.exception)
    absent = worker("--runtime", "deployment", "--state-dir", str(tmp_path / "no-fed"))
    assert isinstance(absent.exception, ConfigError)
    assert f"no federation in {tmp_path / 'no-fed'}" in str(absent.exception)
    assert ds.experiments.get(exp.id).info.status.value == "approved"

    done = worker("--runtime", "local")
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        "worker cli: local runtime",
        "worker cli: 1 experiment(s) processed",
    ]
    info = ds.experiments.get(exp.id).info
    assert info.status.value == "succeeded", info.failure_reason
    (model,) = ds.models.list()
    assert model.experiment_id == exp.id and model.lineage["runtime"] == "local"
    assert len(model.metrics["loss"]) == 2 and 0.5 < model.metrics["auc"] <= 1.0
    idle = worker("--runtime", "local")
    assert idle.output.splitlines()[-1] == "worker cli: 0 experiment(s) processed"
