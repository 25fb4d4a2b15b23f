"""Which federation a coordinator's deployment runs go to: a local one, or a SuperLink.

A :class:`FederationTarget` is what ``fedlab lab worker --runtime deployment`` is pointed at:

* the state dir of a federation ``fedlab federation up`` started (``STATE/federation.json``
  names its SuperLink's address, its TLS CA and one SuperNode per party), or
* a SuperLink's address (``host:port``, the SuperLink's Control API) with the CA that signed
  its certificate (``root_certificates``; neither that nor ``insecure``: the system's CAs),
  or ``insecure`` for a plaintext SuperLink on this machine only. SuperNode authentication
  (``--enable-supernode-auth``) is between the SuperLink and the SuperNodes and needs nothing
  here. ``state_dir`` then only holds the coordinator's run folders (``flwr run`` logs).

:meth:`FederationTarget.check` validates the target before any experiment is claimed, and
:meth:`FederationTarget.check_parties` before each run, so that a party without a SuperNode
fails the experiment with that party's name at once instead of after ``join_timeout``.

Nothing leaves the coordinator's machine here: the state file is read, the SuperLink's port
is probed with a TCP connect, and the experiment's ``[deployment]`` section is filled.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crypto.errors import ConfigError, PartyUnavailableError
from federation.runtime.local_federation import (
    DEFAULT_STATE_DIR,
    STATE_FILE,
    Federation,
    federation_status,
)

PROBE_SECONDS = 5.0
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9093`` for IPv6) → (host, port); ConfigError when malformed."""
    host, sep, port = address.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"SuperLink address {address!r} is not HOST:PORT",
            hint="Give the SuperLink's Control API address, e.g. superlink.platform.example:9093.",
        )
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def probe(address: str, timeout: float = PROBE_SECONDS) -> None:
    """Raise PartyUnavailableError when nothing accepts a TCP connection at ``address``."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    raise PartyUnavailableError(
        f"no SuperLink answers at {address} ({reason})",
        hint="Check the address, that the SuperLink runs, and that "
        "its port is open to this machine.",
    )


@dataclass(frozen=True)
class FederationTarget:
    """A local federation's state dir, or a SuperLink address with its TLS settings."""

    state_dir: Path = DEFAULT_STATE_DIR
    superlink: str | None = None
    root_certificates: Path | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        if self.superlink is None:
            if self.root_certificates is not None or self.insecure:
                raise ConfigError(
                    "root certificates and insecure go with a SuperLink "
                    "address; a local federation uses the TLS settings in its "
                    f"state dir {str(self.state_dir)!r}",
                    hint="Pass --superlink HOST:PORT, or drop --root-certificates / --insecure.",
                )
            return
        host, _ = split_address(self.superlink)
        if self.insecure and self.root_certificates is not None:
            raise ConfigError(
                f"SuperLink {self.superlink}: give root certificates (TLS) or "
                "insecure (plaintext), not both"
            )
        if self.insecure and not is_loopback(host):
            raise ConfigError(
                f"SuperLink {self.superlink}: insecure (plaintext) is allowed "
                "for a SuperLink on this machine only",
                hint="Serve the SuperLink with TLS and pass the CA that signed "
                "its certificate with --root-certificates.",
            )

    @property
    def local(self) -> bool:
        """Whether this is the federation in ``state_dir`` (no SuperLink address given)."""
        return self.superlink is None

    def deployment_section(self) -> dict[str, Any] | None:
        """The experiment's ``[deployment]`` section (None: the local federation's)."""
        if self.local:
            return None
        section: dict[str, Any] = {"superlink": self.superlink}
        if self.root_certificates is not None:
            section["root_certificates"] = str(Path(self.root_certificates).resolve())
        if self.insecure:
            section["insecure"] = True
        return section

    def _federation(self) -> Federation:
        """The running local federation, or an error naming what is missing."""
        state = Path(self.state_dir).resolve()
        fed = Federation.load(state)
        if fed is None:
            raise ConfigError(
                f"no federation in {state} ({STATE_FILE} is missing)",
                hint=f"Start one with `fedlab federation up --config "
                f"experiment.toml --state-dir {self.state_dir}`, or point "
                "the worker at a SuperLink with --superlink HOST:PORT.",
            )
        link = federation_status(state)[0]
        if link["state"] != "running":
            raise PartyUnavailableError(
                f"the SuperLink of the federation in {state} is not running "
                f"(pid {fed.superlink_pid})",
                hint="Restart the federation: `fedlab federation down` then `fedlab "
                "federation up` with the same --state-dir.",
            )
        return fed

    def check(self) -> str:
        """Validate the target now; return a one-line description of it."""
        if self.local:
            fed = self._federation()
            probe(fed.superlink)
            return (
                f"local federation in {Path(self.state_dir).resolve()}: SuperLink "
                f"{fed.superlink} ({'TLS' if fed.ca_cert else 'insecure'}), SuperNodes "
                f"{', '.join(n.party for n in fed.nodes) or 'none'}"
            )
        ca = self.root_certificates
        if ca is not None and not Path(ca).is_file():
            raise ConfigError(
                f"root certificates file {str(ca)!r} does not exist",
                hint="Give the CA certificate that signed the SuperLink's certificate (PEM).",
            )
        assert self.superlink is not None
        probe(self.superlink)
        tls = (
            "insecure"
            if self.insecure
            else f"TLS, CA {Path(ca).resolve()}"
            if ca
            else "TLS, system CAs"
        )
        return f"SuperLink {self.superlink} ({tls})"

    def check_parties(self, parties: Sequence[str]) -> None:
        """Every party has a running SuperNode in the local federation (a remote SuperLink
        cannot be asked: its parties are found when the run starts, within join_timeout)."""
        if not self.local:
            return
        state = Path(self.state_dir).resolve()
        fed = self._federation()
        running = {
            row["name"].removeprefix("supernode "): row["state"] == "running"
            for row in federation_status(state)[1:]
        }
        missing = [p for p in parties if p not in running]
        stopped = [p for p in parties if running.get(p) is False]
        if not missing and not stopped:
            return
        nodes = ", ".join(n.party for n in fed.nodes) or "none"
        problems = []
        if missing:
            problems.append(f"no SuperNode for {_names(missing)}")
        if stopped:
            problems.append(f"the SuperNode of {_names(stopped)} is not running")
        raise PartyUnavailableError(
            f"the federation in {state} cannot run this experiment: {'; '.join(problems)} "
            f"(its SuperNodes: {nodes})",
            hint="Start the federation with an experiment.toml that names every party of the "
            "lab's experiments (the catalog's node names): `fedlab federation down`, "
            "then `fedlab federation up --config ...` with the same --state-dir.",
        )


def _names(parties: Sequence[str]) -> str:
    return f"part{'y' if len(parties) == 1 else 'ies'} {', '.join(map(repr, parties))}"


__all__ = ["FederationTarget", "is_loopback", "probe", "split_address"]
