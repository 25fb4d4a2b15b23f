"""``fedlab train``, ``fedlab score`` and ``fedlab federation up|down|status``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

federation_app = typer.Typer(no_args_is_help=True)

DEFAULT_STATE_DIR = Path(".fedlab/federation")


def train(
    config: Path = typer.Option(..., "--config", "-c", help="experiment.toml"),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (written atomically)."),
    runtime: str = typer.Option(
        None, help="Override experiment.runtime: local | simulation | deployment."
    ),
    state_dir: Path = typer.Option(
        DEFAULT_STATE_DIR,
        help="Local federation folder (deployment runtime, see `fedlab federation up`).",
    ),
    allow_plaintext: bool = typer.Option(
        False,
        "--allow-plaintext",
        help="Tests and benchmarks only: let backend = 'plaintext' (no encryption) run on "
        "the simulation or deployment runtime (the local runtime needs no opt-in).",
    ),
) -> None:
    """Train a federated model; DIR gets metrics.json, disclosure.json and model pieces."""
    from federation.run import run_experiment

    if allow_plaintext:
        typer.secho(
            "警告：--allow-plaintext 允许明文后端（不加密），仅用于测试与基准。\n"
            "WARNING: --allow-plaintext lets the plaintext backend (no encryption) run; "
            "tests and benchmarks only.",
            err=True,
            fg=typer.colors.RED,
            bold=True,
        )

    def progress(event: str, fields: dict) -> None:  # type: ignore[type-arg]
        if event == "epoch":
            typer.echo(
                f"  epoch {fields.get('epoch')}: "
                + ", ".join(f"{k}={v}" for k, v in fields.items() if k != "epoch")
            )
        elif event == "phase":
            typer.echo(f"- {fields.get('phase')}")

    summary = run_experiment(
        config,
        out,
        runtime=runtime,
        progress=progress,
        state_dir=state_dir,
        allow_plaintext=allow_plaintext,
    )
    m = summary.metrics
    shown = {
        k: m[k] for k in ("auc", "ks", "n_aligned", "n_exchanges", "exchanges_per_epoch") if k in m
    }
    typer.echo(
        f"{summary.runtime} run finished in {summary.wall_seconds:.1f} s: {json.dumps(shown)}"
    )
    for key, title in _GRADE_TABLES:
        if m.get(key):
            typer.echo(f"{title}:\n{m[key]}")
    for party, found in (m.get("data_warnings") or {}).items():
        for w in found:
            typer.echo(f"  数据警告 / data warning ({party}): {w}")
    typer.echo(f"outputs: {summary.out_dir}")


#: A scorecard run's grade tables, as ``fedlab train`` prints them (metrics key, title).
_GRADE_TABLES = (
    ("grade_table_dev", "等级分布（开发样本：全部对齐企业）/ grades on the development sample"),
    ("grade_table", "等级分布（验证集）/ grades on the validation rows"),
)


def score(
    config: Path = typer.Option(..., "--config", "-c", help="experiment.toml of the model."),
    model: Path = typer.Option(..., "--model", "-m", help="The training run's DIR."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for the scores."),
    runtime: str = typer.Option(None, help="Override experiment.runtime."),
) -> None:
    """Score new aligned enterprises with a trained federated model."""
    try:
        from federation import scoring
    except ModuleNotFoundError as exc:
        if exc.name != "federation.scoring":
            raise
        from lab.errors import ConfigError

        raise ConfigError("joint scoring is not available in this build") from None
    scoring.score_command(config=config, model=model, out=out, runtime=runtime)


@federation_app.command("up")
def up(
    config: Path = typer.Option(
        ..., "--config", "-c", help="experiment.toml naming the parties and their data."
    ),
    tls: bool = typer.Option(
        True,
        "--tls/--insecure",
        help="Serve the SuperLink with TLS (default; a local CA is generated in the state "
        "dir). --insecure: plaintext on loopback, for a trial only.",
    ),
    auth: bool = typer.Option(
        True,
        "--auth/--no-auth",
        help="SuperNode authentication (default): each party's key is registered under its "
        "name and only registered nodes may connect or answer as that party.",
    ),
    state_dir: Path = typer.Option(
        DEFAULT_STATE_DIR, help="Where PIDs, logs, certificates and party work dirs go."
    ),
    worker: bool = typer.Option(
        True,
        "--worker/--no-worker",
        help="Answer every message of "
        "a SuperNode from one long-lived ClientApp process (flwr "
        "1.41.x; otherwise Flower starts a process per message).",
    ),
    platform_key: Path | None = typer.Option(
        None,
        "--platform-key",
        help="The platform's public key (audit_public_key.pem): every SuperNode then "
        "serves only runs the platform authorized / 节点仅执行平台签发授权的任务.",
    ),
) -> None:
    """Start a SuperLink and one SuperNode per party on 127.0.0.1."""
    from federation.config import load_config
    from federation.runtime.deployment import federation_up

    if platform_key is not None and not platform_key.is_file():
        raise typer.BadParameter(f"--platform-key {platform_key}: no such file")
    if not tls or not auth:
        typer.secho(
            "warning: "
            + ", ".join(
                w
                for w, off in (("no TLS", not tls), ("no SuperNode authentication", not auth))
                if off
            )
            + ": any local process can join as a party; for a trial only "
            "/ 警告：未启用 TLS 或节点认证",
            fg="red",
            err=True,
        )
    fed = federation_up(
        load_config(config),
        state_dir,
        tls=tls,
        worker=worker,
        platform_key=platform_key,
        supernode_auth=auth,
    )
    launch = (
        "one long-lived ClientApp worker each"
        if any(n.worker for n in fed.nodes)
        else "a ClientApp process per message"
    )
    typer.echo(
        f"SuperLink on {fed.superlink} ({'TLS' if fed.ca_cert else 'insecure'}"
        f"{', SuperNode authentication' if fed.supernode_auth else ''}), "
        f"SuperNodes: {', '.join(n.party for n in fed.nodes)} ({launch}); "
        f"state in {state_dir}"
    )


@federation_app.command("down")
def down(
    state_dir: Path = typer.Option(DEFAULT_STATE_DIR, help="The federation's state dir."),
) -> None:
    """Stop the local federation (SuperNodes first, then the SuperLink)."""
    from federation.runtime.deployment import federation_down

    stopped = federation_down(state_dir)
    typer.echo(f"stopped {len(stopped)} process(es)" if stopped else "nothing was running")


@federation_app.command("status")
def status(
    state_dir: Path = typer.Option(DEFAULT_STATE_DIR, help="The federation's state dir."),
) -> None:
    """Show which federation processes run."""
    from federation.runtime.deployment import federation_status

    rows = federation_status(state_dir)
    if not rows:
        typer.echo("no local federation in " + str(state_dir))
        raise typer.Exit(1)
    for row in rows:
        typer.echo(f"{row['name']:<20} pid {row['pid']:<8} {row['state']:<8} {row['detail']}")


node_app = typer.Typer(no_args_is_help=True, help="One SuperNode of the local federation.")
federation_app.add_typer(node_app, name="node")


@node_app.command("restart")
def node_restart(
    party: str = typer.Argument(..., help="The party whose SuperNode restarts."),
    state_dir: Path = typer.Option(DEFAULT_STATE_DIR, help="The federation's state dir."),
) -> None:
    """重启节点 Restart one party's SuperNode (same data, same registered key)."""
    from federation.runtime.local_federation import restart_supernode

    node = restart_supernode(state_dir, party)
    typer.echo(f"SuperNode {node.party} restarted (pid {node.pid}, node id {node.node_id})")


def register(app: typer.Typer) -> None:
    """Add the federation commands to the main app."""
    app.command(name="train")(train)
    app.command(name="score")(score)
    app.add_typer(
        federation_app,
        name="federation",
        help="Local deployment: start/stop a SuperLink and one SuperNode per party.",
    )
