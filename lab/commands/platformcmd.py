"""``fedlab lab datasets|workers`` and ``fedlab lab audit keygen``: the platform's data
registrations, worker credentials and receipt-signing key.

Registered on the ``fedlab lab`` group by :func:`register`. Every command acts as a catalog
user (``--user``, FEDLAB_USER; FEDLAB_PASSWORD) through the SDK, except ``keygen``, which
only writes a key pair.

Revealed to whom: dataset kinds and counts (never a location), worker ids and dates (a
token once, to the admin who issues it).
"""

from __future__ import annotations

from pathlib import Path

import typer

from lab.commands.labcmd import DbOpt, UserOpt, _lab

datasets_app = typer.Typer(
    no_args_is_help=True, help="Registered datasets: list; register a raw-record folder."
)
workers_app = typer.Typer(
    no_args_is_help=True, help="Worker credentials (admins): register, revoke, list."
)


@workers_app.command("register")
def workers_register(
    worker_id: str = typer.Option(..., "--id", help="The worker's id (`fedlab lab worker --id`)."),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    """登记工作进程 Issue a worker its credential (printed once; keep it as the worker's
    FEDLAB_WORKER_TOKEN, never in a file others can read)."""
    from lab.services import workers

    cred, token = _lab(db, user).call(workers.register_worker, worker_id=worker_id)
    typer.echo(f"worker {cred.worker_id} registered; its token (shown once): {token}")


@workers_app.command("revoke")
def workers_revoke(
    worker_id: str = typer.Option(..., "--id"),
    reason: str = typer.Option(..., "--reason"),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    """吊销 Revoke a worker's credential: its next start is refused."""
    from lab.services import workers

    cred = _lab(db, user).call(workers.revoke_worker, worker_id=worker_id, reason=reason)
    typer.echo(f"worker {cred.worker_id} revoked at {cred.revoked_at:%Y-%m-%d %H:%M} UTC")


@workers_app.command("list")
def workers_list(db: str | None = DbOpt, user: str | None = UserOpt) -> None:
    """Registered workers (ids, issue and revocation times; never a token)."""
    from lab.services import workers

    for c in _lab(db, user).call(workers.list_workers):
        state = f"revoked {c.revoked_at:%Y-%m-%d}" if c.revoked_at else "active"
        typer.echo(f"{c.id:>4}  {c.worker_id:<32} issued {c.issued_at:%Y-%m-%d}  {state}")


@datasets_app.command("list")
def datasets_list(db: str | None = DbOpt, user: str | None = UserOpt) -> None:
    """Datasets this user may see: kind, rows and columns (never where they are)."""
    for ds in _lab(db, user).datasets.list():
        typer.echo(
            f"{ds.id:>5}  org={ds.org_id:<3} {ds.kind:<8} rows={ds.row_count:<9,} "
            f"columns={len(ds.columns):<3} {ds.name}"
        )


@datasets_app.command("register-records")
def datasets_register_records(
    org: str = typer.Option(..., "--org", help="Your agency (or bank) code."),
    name: str = typer.Option(..., "--name", help="A name for the folder's registration."),
    location: str = typer.Option(..., "--location", help="The folder, as your node sees it."),
    table: list[str] = typer.Option(
        ..., "--table", help="A record table the folder holds (records_<table>.csv); repeat."
    ),
    rows: int = typer.Option(0, "--rows", min=0, help="Records in the folder (declared)."),
    db: str | None = DbOpt,
    user: str | None = UserOpt,
) -> None:
    """登记原始记录文件夹 Register your raw-record folder and link your registry indicators
    on its tables to it, so experiments can name them (your node computes them)."""
    ds, linked = _lab(db, user).datasets.register_records(
        org=org, name=name, location=location, tables=table, row_count=rows
    )
    typer.echo(
        f"dataset {ds.id} ({ds.name}, kind records): {len(linked)} registry indicator(s) "
        f"linked / 已关联 {len(linked)} 个记录指标"
    )


def audit_keygen(
    out: Path = typer.Option(..., "--out", help="Folder for the key pair (created)."),
) -> None:
    """生成回执签名密钥 The platform's Ed25519 key pair for the parties' receipts:
    audit_signing_key.pem (0600; FEDLAB_AUDIT_SIGNING_KEY) and audit_public_key.pem (give it
    to every party: its SuperNode's node config platform-public-key)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from crypto.atomic import atomic_write_bytes
    from crypto.receipts import private_pem, public_pem

    out.mkdir(parents=True, exist_ok=True)
    private, public = out / "audit_signing_key.pem", out / "audit_public_key.pem"
    if private.exists():
        raise typer.BadParameter(f"{private} exists; refusing to overwrite a signing key")
    key = Ed25519PrivateKey.generate()
    atomic_write_bytes(private, private_pem(key))
    atomic_write_bytes(public, public_pem(key.public_key()), mode=0o644)
    typer.echo(f"wrote {private.name} (secret, 0600) and {public.name} in {out}")


def register(app: typer.Typer, audit_app: typer.Typer) -> None:
    """Add ``datasets``, ``workers`` and ``audit keygen`` to the ``fedlab lab`` group."""
    app.add_typer(datasets_app, name="datasets")
    app.add_typer(workers_app, name="workers")
    audit_app.command(name="keygen")(audit_keygen)


__all__ = ["datasets_app", "register", "workers_app"]
