"""A run's output folder: written atomically, generated from what actually happened.

``DIR/metrics.json``    the driver's public metrics plus exchange counts, seconds per phase,
                        bytes per party (from the MessageLog), runtime and wall seconds;
``DIR/disclosure.json`` per party, what it received and sent (message types, counts, bytes,
                        payload field names) and the intersection size if the driver reports
                        it, all derived from the MessageLog, never written by hand;
``DIR/config.toml``     the experiment config as run;
``DIR/parties/NAME/``   each party's model piece (local and simulation runtimes) or, in a
                        deployment, ``location.json``: the run's folder at the party that
                        holds the piece (``runs/<run id>`` in its SuperNode's work dir; the
                        absolute path too on a local federation, where the coordinator knows
                        the work dirs).

Everything is written to a hidden sibling folder first and renamed to DIR only when the run
succeeded: a failed run leaves DIR absent, or untouched when it existed before.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from federation.protocol import ProtocolResult
from federation.runtime.state import run_folder
from federation.transport import MessageLog

METRICS_FILE = "metrics.json"
DISCLOSURE_FILE = "disclosure.json"
CONFIG_FILE = "config.toml"
PARTIES_DIR = "parties"
LOCATION_FILE = "location.json"


@contextmanager
def staging(out_dir: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``out_dir``; rename it to ``out_dir`` on success."""
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_staging(out_dir: str | Path) -> list[Path]:
    """Delete the staging folders of ``out_dir`` that a killed writer left (a run whose
    coordinator died mid-write); the folders removed. DIR itself is never touched."""
    out = Path(out_dir).resolve()
    if not out.parent.is_dir():
        return []
    stale = [p for p in out.parent.glob(f".{out.name}.tmp-*") if p.is_dir()]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def write_json(path: Path, obj: Any) -> None:
    path.write_text(
        json.dumps(obj, indent=2, sort_keys=True, default=_jsonable, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )


def build_metrics(
    result: ProtocolResult,
    log: MessageLog,
    *,
    runtime: str,
    wall_seconds: float,
    phase_seconds: Mapping[str, float],
    epoch_exchanges: list[int],
) -> dict[str, Any]:
    """metrics.json: the driver's metrics plus what the runtime measured."""
    metrics: dict[str, Any] = dict(result.metrics)
    seconds = dict(metrics.get("seconds_per_phase") or metrics.get("seconds") or {})
    for k, v in phase_seconds.items():
        seconds.setdefault(k, round(float(v), 4))
    metrics["seconds_per_phase"] = seconds
    metrics["n_exchanges"] = log.exchanges
    if epoch_exchanges:
        if "exchanges_per_epoch" in metrics:  # the driver's own (planned) figure
            metrics["exchanges_per_epoch_driver"] = metrics["exchanges_per_epoch"]
        # the first epoch also counts setup exchanges unless the driver announced a phase
        # ("phase" progress event) just before training; report the steady state
        steady = epoch_exchanges[1:] or epoch_exchanges
        metrics["exchanges_per_epoch"] = round(float(np.mean(steady)), 3)
        metrics["exchanges_by_epoch"] = list(epoch_exchanges)
    if log.data_warnings:  # the parties' data contract warnings (names and counts)
        metrics["data_warnings"] = {p: list(w) for p, w in log.data_warnings.items()}
    metrics["bytes_per_party"] = log.bytes_by_party()
    metrics["bytes_total"] = sum(m.nbytes for m in log.messages)
    metrics["runtime"] = runtime
    metrics["wall_seconds"] = round(wall_seconds, 3)
    return metrics


def build_disclosure(
    log: MessageLog, roles: Mapping[str, str], result: ProtocolResult
) -> dict[str, Any]:
    """disclosure.json: per party, every message type it received and sent."""
    inter = result.metrics.get("intersection_size", result.metrics.get("n_aligned"))
    parties: dict[str, Any] = {}
    coord_received: dict[str, dict[str, Any]] = {}
    coord_sent: dict[str, dict[str, Any]] = {}
    for name, role in roles.items():
        parties[name] = {"role": role, "received": {}, "sent": {}}
        if inter is not None:
            parties[name]["intersection_size"] = int(inter)
    for m in log.messages:
        entry = parties.setdefault(m.party, {"role": "unknown", "received": {}, "sent": {}})
        side = "received" if m.direction == "to_party" else "sent"
        _add(entry[side], m.action, m.nbytes, m.fields)
        _add(coord_sent if side == "received" else coord_received, m.action, m.nbytes, m.fields)
    return {
        "parties": parties,
        "coordinator": {"role": "coordinator", "received": coord_received, "sent": coord_sent},
        "n_exchanges": log.exchanges,
        "generated_from": "the run's message log (every message that crossed a party boundary)",
    }


def _add(
    table: dict[str, dict[str, Any]], action: str, nbytes: int, fields: tuple[str, ...]
) -> None:
    row = table.setdefault(action, {"count": 0, "bytes": 0, "fields": []})
    row["count"] += 1
    row["bytes"] += int(nbytes)
    row["fields"] = sorted(set(row["fields"]) | set(fields))


def write_outputs(
    stage: Path,
    *,
    metrics: dict[str, Any],
    disclosure: dict[str, Any],
    config_text: str,
    model_summary: Mapping[str, Any] | None = None,
) -> None:
    """Write the run's files into the staging folder."""
    write_json(stage / METRICS_FILE, metrics)
    write_json(stage / DISCLOSURE_FILE, disclosure)
    (stage / CONFIG_FILE).write_text(config_text, encoding="utf-8")
    if model_summary:
        write_json(stage / "model_summary.json", dict(model_summary))


def party_dir(stage: Path, party: str) -> Path:
    return stage / PARTIES_DIR / party


def write_location(
    folder: Path, *, party: str, role: str, run_key: str, home: str | None = None
) -> None:
    """``location.json`` of a deployment run: the party keeps its piece in its run folder
    ``runs/<run>`` under its SuperNode's work dir (``home``, when the coordinator knows it)."""
    relative = run_folder(Path(), run_key).as_posix()
    info: dict[str, Any] = {
        "party": party,
        "role": role,
        "run": run_key,
        "model_piece": relative,
        "relative_to": "the party's SuperNode work-dir",
    }
    if home:
        info["path"] = str(Path(home) / relative)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / LOCATION_FILE, info)


