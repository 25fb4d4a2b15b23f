"""``fedlab keys ...``: key generation and fingerprints.

Only public facts are printed: file paths, key size and fingerprint, never key material.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("generate")
def generate(
    out: Path = typer.Option(..., "--out", help="Directory for the two key files."),
    bits: int = typer.Option(2048, "--bits", help="Key size: 2048 (default) or 3072."),
    force: bool = typer.Option(False, "--force", help="Replace an existing key pair."),
) -> None:
    """Generate a Paillier key pair: a public file to share, a private file (mode 0600)."""
    from crypto.keys import generate_key_files

    pk, pub, priv = generate_key_files(out, bits=bits, overwrite=force)
    typer.echo(f"public key:  {pub}")
    typer.echo(f"private key: {priv} (mode 0600: keep it on this machine)")
    typer.echo(f"bits: {pk.bits}  fingerprint: {pk.fingerprint()}")


@app.command("fingerprint")
def fingerprint(file: Path = typer.Argument(..., help="A public or private key file.")) -> None:
    """Print the fingerprint of the key in FILE."""
    from crypto.keys import fingerprint_file

    typer.echo(fingerprint_file(file))
