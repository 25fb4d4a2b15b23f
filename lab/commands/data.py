"""``fedlab data ...``: synthetic multi-party data, public data sets, validation."""

from __future__ import annotations

import time
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


@app.command()
def synth(
    enterprises: int = typer.Option(
        10_000, "--enterprises", "-n", min=1, help="Number of enterprises in the population."
    ),
    seed: int = typer.Option(42, help="Random seed; the same seed gives byte-identical files."),
    out: Path = typer.Option(Path("data/synth"), help="Folder that receives one CSV per party."),
    dirty: bool = typer.Option(
        False,
        "--dirty",
        help="Add missing cells, skew, outliers, "
        "duplicate and malformed IDs (see docs/data_dictionary.md).",
    ),
    banks: list[str] = typer.Option(
        ["bank"], "--bank", help="Bank name(s); repeat for several banks."
    ),
    records: bool = typer.Option(
        False,
        "--records",
        help="Also write raw monthly/event "
        "records per party and the point-in-time indicators computed "
        "from them (records_<party>.csv, indicators_<party>.csv).",
    ),
) -> None:
    """Generate synthetic enterprise data for a bank and five agencies, keyed by USCC."""
    from features import synth as gen

    t0 = time.perf_counter()
    tables = gen.generate(enterprises, seed, dirty=dirty, banks=tuple(banks))
    paths = gen.write(out, tables)
    seconds = time.perf_counter() - t0
    for name, path in paths.items():
        typer.echo(f"  {name:<18} {len(tables[name]):>9,} rows  {path}")
    typer.echo(
        f"wrote {len(paths)} files for {enterprises:,} enterprises in {seconds:.1f} s"
        + (" (dirty)" if dirty else "")
    )
    if records:
        from features.synth_records import write_records

        t0 = time.perf_counter()
        written = write_records(out, enterprises, seed)
        typer.echo(
            f"wrote raw records and indicators ({len(written)} files) in "
            f"{time.perf_counter() - t0:.1f} s"
        )


@app.command()
def validate(
    file: Path = typer.Argument(..., help="The party's CSV file."),
    id_column: str = typer.Option("uscc", help="Column with the enterprise/sample ID."),
    label: str | None = typer.Option(None, help="Label column (guest only), values 0/1."),
    id_kind: str = typer.Option("uscc", help="'uscc' (check GB 32100 codes) or 'opaque'."),
    party: str | None = typer.Option(
        None,
        help="Check against a synthetic party's schema "
        "(bank, tax, social_insurance, courts, utilities, "
        "market_regulation, authorizations).",
    ),
    encoding: str = typer.Option("utf-8", help="Text encoding of the file, e.g. gbk."),
    categorical: list[str] = typer.Option(
        [], "--categorical", help="A code column kept as text (repeat for several)."
    ),
    max_abs: float | None = typer.Option(
        None, "--max-abs", help="Largest |x| allowed in a numeric column (default 1e15)."
    ),
    on_constant: str = typer.Option(
        "warn", "--on-constant", help="Constant or all-missing columns: warn | refuse."
    ),
) -> None:
    """Validate one party's table and print a summary (aggregates only)."""
    from features.contract import (
        DEFAULT_MAX_ABS,
        DataContract,
        check_label_classes,
        column_warnings,
    )
    from features.synth import AGENCIES
    from features.validation import IdKind, load_party_table, summarize

    if id_kind not in ("uscc", "opaque"):
        raise typer.BadParameter("--id-kind must be 'uscc' or 'opaque'")
    if on_constant not in ("warn", "refuse"):
        raise typer.BadParameter("--on-constant must be 'warn' or 'refuse'")
    kind: IdKind = "uscc" if id_kind == "uscc" else "opaque"
    contract = DataContract.from_settings(
        encoding=encoding,
        max_abs=DEFAULT_MAX_ABS if max_abs is None else max_abs,
        categorical=categorical,
        on_constant="refuse" if on_constant == "refuse" else "warn",
    )
    df = load_party_table(
        file, id_column=id_column, label=label, id_kind=kind, party=party, contract=contract
    )
    if label is None and party is not None and party not in (*AGENCIES, "authorizations"):
        label = "default_12m"  # a synthetic bank's label, as the loader implies it
    if label is not None:
        check_label_classes(df[label], file.name, label, "rows")
    features = [c for c in df.columns if c not in (id_column, label)]
    warnings = column_warnings(df, file.name, features, contract)
    typer.echo(f"{file.name}: OK — {len(df):,} rows, {df.shape[1]} columns")
    for w in warnings:
        typer.echo(f"  warning: {w}")
    if label is not None:
        typer.echo(
            f"  label {label!r}: {int(df[label].sum()):,} positives ({df[label].mean():.1%})"
        )
    summary = summarize(df, id_column=id_column)
    typer.echo(f"  {'column':<34} {'type':<8} {'missing':>8} {'distinct':>9}")
    for row in summary.itertuples(index=False):
        typer.echo(f"  {row.column:<34} {row.type:<8} {row.missing_share:>8.1%} {row.distinct:>9,}")


@app.command()
def public(
    name: str = typer.Argument(
        ..., help="default_credit, taiwan, german, lending_club, credit_data or breast."
    ),
    data_dir: Path = typer.Option(..., help="Folder with the public data files."),
    out: Path = typer.Option(..., help="Folder that receives one CSV per party."),
) -> None:
    """Split a public credit data set into party files (guest with label, hosts).

    NAME: default_credit, taiwan, german, lending_club, credit_data or breast.
    """
    from features.public import load_public, write_parties

    parties = load_public(name, data_dir)
    paths = write_parties(out, parties)
    for party, path in paths.items():
        typer.echo(f"  {party:<18} {path}")
    typer.echo(
        f"wrote {len(paths)} party files for {name!r} (id column {parties.id_column!r}, "
        f"label {parties.label_column!r} at the guest)"
    )
