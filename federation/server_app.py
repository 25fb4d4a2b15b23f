"""Flower ServerApp: the coordinator (platform). It holds no records.

Deployment: ``flwr run`` starts it with run config ``experiment`` (path of experiment.toml
on the coordinator's machine, its paths resolved), ``config_text`` (the file as given, DIR's
``config.toml``), ``out`` (the output DIR), ``status`` (a JSON file where
the outcome is written for ``fedlab train``) and ``progress`` (a file the driver's progress
events are appended to, see :mod:`federation.runtime.progress_file`). It discovers the
parties (each SuperNode answers ``runtime.whoami`` with its ``party`` node config), runs the
protocol driver and writes DIR atomically; each party's model piece stays at the party, in
its run folder ``runs/<run id>`` of its SuperNode's work dir, which ``DIR/parties/NAME/
location.json`` names (with the absolute path when the run config ``work_dirs`` gives the
SuperNodes' work dirs: a local federation). A run that fails tells the parties to discard it.

With run config ``discard`` (a run id) the ServerApp only tells every party to discard that
run (a cancelled run, whose own ServerApp was stopped) and reports the outcome. Run config
``ended`` names earlier runs whose end some parties have not confirmed (run id -> parties,
kept by the caller): they are told first, and the status file names what is still
unconfirmed afterwards (:class:`federation.runtime.coordinator.RunEnds`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

MainFn = Callable[[Grid, Context], None]


def build_server_app(main: MainFn) -> ServerApp:
    server = ServerApp()
    server.main()(main)
    return server


def write_status(
    path: str,
    ok: bool,
    *,
    error: BaseException | None = None,
    out: str = "",
    unconfirmed: dict[str, list[str]] | None = None,
) -> None:
    """The outcome for ``fedlab train`` (no secrets: error messages are public facts; run
    ids and party names of the runs whose end not every party confirmed)."""
    if not path:
        return
    from crypto.errors import PartyError

    record: dict[str, object] = {"ok": ok, "out": out}
    if unconfirmed is not None:
        record["unconfirmed_runs"] = unconfirmed
    if error is not None:
        record.update(
            error=str(error), type=type(error).__name__, code=getattr(error, "code", "FEDLAB-000")
        )
    if isinstance(error, PartyError):  # rebuilt from its parts by the caller
        record["party_error"] = {
            "party": error.party,
            "action": error.action,
            "error_type": error.error_type,
            "error_code": error.error_code,
            "message": error.reported,
            "hint": error.hint,
        }
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    tmp.replace(p)


def deployment_main(grid: Grid, context: Context) -> None:
    from crypto.errors import ConfigError
    from federation.config import load_config
    from federation.outputs import party_dir, staging, write_location
    from federation.runtime.coordinator import RunEnds, coordinate, discard_on_federation
    from federation.runtime.progress_file import progress_writer

    started = time.perf_counter()
    rc = context.run_config
    status = str(rc.get("status", ""))
    pending = _pending(str(rc.get("ended", "")))
    ends = RunEnds(pending=pending, unconfirmed={r: list(ps) for r, ps in pending.items()})
    try:
        cfg_path = str(rc.get("experiment", ""))
        if not cfg_path:
            raise ConfigError(
                "run config `experiment` (path of experiment.toml) is empty",
                hint="Use `fedlab train --config experiment.toml --out DIR`.",
            )
        cfg = load_config(cfg_path)
        registered = {
            str(k): int(v) for k, v in json.loads(str(rc.get("nodes", "")) or "{}").items()
        }
        discard = str(rc.get("discard", ""))
        if discard:
            write_status(status, discard_on_federation(grid, cfg, discard, registered))
            return
        out = Path(str(rc.get("out", "")) or f"runs/{cfg.experiment.name}").resolve()
        text = Path(str(rc.get("config_text", "")) or cfg_path).read_text(encoding="utf-8")
        run_key = str(context.run_id)
        homes = json.loads(str(rc.get("work_dirs", "")) or "{}")
        with staging(out) as stage:
            coordinate(
                grid,
                cfg,
                stage,
                runtime="deployment",
                config_text=text,
                started=started,
                progress=progress_writer(str(rc.get("progress", ""))),
                run_key=run_key,
                ends=ends,
                registered=registered,
            )
            for p in cfg.parties:
                write_location(
                    party_dir(stage, p.name),
                    party=p.name,
                    role=p.role.value,
                    run_key=run_key,
                    home=homes.get(p.name),
                )
        write_status(status, True, out=str(out), unconfirmed=ends.to_json())
    except BaseException as exc:
        write_status(status, False, error=exc, unconfirmed=ends.to_json())
        raise


def _pending(text: str) -> dict[str, list[str]]:
    """Run config ``ended``: earlier runs (id -> parties) to report ended to their parties."""
    try:
        raw = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(r): [str(p) for p in ps] for r, ps in raw.items() if isinstance(ps, list)}


app = build_server_app(deployment_main)

__all__ = ["app", "build_server_app", "deployment_main", "write_status"]
