"""Where deployment runs go (FederationTarget): options checked at once, a local federation's
state file and processes, a remote SuperLink's port; progress relayed from the ServerApp."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from federation.runtime.deployment import Federation, NodeProc
from federation.runtime.progress_file import ProgressTail, progress_writer
from federation.runtime.target import FederationTarget, split_address
from lab.errors import ConfigError, PartyUnavailableError


def closed_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"  # closed when the block ends


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])  # noqa: S603, S607
    proc.wait()
    return proc.pid


def fake_federation(
    state: Path, superlink: str, *, link_pid: int, nodes: dict[str, int]
) -> Federation:
    """A federation.json as `fedlab federation up` writes it, with chosen PIDs."""
    state.mkdir(parents=True, exist_ok=True)
    fed = Federation(
        str(state),
        superlink,
        link_pid,
        str(state / "superlink.log"),
        None,
        [NodeProc(name, pid, 0, "", str(state / "parties" / name)) for name, pid in nodes.items()],
    )
    fed.save()
    return fed


def test_options_are_checked_when_the_target_is_made(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="go with a SuperLink address"):
        FederationTarget(tmp_path, root_certificates=tmp_path / "ca.crt")
    with pytest.raises(ConfigError, match="go with a SuperLink address"):
        FederationTarget(tmp_path, insecure=True)
    for bad in ("superlink", "host:", ":9093", "host:port", "host:70000"):
        with pytest.raises(ConfigError, match="is not HOST:PORT"):
            FederationTarget(superlink=bad)
    with pytest.raises(ConfigError, match="not both"):
        FederationTarget(
            superlink="127.0.0.1:9093", insecure=True, root_certificates=tmp_path / "ca.crt"
        )
    with pytest.raises(ConfigError, match="on this machine only"):
        FederationTarget(superlink="10.0.0.5:9093", insecure=True)
    assert split_address("[::1]:9093") == ("::1", 9093)
    assert FederationTarget(superlink="[::1]:9093", insecure=True).deployment_section() == {
        "superlink": "[::1]:9093",
        "insecure": True,
    }
    ca = tmp_path / "ca.crt"
    assert FederationTarget(
        superlink="sl.example:9093", root_certificates=ca
    ).deployment_section() == {"superlink": "sl.example:9093", "root_certificates": str(ca)}
    assert FederationTarget(tmp_path).deployment_section() is None


def test_a_local_federation_must_run_and_serve_every_party(
    tmp_path: Path, listening_address: str
) -> None:
    state = tmp_path / "fed"
    target = FederationTarget(state)
    with pytest.raises(ConfigError, match=f"no federation in {state}") as err:
        target.check()
    assert "fedlab federation up" in str(err.value)

    fake_federation(state, listening_address, link_pid=dead_pid(), nodes={"bank_a": os.getpid()})
    with pytest.raises(
        PartyUnavailableError, match="SuperLink of the federation in .* is not running"
    ):
        target.check()
    with pytest.raises(PartyUnavailableError, match="not running"):
        target.check_parties(["bank_a"])

    fake_federation(
        state,
        listening_address,
        link_pid=os.getpid(),
        nodes={"bank_a": os.getpid(), "tax": dead_pid()},
    )
    assert target.check() == (
        f"local federation in {state}: SuperLink {listening_address} "
        "(insecure), SuperNodes bank_a, tax"
    )
    target.check_parties(["bank_a"])
    with pytest.raises(PartyUnavailableError) as err:
        target.check_parties(["bank_a", "tax", "courts"])
    text = str(err.value)
    assert "no SuperNode for party 'courts'" in text
    assert "the SuperNode of party 'tax' is not running" in text
    assert "its SuperNodes: bank_a, tax" in text

    # the SuperLink's process runs but its port is closed
    fake_federation(state, closed_address(), link_pid=os.getpid(), nodes={})
    with pytest.raises(PartyUnavailableError, match="no SuperLink answers at 127.0.0.1:"):
        target.check()


def test_a_remote_superlink_is_probed_and_its_ca_must_exist(
    tmp_path: Path, listening_address: str
) -> None:
    ca = tmp_path / "ca.crt"
    with pytest.raises(ConfigError, match=f"root certificates file '{ca}' does not exist"):
        FederationTarget(superlink=listening_address, root_certificates=ca).check()
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    target = FederationTarget(tmp_path / "runs", superlink=listening_address, root_certificates=ca)
    assert target.check() == f"SuperLink {listening_address} (TLS, CA {ca})"
    assert FederationTarget(superlink=listening_address).check().endswith("(TLS, system CAs)")
    with pytest.raises(PartyUnavailableError, match="no SuperLink answers at"):
        FederationTarget(superlink=closed_address(), insecure=True).check()
    # parties of a remote SuperLink are found when the run starts (join_timeout)
    target.check_parties(["anyone"])


def test_progress_lines_reach_the_caller_once_and_only_when_complete(tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    seen: list[tuple[str, dict[str, Any]]] = []
    tail = ProgressTail(path, lambda e, f: seen.append((e, f)))
    assert tail.poll() == 0  # no file yet
    write = progress_writer(path)
    write("phase", {"phase": "alignment"})
    write("epoch", {"epoch": 0, "loss": 0.6931, "weights": [1.0, 2.0], "ok": True})
    with path.open("a") as fh:
        fh.write(json.dumps({"event": "epoch", "fields": {"epoch": 1}})[:-3])  # half a line
    assert tail.poll() == 2
    assert seen == [
        ("phase", {"phase": "alignment"}),
        ("epoch", {"epoch": 0, "loss": 0.6931, "ok": True}),
    ]  # scalars only
    with path.open("a") as fh:
        fh.write("1}}\n")
    assert tail.poll() == 1 and seen[-1] == ("epoch", {"epoch": 1})
    assert tail.poll() == 0
    progress_writer("")("epoch", {"epoch": 9})  # no file named: nothing written
    assert len(path.read_text().splitlines()) == 3
