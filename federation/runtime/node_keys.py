"""SuperNode authentication for the local federation: each party's key pair, and its
public key registered on the SuperLink under the party's name.

With authentication on (``fedlab federation up``'s default), the SuperLink starts with
``--enable-supernode-auth`` and accepts only SuperNodes whose public key was registered
(``flwr supernode register``); :func:`register_party` makes the party's ECDSA P-384 key
pair in the state dir (private key 0600: on a real deployment each party makes its own and
only the public key leaves it) and registers the public key, returning the node id the
SuperLink assigned. The coordinator then takes a party to be only the node registered for
it (federation.flower_transport.discover_parties): a process that starts a SuperNode with
``party='tax'`` and a stolen ``ca.crt`` but without tax's private key is refused by the
SuperLink and can never answer as tax.

Revealed to whom: the public key and the party's name to the SuperLink.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import tomli_w
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from crypto.atomic import atomic_write_bytes
from crypto.errors import RuntimeStartError
from federation.runtime.processes import flower_bin, flower_env

CONNECTION = "fedlab-control"
REGISTER_TIMEOUT = 120.0


def party_key(state: Path, party: str) -> tuple[Path, Path]:
    """The party's (private, public) key files, made when missing."""
    folder = state / "node-keys"
    private, public = folder / party, folder / f"{party}.pub"
    if not private.is_file():
        key = ec.generate_private_key(ec.SECP384R1())
        atomic_write_bytes(
            private,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            ),
        )
        atomic_write_bytes(
            public,
            key.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            ),
            mode=0o644,
        )
    return private, public


def register_party(state: Path, superlink: str, ca_cert: str | None, party: str) -> int:
    """Register ``party``'s public key on the SuperLink; the node id it was given."""
    _, public = party_key(state, party)
    home = state / "flwr-home" / "control"
    home.mkdir(parents=True, exist_ok=True)
    conn: dict[str, object] = {"address": superlink}
    conn.update({"root-certificates": ca_cert} if ca_cert else {"insecure": True})
    (home / "config.toml").write_text(
        tomli_w.dumps({"superlink": {"default": CONNECTION, CONNECTION: conn}}), encoding="utf-8"
    )
    cmd = [flower_bin("flwr"), "supernode", "register", str(public), CONNECTION]
    cmd += ["--name", party, "--format", "json"]
    done = subprocess.run(  # noqa: S603 - our own executables, fixed arguments
        cmd,
        env=flower_env(home),
        capture_output=True,
        text=True,
        timeout=REGISTER_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    try:
        reply = json.loads(done.stdout)
        return int(reply["node-id"])
    except (ValueError, KeyError, TypeError):
        why = done.stdout.strip() or done.stderr.strip()
        raise RuntimeStartError(
            f"the SuperLink did not register party {party!r}'s key: {why[-300:]}"
        ) from None


__all__ = ["CONNECTION", "party_key", "register_party"]
