"""A local federation: a SuperLink and one SuperNode per party on 127.0.0.1.

``federation_up`` starts ``flower-superlink`` and one ``flower-supernode`` per party of an
experiment on 127.0.0.1 (distinct ports; node config ``party``, ``data``, ``work-dir`` and,
for a guest with an authorization table, ``authorizations``: the paths as the experiment
file resolves them against its own folder), as background processes whose PIDs and logs go
to the state dir (``STATE/federation.json``). :func:`add_supernode` and
:func:`remove_supernode` change which parties a running federation serves (a party with
other data gets a new SuperNode: a SuperNode's node config is fixed when it starts).
Each SuperNode starts through :mod:`federation.runtime.supernode`, which shortens its
hard-coded idle sleep and (on flwr 1.41, ``worker=True``) serves every message from one
long-lived ClientApp process (:mod:`federation.runtime.clientapp_worker`) instead of a fresh
process per message. ``federation_down`` stops the SuperNodes (each with its ClientApp
worker), then the SuperLink (SIGTERM to each process group). Every Flower executable is
this installation's (:func:`federation.runtime.processes.flower_bin`, not PATH) and is
checked before the first process starts.

What is revealed to whom: each SuperNode is given only its own party's data path (and, for
the guest, its authorization table's), and work dir (its node config); the SuperLink is
given no data path at all. The state file names
every process, port, log and work dir, and stays on this machine.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crypto.errors import ConfigError
from federation.alignment_party import AUTHORIZATIONS_NODE_CONFIG
from federation.config import ExperimentConfig, PartySpec, check_data_files, check_party_files
from federation.roles import PartyRole
from federation.run_auth import PLATFORM_KEY_CONFIG
from federation.runtime.clientapp_worker import supported
from federation.runtime.node_keys import party_key, register_party
from federation.runtime.processes import (
    FLOWER_CHILDREN,
    alive,
    flower_bin,
    flower_env,
    free_port,
    require_bins,
    spawn,
    stop_group,
    wait_port,
)
from federation.runtime.supernode import NO_WORKER_FLAG

STATE_FILE = "federation.json"
DEFAULT_STATE_DIR = Path(".fedlab/federation")
DEFAULT_NODE_POLL = 0.2


@dataclass
class NodeProc:
    party: str
    pid: int
    port: int
    log: str
    work_dir: str
    worker: bool = False
    data: str = ""  # the node config's data and authorizations paths
    authorizations: str = ""
    node_id: int | None = None  # registered node id (SuperNode authentication)


@dataclass
class Federation:
    state_dir: str
    superlink: str
    superlink_pid: int
    superlink_log: str
    ca_cert: str | None = None
    nodes: list[NodeProc] = field(default_factory=list)
    #: the platform's public key every SuperNode checks run authorizations and receipts with
    platform_key: str | None = None
    #: SuperNode authentication: only nodes with a registered public key may connect
    supernode_auth: bool = False
    registered: dict[str, int] = field(default_factory=dict)  # party -> its key's node id

    def save(self) -> None:
        Path(self.state_dir, STATE_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, state_dir: str | Path) -> Federation | None:
        path = Path(state_dir, STATE_FILE)
        if not path.is_file():
            return None
        raw = json.loads(path.read_text())
        raw["nodes"] = [NodeProc(**n) for n in raw.get("nodes", [])]
        return cls(**raw)


def node_config_arg(
    party: str,
    data: Path,
    work_dir: Path,
    authorizations: Path | None = None,
    platform_key: str | None = None,
) -> str:
    """``--node-config`` of a party's SuperNode (its authorization table's path too, when
    it has one: the node config wins over the path the coordinator sends; the platform's
    public key, when given: the node then serves only runs the platform authorized)."""

    def q(v: str) -> str:
        if "'" in v:
            raise ConfigError(f"party {party!r}: path {v!r} contains a quote")
        return f"'{v}'"

    arg = f"party={q(party)} data={q(str(data))} work-dir={q(str(work_dir))}"
    if authorizations is not None:
        arg += f" {AUTHORIZATIONS_NODE_CONFIG}={q(str(authorizations))}"
    if platform_key:
        arg += f" {PLATFORM_KEY_CONFIG}={q(str(platform_key))}"
    return arg


def _superlink_cmd(
    state: Path, port: int, *, tls: bool, auth: bool = False
) -> tuple[list[str], str | None]:
    """The SuperLink's command line on ``port``, and its CA certificate with ``tls``
    (``auth``: SuperNode authentication, registered keys only)."""
    cmd = [
        flower_bin("flower-superlink"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-runtime-dependency-installation",
        *(["--enable-supernode-auth"] if auth else []),
    ]
    if not tls:
        return [*cmd, "--insecure"], None
    from federation.runtime.tls import write_local_ca  # loads `cryptography`

    files = write_local_ca(state / "tls")
    ca = str(files.ca_cert)
    cmd += [
        "--ssl-ca-certfile",
        ca,
        "--ssl-certfile",
        str(files.server_cert),
        "--ssl-keyfile",
        str(files.server_key),
    ]
    return cmd, ca


def _start_supernode(fed: Federation, party: PartySpec, *, poll: float, worker: bool) -> NodeProc:
    """Start the SuperNode of ``party`` against ``fed``'s SuperLink."""
    state = Path(fed.state_dir)
    node_port = free_port()
    work = state / "parties" / party.name
    work.mkdir(parents=True, exist_ok=True)
    launcher = (
        [
            sys.executable,
            "-m",
            "federation.runtime.supernode",
            "--fedlab-poll",
            str(poll),
            *([] if worker else [NO_WORKER_FLAG]),
        ]
        if poll > 0 or worker
        else [flower_bin("flower-supernode")]
    )
    cmd = [
        *launcher,
        "--superlink",
        fed.superlink,
        "--port",
        str(node_port),
        "--node-config",
        node_config_arg(party.name, party.data, work, party.authorizations, fed.platform_key),
    ]
    cmd += ["--root-certificates", fed.ca_cert] if fed.ca_cert else ["--insecure"]
    node_id = None
    if fed.supernode_auth:
        private, public = party_key(state, party.name)
        node_id = _registered(fed, party.name)
        cmd += ["--auth-supernode-private-key", str(private)]
        cmd += ["--auth-supernode-public-key", str(public)]
    log = state / "logs" / f"supernode-{party.name}.log"
    pid = spawn(cmd, log, flower_env(state / "flwr-home" / f"node-{party.name}"))
    return NodeProc(
        party.name,
        pid,
        node_port,
        str(log),
        str(work),
        worker=worker and supported(),
        data=str(party.data),
        authorizations=str(party.authorizations or ""),
        node_id=node_id,
    )


