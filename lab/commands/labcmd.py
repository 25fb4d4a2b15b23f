"""``fedlab lab ...``: the catalog, the worker and the audit trail.

Every command acts as a catalog user (``--user`` or FEDLAB_USER; the password comes from
FEDLAB_PASSWORD, never from the command line) through lab.services, so it sees and may do
exactly what that user may in the SDK or the sandbox. With ``--db https://…`` (or
FEDLAB_SERVER) the command is a client of the lab server: it sends FEDLAB_TOKEN (or signs
in with the user's password) and holds no database handle.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from features.disclosure import DEFAULT_MIN_CELL
from lab.default_rules import describe

app = typer.Typer(no_args_is_help=True)
experiments_app = typer.Typer(
    no_args_is_help=True, help="Create, list, show, submit, approve, reject, cancel, resubmit."
)
audit_app = typer.Typer(no_args_is_help=True, help="Verify and read the audit trail.")
indicators_app = typer.Typer(no_args_is_help=True, help="Search the indicator library (指标库).")
samples_app = typer.Typer(no_args_is_help=True, help="Register and list sample sets (样本库).")
consents_app = typer.Typer(no_args_is_help=True, help="Agency consent: grant, list, revoke.")
authorizations_app = typer.Typer(
    no_args_is_help=True, help="Enterprise authorizations (查询授权): import, counts."
)
models_app = typer.Typer(no_args_is_help=True, help="The model library (模型库): list, publish.")
app.add_typer(experiments_app, name="experiments")
app.add_typer(audit_app, name="audit")
app.add_typer(indicators_app, name="indicators")
app.add_typer(samples_app, name="samples")
app.add_typer(consents_app, name="consents")
app.add_typer(authorizations_app, name="authorizations")
app.add_typer(models_app, name="models")

DbOpt = typer.Option(
    None,
    "--db",
    help="SQLite path, database URL, or a lab server's https:// URL (default: FEDLAB_SERVER, "
    "else FEDLAB_DATABASE_URL or .fedlab/lab.db); a catalog must exist (`fedlab lab init`).",
)
UserOpt = typer.Option(None, "--user", help="Catalog user (default: FEDLAB_USER).")
DATE_FORMATS = ["%Y-%m-%d"]


def parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from ``--param``; VALUE is read as JSON (10, 0.5, true) else as text."""
    from lab.errors import ConfigError

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--param {text!r} must look like KEY=VALUE, e.g. epochs=10")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if isinstance(value, dict | list):
        raise ConfigError(
            f"--param {key.strip()}: give one number, true/false or text, not {raw!r}"
        )
    return key.strip(), value


def _engine(db: str | None, *, create: bool = False) -> Any:
    """The catalog at ``db`` (default: the settings'), migrated; only ``lab init`` creates
    one (``create``), any other command refuses a missing file."""
    from lab.services.connection import open_catalog
    from lab.settings import get_settings

    return open_catalog(db or get_settings().database_url_value, create=create)


def _lab(db: str | None, user: str | None) -> Any:
    from lab.errors import ConfigError
    from lab.sdk import Lab
    from lab.settings import get_settings

    remote = db is not None and db.startswith(("http://", "https://"))
    server = db if remote else (os.environ.get("FEDLAB_SERVER") if db is None else None)
    name = user or os.environ.get("FEDLAB_USER")
    if server:  # a client of the lab server: a token (FEDLAB_TOKEN), else a sign-in
        return Lab.connect(
            server,
            token=os.environ.get("FEDLAB_TOKEN") or None,
            user=name,
            password=os.environ.get("FEDLAB_PASSWORD"),
        )
    if not name:
        raise ConfigError("no catalog user given", hint="Pass --user NAME or set FEDLAB_USER.")
    return Lab.connect(
        db or get_settings().database_url_value,
        user=name,
        password=os.environ.get("FEDLAB_PASSWORD"),
    )


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


