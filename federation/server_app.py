"""Flower ServerApp: the coordinator (platform). It holds no records.

Deployment: ``flwr run`` starts it with run config ``experiment`` (path of experiment.toml
on the coordinator's machine), ``out`` (the output DIR), ``status`` (a JSON file where
the outcome is written for ``fedlab train``) and ``progress`` (a file the driver's progress
events are appended to, see :mod:`federation.runtime.progress_file`). It discovers the
parties (each SuperNode answers ``runtime.whoami`` with its ``party`` node config), runs the
protocol driver and writes DIR atomically; each party's model piece stays at the party.
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


def write_status(path: str, ok: bool, *, error: BaseException | None = None,
                 out: str = "") -> None:
    """The outcome for ``fedlab train`` (no secrets: error messages are public facts)."""
    if not path:
        return
    record: dict[str, object] = {"ok": ok, "out": out}
    if error is not None:
        record.update(error=str(error), type=type(error).__name__,
                      code=getattr(error, "code", "FEDLAB-000"))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    tmp.replace(p)


def deployment_main(grid: Grid, context: Context) -> None:
    from federation.config import load_config
    from federation.outputs import party_dir, staging, write_json
    from federation.runtime.coordinator import coordinate
    from federation.runtime.progress_file import progress_writer
    from lab.errors import ConfigError

    started = time.perf_counter()
    rc = context.run_config
    status = str(rc.get("status", ""))
    try:
        cfg_path = str(rc.get("experiment", ""))
        if not cfg_path:
            raise ConfigError("run config `experiment` (path of experiment.toml) is empty",
                              hint="Use `fedlab train --config experiment.toml --out DIR`.")
        cfg = load_config(cfg_path)
        out = Path(str(rc.get("out", "")) or f"runs/{cfg.experiment.name}").resolve()
        text = Path(cfg_path).read_text(encoding="utf-8")
        with staging(out) as stage:
            coordinate(grid, cfg, stage, runtime="deployment", config_text=text,
                       started=started, progress=progress_writer(str(rc.get("progress", ""))))
            for p in cfg.parties:
                d = party_dir(stage, p.name)
                d.mkdir(parents=True, exist_ok=True)
                write_json(d / "location.json", {
                    "party": p.name, "role": p.role.value,
                    "model_piece": "kept at the party, in its SuperNode's work-dir"})
        write_status(status, True, out=str(out))
    except BaseException as exc:
        write_status(status, False, error=exc)
        raise


app = build_server_app(deployment_main)

__all__ = ["app", "build_server_app", "deployment_main", "write_status"]