def _registered(fed: Federation, party: str) -> int:
    """The node id of ``party``'s registered key (registered on first use, then kept)."""
    if party not in fed.registered:
        fed.registered[party] = register_party(
            Path(fed.state_dir), fed.superlink, fed.ca_cert, party
        )
        fed.save()
    return fed.registered[party]


def federation_up(
    cfg: ExperimentConfig,
    state_dir: str | Path,
    *,
    tls: bool = False,
    poll: float = DEFAULT_NODE_POLL,
    worker: bool = True,
    platform_key: str | Path | None = None,
    supernode_auth: bool = False,
) -> Federation:
    """Start a SuperLink and one SuperNode per party of ``cfg`` on 127.0.0.1.

    ``platform_key`` (the platform's public key, PEM) goes into every SuperNode's node
    config: the nodes then serve only runs the platform authorized (federation.run_auth).
    ``supernode_auth``: the SuperLink accepts only SuperNodes whose key is registered, each
    party's key is registered under its name (federation.runtime.node_keys) and the
    coordinator takes a party to be only its registered node.

    Each SuperNode starts through :mod:`federation.runtime.supernode`: ``poll`` > 0 shortens
    Flower's hard-coded 3 s idle sleep to ``poll`` seconds, and ``worker`` (used on flwr
    1.41.x only) answers every message from one long-lived ClientApp process instead of a
    fresh ``flwr-clientapp`` process per message. ``poll=0, worker=False`` runs Flower's
    ``flower-supernode`` unchanged.
    """
    state = Path(state_dir).resolve()
    old = Federation.load(state)
    if old is not None and any(r["state"] == "running" for r in federation_status(state)):
        raise ConfigError(
            f"a federation is already running in {state}",
            hint="Stop it with `fedlab federation down` first.",
        )
    check_data_files(cfg)
    plain = poll <= 0 and not worker  # Flower's own flower-supernode, see _start_supernode
    require_bins(["flower-superlink", *FLOWER_CHILDREN, *(["flower-supernode"] if plain else [])])
    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    link_cmd, ca = _superlink_cmd(state, port, tls=tls, auth=supernode_auth)
    link_log = state / "logs" / "superlink.log"
    link_pid = spawn(link_cmd, link_log, flower_env(state / "flwr-home" / "superlink"))
    fed = Federation(str(state), f"127.0.0.1:{port}", link_pid, str(link_log), ca)
    fed.platform_key = str(Path(platform_key).resolve()) if platform_key else None
    fed.supernode_auth = supernode_auth
    fed.save()
    try:
        wait_port(port, link_pid, link_log)
        for p in cfg.parties:
            fed.nodes.append(_start_supernode(fed, p, poll=poll, worker=worker))
            fed.save()
    except BaseException:
        federation_down(state)
        raise
    return fed


