"""A tiny test-only protocol that exercises the runtimes (not a model).

Enable it with ``FEDLAB_PROTOCOL_MODULES=echo_protocol`` (this folder on the path) on the
coordinator and on every party. Messages: ``echo.init`` (party counts its rows: the count
leaves), ``echo.step`` (coordinator sends an array, party returns it doubled plus its round
counter kept in ``ctx.state``; with ``sleep`` it first waits that many seconds, so a test
can kill a process while a step is in flight), ``echo.save`` (party writes its piece to its
work dir).
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from federation.party import PartyContext, register
from federation.protocol import ProgressFn, ProtocolResult
from federation.transport import Envelope, Payload, Transport
from lab.errors import DataValidationError

ALGORITHM = "echo"


@register("echo.init")
def _init(ctx: PartyContext, payload: Payload) -> Payload:
    if payload.get("fail") == ctx.name:
        raise DataValidationError(f"party {ctx.name!r}: column 'x' is broken (test)")
    assert ctx.data_path is not None
    n = sum(1 for _ in ctx.data_path.open(encoding="utf-8")) - 1
    ctx.state.update({"rows": n, "round": 0, "pids": [os.getpid()]})
    return {"n_rows": n}


@register("echo.step")
def _step(ctx: PartyContext, payload: Payload) -> Payload:
    time.sleep(float(payload.get("sleep", 0.0)))
    ctx.state["round"] += 1
    ctx.state["pids"].append(os.getpid())
    return {
        "round": ctx.state["round"],
        "y": np.asarray(payload["x"]) * 2.0,
        "rows": ctx.state["rows"],
    }


@register("echo.save")
def _save(ctx: PartyContext, payload: Payload) -> Payload:  # noqa: ARG001
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    piece = {
        "party": ctx.name,
        "role": ctx.role.value,
        "rounds": ctx.state["round"],
        "rows": ctx.state["rows"],
        "n_pids": len(set(ctx.state["pids"])),
        "state_at": str(ctx.private),  # where the runtime kept this party's run state
    }
    (ctx.work_dir / "piece.json").write_text(json.dumps(piece))
    return {"saved": True}


def drive(transport: Transport, config, *, progress: ProgressFn) -> ProtocolResult:  # noqa: ANN001
    parties = sorted(transport.party_roles())
    fail = str(config.params.get("fail", ""))
    progress("phase", {"phase": "setup"})
    init = transport.exchange([Envelope(p, "echo.init", {"fail": fail}) for p in parties])
    rows = {p: int(r.payload["n_rows"]) for p, r in init.items()}
    progress("phase", {"phase": "train"})
    epochs = int(config.params.get("epochs", 2))
    sleep = float(config.params.get("sleep", 0.0))
    for epoch in range(epochs):
        x = np.arange(4, dtype=np.float64) + epoch
        step = {"x": x, "sleep": sleep} if sleep else {"x": x}
        out = transport.exchange([Envelope(p, "echo.step", step) for p in parties])
        for r in out.values():
            if not np.array_equal(r.payload["y"], x * 2) or r.payload["round"] != epoch + 1:
                raise AssertionError(f"bad echo from {r.party}: {r.payload}")
        progress("epoch", {"epoch": epoch, "loss": 1.0 / (epoch + 1)})
    transport.exchange([Envelope(p, "echo.save", {}) for p in parties])
    return ProtocolResult(
        metrics={
            "n_aligned": min(rows.values()),
            "rows": rows,
            "loss": [1.0 / (e + 1) for e in range(epochs)],
            "epochs": epochs,
        },
        model_summary={"kind": "echo"},
    )


def write_echo_experiment(
    folder,
    *,
    runtime: str = "local",
    epochs: int = 2,  # noqa: ANN001
    hosts: tuple[str, ...] = ("tax",),
    extra: str = "",
) -> os.PathLike[str]:
    """Write guest/host CSVs and an experiment.toml for the echo protocol; return its path."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bank.csv").write_text(
        "id,x,default\n" + "".join(f"{i},{i * 0.5},{i % 2}\n" for i in range(5))
    )
    parties = ['[[parties]]\nname = "bank"\nrole = "guest"\ndata = "bank.csv"\nlabel = "default"\n']
    for k, h in enumerate(hosts):
        (folder / f"{h}.csv").write_text("id,y\n" + "".join(f"{i},{i}\n" for i in range(3 + k)))
        parties.append(f'[[parties]]\nname = "{h}"\nrole = "host"\ndata = "{h}.csv"\n')
    path = folder / "experiment.toml"
    path.write_text(
        f'[experiment]\nname = "echo"\nalgorithm = "echo"\nruntime = "{runtime}"\n{extra}\n'
        f"[params]\nepochs = {epochs}\n\n" + "\n".join(parties),
        encoding="utf-8",
    )
    return path