@app.command()
def init(db: str | None = DbOpt) -> None:
    """Create or upgrade the catalog schema and the first admin (FEDLAB_FIRST_ADMIN[_PASSWORD]).

    The only command that creates a catalog: every other one refuses a missing file."""
    from lab.db import session_scope
    from lab.services.catalog import bootstrap_admin
    from lab.settings import get_settings

    settings = get_settings()
    engine = _engine(db, create=True)
    pw = settings.first_admin_password.get_secret_value()
    with session_scope(engine) as s:
        made = bootstrap_admin(
            session=s,
            username=settings.first_admin,
            password=None if settings.environment == "local" else pw,
        )
    typer.echo(
        f"catalog ready at {engine.url.render_as_string(hide_password=True)}"
        + (f"; admin user {settings.first_admin!r} created" if made else "")
    )


@app.command()
def seed(
    db: str | None = DbOpt,
    data: Path | None = typer.Option(None, help="Folder of `fedlab data synth` files."),
    banks: str = typer.Option("bank_a,bank_b,bank_c,bank_d", help="Comma-separated."),
) -> None:
    """Fill an empty catalog with the demo platform, banks, agencies, users and grants."""
    from lab.seed import seed_demo

    result = seed_demo(_engine(db), banks=tuple(b for b in banks.split(",") if b), data_dir=data)
    typer.echo(
        f"seeded {len(result.banks)} banks, {len(result.agencies)} agencies, "
        f"{len(result.users)} users: {', '.join(sorted(result.users))}"
    )