def piece_ref(out_dir: str | Path, party: str) -> str | None:
    """Where ``party``'s piece of the run in DIR is: an absolute folder (its folder in DIR
    for local and simulation runs, ``location.json``'s path on a local federation), a folder
    relative to the party's SuperNode work dir (``runs/<run>``), or None when DIR names
    none."""
    folder = party_dir(Path(out_dir), party)
    loc = folder / LOCATION_FILE
    if loc.is_file():
        info = json.loads(loc.read_text(encoding="utf-8"))
        return str(info.get("path") or info.get("model_piece") or "") or None
    return str(folder.resolve()) if folder.is_dir() else None


def piece_locations(out_dir: str | Path, parties: list[str]) -> dict[str, str]:
    """Per party, where the model piece of the run in DIR is kept (for a model version's
    artifacts): an absolute folder, else a note naming the party (and its run folder)."""
    out: dict[str, str] = {}
    for p in parties:
        ref = piece_ref(out_dir, p)
        if ref is not None and Path(ref).is_absolute():
            out[p] = ref
        else:
            where = f" ({ref} in its SuperNode's work-dir)" if ref else ""
            out[p] = f"held by party {p}{where}"
    return out


__all__ = [
    "CONFIG_FILE",
    "DISCLOSURE_FILE",
    "LOCATION_FILE",
    "METRICS_FILE",
    "PARTIES_DIR",
    "build_disclosure",
    "build_metrics",
    "party_dir",
    "piece_locations",
    "piece_ref",
    "remove_staging",
    "staging",
    "write_json",
    "write_location",
    "write_outputs",
]