def _running(state_dir: str | Path) -> Federation:
    fed = Federation.load(Path(state_dir).resolve())
    if fed is None or not alive(fed.superlink_pid):
        raise ConfigError(
            f"no running federation in {Path(state_dir).resolve()}",
            hint="Start one with `fedlab federation up --config ...`.",
        )
    return fed


def add_supernode(
    state_dir: str | Path,
    party: PartySpec,
    *,
    poll: float = DEFAULT_NODE_POLL,
    worker: bool = True,
) -> NodeProc:
    """Start a SuperNode for ``party`` on the running federation in ``state_dir``; a
    party that already has one is refused (:func:`remove_supernode` it first)."""
    fed = _running(state_dir)
    if any(n.party == party.name for n in fed.nodes):
        raise ConfigError(
            f"the federation in {fed.state_dir} already has a SuperNode for party {party.name!r}",
            hint="Remove it first (remove_supernode), or stop the federation.",
        )
    check_party_files(party)
    node = _start_supernode(fed, party, poll=poll, worker=worker)
    fed.nodes.append(node)
    fed.save()
    return node


def restart_supernode(
    state_dir: str | Path, party: str, *, poll: float = DEFAULT_NODE_POLL
) -> NodeProc:
    """Stop ``party``'s SuperNode and start it again with the same data, authorization
    table, launching and (with SuperNode authentication) the same registered key."""
    fed = _running(state_dir)
    node = next((n for n in fed.nodes if n.party == party), None)
    if node is None:
        raise ConfigError(
            f"the federation in {fed.state_dir} has no SuperNode for party {party!r}",
            hint=f"Its parties: {sorted(n.party for n in fed.nodes)}.",
        )
    spec = PartySpec(
        name=node.party,
        role=PartyRole.GUEST if node.authorizations else PartyRole.HOST,  # not used to start
        data=Path(node.data),
        authorizations=Path(node.authorizations) if node.authorizations else None,
    )
    remove_supernode(state_dir, party)
    return add_supernode(state_dir, spec, poll=poll, worker=node.worker)


def remove_supernode(state_dir: str | Path, party: str, *, timeout: float = 10.0) -> bool:
    """Stop the SuperNode of ``party`` (with its ClientApp worker); whether one ran."""
    fed = Federation.load(Path(state_dir).resolve())
    node = next((n for n in fed.nodes if n.party == party), None) if fed else None
    if fed is None or node is None:
        return False
    stopped = stop_group(node.pid, timeout)
    fed.nodes.remove(node)
    fed.save()
    return stopped


def federation_down(state_dir: str | Path, *, timeout: float = 10.0) -> list[str]:
    """Stop the SuperNodes, then the SuperLink; return what was stopped."""
    fed = Federation.load(state_dir)
    if fed is None:
        return []
    stopped = [f"supernode {n.party}" for n in fed.nodes if stop_group(n.pid, timeout)]
    if stop_group(fed.superlink_pid, timeout):
        stopped.append("superlink")
    Path(state_dir, STATE_FILE).unlink(missing_ok=True)
    return stopped


def federation_status(state_dir: str | Path) -> list[dict[str, Any]]:
    """One row per process of the federation in ``state_dir``: name, pid, state, detail."""
    fed = Federation.load(state_dir)
    if fed is None:
        return []
    rows = [
        {
            "name": "superlink",
            "pid": fed.superlink_pid,
            "state": "running" if alive(fed.superlink_pid) else "stopped",
            "detail": f"{fed.superlink} {'TLS' if fed.ca_cert else 'insecure'}",
        }
    ]
    for n in fed.nodes:
        rows.append(
            {
                "name": f"supernode {n.party}",
                "pid": n.pid,
                "state": "running" if alive(n.pid) else "stopped",
                "detail": f"work-dir {n.work_dir}"
                + (", long-lived ClientApp worker" if n.worker else ""),
            }
        )
    return rows


__all__ = [
    "DEFAULT_NODE_POLL",
    "DEFAULT_STATE_DIR",
    "STATE_FILE",
    "Federation",
    "NodeProc",
    "add_supernode",
    "federation_down",
    "federation_status",
    "federation_up",
    "node_config_arg",
    "remove_supernode",
    "restart_supernode",
]