@experiments_app.command("create")
def experiments_create(
    sample: int = typer.Option(..., "--sample", help="Sample set id (your bank's)."),
    algorithm: str = typer.Option(..., "--algorithm", help="hetero_lr | secureboost | ..."),
    name: str = typer.Option(..., "--name", help="A name for the experiment."),
    indicator: list[str] = typer.Option([], "--indicator", help="Indicator code; repeat."),
    param: list[str] = typer.Option(
        [],
        "--param",
        help="KEY=VALUE algorithm parameter; repeat. Checked against the algorithm's schema.",
    ),
    backend: str | None = typer.Option(
        None, help="paillier | ckks | ... (default: the algorithm's recommended backend)"
    ),
    partner_sample: list[int] = typer.Option(
        [],
        "--partner-sample",
        help="homo_lr / homo_nn: another bank's sample set id; repeat, one per bank.",
    ),
    purpose: str = typer.Option("credit_risk_model"),
    submit: bool = typer.Option(False, "--submit", help="Submit right after creating."),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    """A draft experiment on one of your bank's sample sets."""
    params = dict(parse_param(p) for p in param)
    exp = _lab(db, user).experiments.create(
        name=name,
        sample=sample,
        algorithm=algorithm,
        indicators=indicator,
        params=params,
        backend=backend,
        purpose=purpose,
        partner_samples=partner_sample,
    )
    if submit:
        exp.submit()
    typer.echo(
        f"experiment {exp.id}: {exp.info.status.value} ({algorithm}, "
        f"{len(exp.info.indicator_codes)} indicators, params "
        f"{json.dumps(exp.info.params, sort_keys=True)})"
    )


@experiments_app.command("list")
def experiments_list(
    db: str | None = DbOpt, user: str | None = UserOpt, status: str | None = typer.Option(None)
) -> None:
    """Experiments this user may see."""
    for e in _lab(db, user).experiments.list(status=status):
        typer.echo(f"{e.id:>5}  {e.status.value:<10} org={e.owner_org_id:<3} {e.name}")


@experiments_app.command("show")
def experiments_show(
    experiment_id: int, db: str | None = DbOpt, user: str | None = UserOpt
) -> None:
    """One experiment, its transitions (who, when, why) and consent status."""
    exp = _lab(db, user).experiments.get(experiment_id)
    _echo_json(
        {
            "experiment": exp.info.model_dump(mode="json"),
            "transitions": [t.model_dump(mode="json") for t in exp.transitions()],
            "consents": [str(n) for n in exp.consents()],
        }
    )


@experiments_app.command("submit")
def experiments_submit(
    experiment_id: int,
    db: str | None = DbOpt,
    user: str | None = UserOpt,
    reason: str = typer.Option(""),
) -> None:
    exp = _lab(db, user).experiments.get(experiment_id).submit(reason)
    typer.echo(f"experiment {exp.id}: {exp.info.status.value}")


@experiments_app.command("approve")
def experiments_approve(
    experiment_id: int,
    db: str | None = DbOpt,
    user: str | None = UserOpt,
    reason: str = typer.Option(""),
) -> None:
    exp = _lab(db, user).experiments.get(experiment_id).approve(reason)
    typer.echo(f"experiment {exp.id}: {exp.info.status.value}")


@experiments_app.command("reject")
def experiments_reject(
    experiment_id: int,
    reason: str = typer.Option(..., help="Why."),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    exp = _lab(db, user).experiments.get(experiment_id).reject(reason)
    typer.echo(f"experiment {exp.id}: {exp.info.status.value}")


@experiments_app.command("cancel")
def experiments_cancel(
    experiment_id: int,
    reason: str = typer.Option(..., help="Why."),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    """Cancel an experiment: at once when it waits (draft, submitted, approved, queued); a
    running one stops at its worker's next heartbeat or progress report."""
    exp = _lab(db, user).experiments.get(experiment_id)
    was = exp.info.status.value
    exp.cancel(reason)
    note = "; its worker stops the run at its next heartbeat" if was == "running" else ""
    typer.echo(f"experiment {exp.id}: {exp.info.status.value} (was {was}){note}")


@experiments_app.command("resubmit")
def experiments_resubmit(
    experiment_id: int,
    reason: str = typer.Option("", help="Why (default: resubmitted)."),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    """Submit a cancelled or failed experiment again, unchanged: it needs approval again."""
    exp = _lab(db, user).experiments.get(experiment_id).resubmit(reason)
    typer.echo(f"experiment {exp.id}: {exp.info.status.value}")


@audit_app.command("verify")
def audit_verify(
    db: str | None = DbOpt,
    user: str | None = UserOpt,
    receipts: Path | None = typer.Option(
        None, "--receipts", help="A folder of the parties' *.receipt.json files."
    ),
) -> None:
    """核验审计链 Recompute the hash chain (and its MACs with FEDLAB_AUDIT_KEY), check that
    every experiment and model state rests on its records and, with --receipts, that the
    chain still holds what the parties were told; exit 1 on any problem."""
    report = _lab(db, user).audit.verify(receipts=str(receipts) if receipts else None)
    typer.echo(str(report))
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("log")
def audit_log(
    db: str | None = DbOpt, user: str | None = UserOpt, limit: int = typer.Option(30)
) -> None:
    for ev in _lab(db, user).audit.log(limit=limit):
        typer.echo(
            f"{ev.seq:>6} {ev.at:%Y-%m-%d %H:%M:%S} {ev.actor:<20} {ev.action:<22} "
            f"{ev.object_type}:{ev.object_id} {json.dumps(ev.details, ensure_ascii=False)}"
        )


# ------------------------------------------------------------------ indicators, samples
@indicators_app.command("search")
def indicators_search(
    query: str = typer.Argument("", help="Words in code, name (中文), description or category."),
    owner: str | None = typer.Option(None, help="Owner organization code."),
    category: str | None = typer.Option(None),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    """Indicators matching QUERY (everyone may read the indicator library)."""
    for i in _lab(db, user).indicators.search(query, owner=owner, category=category):
        typer.echo(
            f"{i.code:<36} {i.owner_code:<18} {i.dimension_zh or '—':<6} "
            f"{i.window:<12} {i.name_zh or i.name}"
        )


@indicators_app.command("list")
def indicators_list(
    family: str | None = typer.Option(
        None, help="registry (computed from raw records) or aggregated (dataset columns)."
    ),
    dimension: str | None = typer.Option(
        None, help="financial_health, operating_activity or risk_resilience."
    ),
    owner: str | None = typer.Option(None, help="Owner organization code."),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    """The indicator library by family and dimension (指标库, Chinese names first)."""
    from lab.commands.indicator_list import library_lines

    rows = _lab(db, user).indicators.list(family=family, dimension=dimension, owner=owner)
    for line in library_lines(list(rows)):
        typer.echo(line)


@samples_app.command("create")
def samples_create(
    name: str = typer.Option(..., "--name"),
    dataset: str = typer.Option(..., "--dataset", help="Your bank's registered dataset."),
    label_column: str = typer.Option("default_12m", "--label-column"),
    id_list: str = typer.Option(..., "--id-list", help="Where the ID list lives at the bank."),
    label_definition: str = typer.Option("", "--label-definition"),
    observation_start: datetime | None = typer.Option(None, formats=DATE_FORMATS),
    observation_end: datetime | None = typer.Option(None, formats=DATE_FORMATS),
    n_total: int = typer.Option(0, min=0, help="Declared count (better: `samples count`)."),
    n_positive: int = typer.Option(0, min=0, help="Declared positives."),
    default_rule: str = typer.Option(
        "binary",
        "--default-rule",
        help="逾期定义 / what counts as default in the label column, applied at the bank: "
        "binary (already 0/1), dpd>=90 (days past due), status:次级,可疑,损失.",
    ),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    """Register a sample set of your bank: its definition, never its rows. Count it at the
    bank with `fedlab lab samples count`; --n-total/--n-positive are declared counts."""
    sample = _lab(db, user).samples.create(
        name=name,
        dataset=dataset,
        label_column=label_column,
        id_list_location=id_list,
        label_definition=label_definition,
        observation_start=observation_start.date() if observation_start else None,
        observation_end=observation_end.date() if observation_end else None,
        n_total=n_total,
        n_positive=n_positive,
        default_rule=default_rule,
    )
    typer.echo(
        f"sample {sample.id}: {sample.name!r} ({sample.n_total} enterprises, "
        f"{sample.n_positive} positive, {sample.counts_source.value}; "
        f"{describe(sample.default_rule, sample.label_column)[1]})"
    )


@samples_app.command("count")
def samples_count(
    sample_id: int = typer.Argument(..., help="The sample set to count at its bank."),
    column: list[str] = typer.Option(
        [], "--column", help="Numeric column to draw a histogram of; repeat."
    ),
    min_cell: int | None = typer.Option(
        None,
        "--min-cell",
        min=1,
        help=f"k: smallest cell shown; may only raise FEDLAB_MIN_CELL (default "
        f"{DEFAULT_MIN_CELL}).",
    ),
    wait: bool = typer.Option(False, "--wait", help="Wait for a worker to count it."),
    timeout: float = typer.Option(600.0, help="Seconds to wait with --wait."),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    """Ask for a count at the bank (a worker runs it at the bank's node): counts, positive
    rate and histograms come back, every cell of at least k enterprises."""
    sample = _lab(db, user).samples.get(sample_id)
    prof = sample.profile(column, min_cell=min_cell, wait=wait, timeout=timeout, poll=1.0)
    if not wait:
        typer.echo(
            f"sample {sample_id}: count requested; a worker counts it at the bank "
            f"(`fedlab lab samples show {sample_id}`)"
        )
        return
    _echo_profile(prof)


@samples_app.command("show")
def samples_show(
    sample_id: int = typer.Argument(...), db: str | None = DbOpt, user: str | None = UserOpt
) -> None:
    """A sample set's counts (declared or counted at the bank) and its histograms."""
    _echo_profile(_lab(db, user).samples.get(sample_id).counts)


def _echo_profile(prof: Any) -> None:
    def n(v: int | None) -> str:
        return "<k" if v is None else str(v)

    where = (
        f"counted at the bank {prof.counted_at:%Y-%m-%d %H:%M} for {prof.requested_by}, "
        f"k={prof.min_cell}"
        if prof.source == "bank"
        else "declared by the bank"
    )
    rate = "-" if prof.positive_rate is None else f"{prof.positive_rate:.1%}"
    typer.echo(
        f"sample {prof.sample_id}: {n(prof.n_total)} enterprises, {n(prof.n_positive)} "
        f"positive, {n(prof.n_negative)} negative, rate {rate} ({where})"
    )
    for name in prof.histograms:
        typer.echo(f"  {name}:")
        for b in prof.histogram(name).itertuples():
            typer.echo(f"    {b.label:<28} {b.total:>7} {n(b.positive):>6} {n(b.negative):>6}")


@samples_app.command("list")
def samples_list(db: str | None = DbOpt, user: str | None = UserOpt) -> None:
    """Sample sets this user may see."""
    for smp in _lab(db, user).samples.list():
        typer.echo(
            f"{smp.id:>5}  org={smp.owner_org_id:<3} n={smp.n_total:<7} "
            f"positive={smp.n_positive:<6} {smp.name}"
        )


# ------------------------------------------------------------------ consent, authorizations
@consents_app.command("grant")
def consents_grant(
    bank: str = typer.Option(..., "--bank", help="The bank that may use the indicators."),
    indicator: list[str] = typer.Option(
        ..., "--indicator", help="Your agency's indicator code; repeat."
    ),
    days: int = typer.Option(365, min=1, help="Valid for this many days."),
    purpose: str = typer.Option("credit_risk_model"),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    """Agency officers: let BANK use your indicators for PURPOSE for DAYS days."""
    grant = _lab(db, user).consents.grant(
        bank=bank, indicators=indicator, days=days, purpose=purpose
    )
    typer.echo(
        f"consent {grant.id}: {len(grant.indicator_codes)} indicator(s) for {bank} "
        f"({grant.purpose}) until {grant.expires_at:%Y-%m-%d}"
    )


@consents_app.command("list")
def consents_list(db: str | None = DbOpt, user: str | None = UserOpt) -> None:
    """Grants this user may see (own agency's, own bank's, or all for staff)."""
    for g in _lab(db, user).consents.list():
        state = "revoked" if g.revoked_at else f"until {g.expires_at:%Y-%m-%d}"
        typer.echo(
            f"{g.id:>5}  agency={g.agency_org_id:<3} bank={g.bank_org_id:<3} "
            f"{g.purpose:<20} {state:<17} {','.join(g.indicator_codes)}"
        )


@consents_app.command("revoke")
def consents_revoke(
    consent_id: int,
    reason: str = typer.Option(..., help="Why."),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    grant = _lab(db, user).consents.revoke(consent_id, reason)
    typer.echo(f"consent {grant.id}: revoked")


@authorizations_app.command("import")
def authorizations_import(
    file: Path = typer.Argument(..., help="CSV: uscc, granted_on, expires_on [, bank]."),
    bank: str = typer.Option(..., "--bank", help="The bank the enterprises authorized."),
    batch: str = typer.Option("", help="A label for this import (default: the file name)."),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    """Import enterprise authorizations for BANK; prints counts, never enterprise IDs."""
    summary = _lab(db, user).consents.import_authorizations(file, bank=bank, batch=batch)
    typer.echo(
        f"{bank}: {summary.total} authorizations, {summary.valid} valid on "
        f"{summary.as_of.isoformat()}"
    )


@authorizations_app.command("show")
def authorizations_show(
    bank: str = typer.Option(..., "--bank"),
    as_of: datetime | None = typer.Option(None, formats=DATE_FORMATS),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    """Counts of BANK's authorizations (total, valid on AS_OF)."""
    summary = _lab(db, user).consents.authorizations(bank, as_of.date() if as_of else None)
    typer.echo(
        f"{bank}: {summary.total} authorizations, {summary.valid} valid on "
        f"{summary.as_of.isoformat()}"
    )


# ------------------------------------------------------------------ models
@models_app.command("list")
def models_list(
    db: str | None = DbOpt, user: str | None = UserOpt, status: str | None = typer.Option(None)
) -> None:
    """Model versions this user may see, with AUC and KS."""
    for m in _lab(db, user).models.list(status=status):
        auc, ks = m.metrics.get("auc"), m.metrics.get("ks")
        typer.echo(
            f"{m.id:>5}  {m.status.value:<9} {m.algorithm:<12} "
            f"AUC {auc if auc is None else f'{auc:.3f}'}  KS "
            f"{ks if ks is None else f'{ks:.3f}'}  {m.name} v{m.version}"
        )


@models_app.command("publish")
def models_publish(
    model_id: int,
    reason: str = typer.Option(""),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    m = _lab(db, user).models.publish(model_id, reason)
    typer.echo(f"model {m.id}: {m.name} v{m.version} {m.status.value}")
