"""``fedlab server``: the lab server (lab.server.app) on uvicorn.

The one process that holds the catalog's database credentials (``--db`` or
FEDLAB_DATABASE_URL; SQLite embedded by default). Users reach it with a bearer token
(``POST /api/v1/auth/login``, or a token minted for a notebook), the SDK with
``Lab.connect("https://…", token=…)``. Put it behind TLS (a reverse proxy, or
``--ssl-certfile``/``--ssl-keyfile``) outside one machine.
"""

from __future__ import annotations

from pathlib import Path

import typer


def server(
    db: str | None = typer.Option(None, "--db", help="Catalog URL or SQLite path."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8765, min=1, max=65535),
    ssl_certfile: Path | None = typer.Option(None, help="TLS certificate (PEM)."),
    ssl_keyfile: Path | None = typer.Option(None, help="TLS private key (PEM)."),
) -> None:
    """实验室服务 Serve the lab's HTTP API (OpenAPI at /api/v1/openapi.json)."""
    import uvicorn

    from lab.server.app import create_app
    from lab.services.connection import open_catalog
    from lab.settings import get_settings

    engine = open_catalog(db or get_settings().database_url_value)
    if host not in ("127.0.0.1", "localhost", "::1") and ssl_certfile is None:
        typer.secho(
            f"warning: serving on {host} without TLS; put a TLS proxy in front "
            "(tokens travel in every request) / 警告：未启用 TLS",
            fg="red",
            err=True,
        )
    uvicorn.run(
        create_app(engine),
        host=host,
        port=port,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        log_level="info",
    )


__all__ = ["server"]
