"""The worker (`fedlab lab worker`): claims approved experiments and runs them.

A worker claims one experiment at a time with a conditional UPDATE (see
lab.services.experiments.claim_next), so several workers on one SQLite file or one
PostgreSQL database never run an experiment twice. For each claimed experiment it builds
an experiment config from the catalog (parties, data locations at each party, the
indicator columns, the guest's label and authorizations), runs it through
``federation.run.run_experiment`` (simulation runtime by default), records the loss as it
goes (per epoch, or per tree for SecureBoost), and files a candidate model version with the
run's public metrics, ROC points (aggregates, when metrics.json has them), lineage and
per-party artifact locations.
A failure marks the experiment failed with the reason.

On the deployment runtime the worker runs on the federation its
:class:`~federation.runtime.target.FederationTarget` names (a local federation's state dir,
or a SuperLink address with its CA): :meth:`Worker.preflight` checks it before anything is
claimed, and each run first checks that every party of the experiment has a SuperNode there.

What leaves the lab here: the config handed to the federation (paths at each party, column
names, the guest's authorization table written into the run folder for the guest's own
process). What comes back: metrics.json (aggregates only).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

import lab
from federation.outputs import piece_locations
from federation.runtime.target import FederationTarget
from lab.db import session_scope
from lab.errors import ConfigError, LabError, NotFoundError
from lab.models import Algorithm, DatasetRegistration, Experiment, Organization, SampleSet
from lab.services import experiments as exp_svc
from lab.services.catalog import get_indicators, node_for_org, worker_principal
from lab.services.consent import export_authorizations
from lab.services.models_library import register_model_version

log = logging.getLogger("fedlab.worker")

ProgressFn = Callable[[str, dict[str, Any]], None]
Executor = Callable[[Any, Path, str, ProgressFn], dict[str, Any]]
"""(config, out_dir, runtime, progress) -> metrics; must write metrics.json into out_dir."""

MAX_REASON = 500
PROGRESS_EVENTS = frozenset({"phase", "epoch", "tree", "lr.setup", "sb.setup"})
"""Driver progress events the worker records: phases, LR epochs, SecureBoost trees, and the
hetero LR / SecureBoost set-up (its n_train and n_valid tell the sandbox how many
enterprises the loss is computed on while the run goes)."""


@dataclass(frozen=True)
class FederationExecutor:
    """The real executor: federation.run.run_experiment (``state_dir``: the local
    federation's folder, or the run folders' when the config names a SuperLink)."""

    state_dir: Path | None = None

    def __call__(
        self, config: Any, out_dir: Path, runtime: str, progress: ProgressFn
    ) -> dict[str, Any]:
        from federation.run import run_experiment

        return dict(
            run_experiment(
                config, out_dir, runtime=runtime, progress=progress, state_dir=self.state_dir
            ).metrics
        )


federation_executor: Executor = FederationExecutor()


def build_config(
    session: Any,
    exp: Experiment,
    run_dir: Path,
    runtime: str,
    deployment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An experiment.toml-shaped dict for ``exp`` from catalog metadata (``deployment``:
    its ``[deployment]`` section, where the SuperLink is)."""
    sample = session.get(SampleSet, exp.sample_id)
    algo = session.get(Algorithm, exp.algorithm_id)
    if sample is None or algo is None:
        raise NotFoundError(f"experiment {exp.id}: its sample or algorithm is gone")
    guest_ds = session.get(DatasetRegistration, sample.dataset_id)
    guest_node = node_for_org(session, exp.owner_org_id)
    features: dict[str, list[str]] = {}
    hosts: dict[int, dict[str, Any]] = {}
    for ind in get_indicators(session, list(exp.indicator_codes)):
        if ind.owner_org_id == exp.owner_org_id:
            features.setdefault(guest_node.name, []).append(ind.column)
            continue
        if ind.owner_org_id not in hosts:
            node = node_for_org(session, ind.owner_org_id)
            ds = session.get(DatasetRegistration, ind.dataset_id) if ind.dataset_id else None
            if ds is None:
                org = session.get(Organization, ind.owner_org_id)
                raise NotFoundError(
                    f"indicator {ind.code!r} of "
                    f"{org.code if org else ind.owner_org_id!r} names no "
                    "registered dataset",
                    hint="Register the agency's dataset.",
                )
            hosts[ind.owner_org_id] = {"name": node.name, "role": "host", "data": ds.location}
        features.setdefault(hosts[ind.owner_org_id]["name"], []).append(ind.column)
    guest: dict[str, Any] = {
        "name": guest_node.name,
        "role": "guest",
        "data": guest_ds.location if guest_ds else sample.id_list_location,
        "label": sample.label_column,
    }
    as_of = exp_svc.authorization_date(session, exp)
    if exp.authorization_required:
        path = run_dir / "guest_authorizations.csv"
        export_authorizations(session, exp.owner_org_id, path)
        guest["authorizations"] = str(path)
    return {
        "experiment": {
            "name": f"experiment-{exp.id}",
            "algorithm": algo.name,
            "backend": exp.backend,
            "id_column": guest_ds.id_column if guest_ds else "uscc",
            "runtime": runtime,
            "authorization": "required" if exp.authorization_required else "none",
            "as_of": as_of.isoformat(),
            "features": features or None,
        },
        "params": nested_params(exp.params),
        **({"deployment": deployment} if deployment else {}),
        "parties": [guest, *hosts.values()],
    }


def nested_params(params: dict[str, Any]) -> dict[str, Any]:
    """Catalog parameters with dotted names as nested sections: ``{"binning.max_bins": 8}``
    → ``{"binning": {"max_bins": 8}}`` (the algorithm schema in the catalog is flat)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        *path, leaf = key.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def roc_points(metrics: dict[str, Any]) -> dict[str, list[float]]:
    """ROC curve points from metrics.json ('roc': {'fpr': [...], 'tpr': [...]}) if present."""
    roc = metrics.get("roc") or metrics.get("roc_curve")
    if isinstance(roc, dict) and "fpr" in roc and "tpr" in roc:
        return {"fpr": [float(x) for x in roc["fpr"]], "tpr": [float(x) for x in roc["tpr"]]}
    return {}


MAX_LIST = 1000


def _numbers(v: Any) -> bool:
    """A short list of numbers (None: a suppressed cell of a min-cell aggregate)."""
    return (
        isinstance(v, list)
        and len(v) <= MAX_LIST
        and all(x is None or (isinstance(x, int | float) and not isinstance(x, bool)) for x in v)
    )


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (a grade band's open bound ``-inf``, a diverged
    ``nan`` loss) as None: PostgreSQL's json type refuses Infinity and NaN, and JSON has none."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [json_safe(x) for x in value]
    if isinstance(value, dict):
        return {k: json_safe(x) for k, x in value.items()}
    return value


def public_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """What the model library keeps of metrics.json: scalars, short numeric lists (loss per
    epoch), tables of scalar rows (the lift table), dicts of scalars (bytes per party) and of
    numeric lists (the score histogram) — aggregates only. The ROC points are stored on their own.
    Non-finite numbers are kept as None (:func:`json_safe`)."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        if k in ("roc", "roc_curve"):
            continue
        table = (
            isinstance(v, list)
            and len(v) <= MAX_LIST
            and all(isinstance(row, dict) and all(_scalar(x) for x in row.values()) for row in v)
        )
        named = (
            isinstance(v, dict)
            and bool(v)
            and (all(_numbers(x) for x in v.values()) or all(_scalar(x) for x in v.values()))
        )
        if (_scalar(v) and v is not None) or _numbers(v) or table or named:
            out[k] = json_safe(v)
    return out


@dataclass
class Worker:
    """One worker; ``run_once`` claims and runs at most one experiment.

    ``target`` (deployment runtime only; default: the local federation in
    ``.fedlab/federation``) names the federation the runs go to. ``executor`` defaults to
    :class:`FederationExecutor` on that target.
    """

    engine: Engine
    worker_id: str
    runs_dir: Path
    executor: Executor | None = None
    runtime: str = "simulation"
    target: FederationTarget | None = None
    processed: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.runtime == "deployment":
            self.target = self.target or FederationTarget()
        elif self.target is not None:
            raise ConfigError(
                f"a federation to run on (state dir, SuperLink) applies to the "
                f"deployment runtime only, not {self.runtime!r}",
                hint="Pass --runtime deployment, or drop --state-dir, "
                "--superlink, --root-certificates and --insecure.",
            )
        if self.executor is None:
            self.executor = FederationExecutor(self.target.state_dir if self.target else None)

    @property
    def principal(self) -> Any:
        return worker_principal(self.worker_id)

    def preflight(self) -> str:
        """Check where runs will go before claiming anything; a one-line description."""
        if self.target is None:
            return f"{self.runtime} runtime"
        return f"deployment runtime on the {self.target.check()}"

    @property
    def deployment(self) -> dict[str, Any] | None:
        """The ``[deployment]`` section of the configs this worker builds (None: none)."""
        return self.target.deployment_section() if self.target else None

    def execute(self, cfg: Any, out_dir: Path, progress: ProgressFn) -> dict[str, Any]:
        """Run ``cfg`` into ``out_dir`` (on the deployment runtime once every party has a
        SuperNode there); the metrics, as metrics.json holds them when it was written."""
        if self.target is not None:
            self.target.check_parties([p.name for p in cfg.parties])
        assert self.executor is not None  # set in __post_init__
        metrics = self.executor(cfg, out_dir, self.runtime, progress)
        metrics_file = out_dir / "metrics.json"
        if metrics_file.is_file():
            metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        return metrics

    def run_once(self) -> bool:
        """Run one requested sample count (lab.sample_count_runner), else claim one approved
        experiment and run it; False when there was neither."""
        from lab.sample_count_runner import run_next_count

        if run_next_count(self):
            return True
        me = self.principal
        with session_scope(self.engine) as s:
            claimed = exp_svc.claim_next(session=s, actor=me)
            exp_id = claimed.id if claimed is not None else None
        if exp_id is None:
            return False
        self.processed.append(exp_id)
        log.info("worker %s claimed experiment %s", self.worker_id, exp_id)
        try:
            self._run(exp_id)
        except exp_svc.RunCancelled:
            log.info("experiment %s was cancelled", exp_id)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded with its reason
            reason = reason_of(exc)
            log.warning("experiment %s failed: %s", exp_id, reason)
            with session_scope(self.engine) as s:
                exp_svc.fail_run(session=s, actor=me, experiment_id=exp_id, reason=reason)
        return True

    def _run(self, exp_id: int) -> None:
        me = self.principal
        run_dir = (self.runs_dir / f"experiment-{exp_id}").resolve()
        with session_scope(self.engine) as s:
            exp = exp_svc.start_run(session=s, actor=me, experiment_id=exp_id)
            run_dir.mkdir(parents=True, exist_ok=True)
            raw = build_config(s, exp, run_dir, self.runtime, self.deployment)
        from federation.config import parse_config

        cfg = parse_config(raw)
        parties = [p.name for p in cfg.parties]

        def progress(event: str, fields: dict[str, Any]) -> None:
            if event in PROGRESS_EVENTS:
                entry = json_safe(
                    {
                        "event": event,
                        **{
                            k: v
                            for k, v in fields.items()
                            if isinstance(v, int | float | str | bool)
                        },
                    }
                )
                with session_scope(self.engine) as s2:
                    exp_svc.record_progress(session=s2, actor=me, experiment_id=exp_id, entry=entry)

        out_dir = run_dir / "result"
        metrics = self.execute(cfg, out_dir, progress)
        with session_scope(self.engine) as s:
            exp = exp_svc.succeed_run(session=s, actor=me, experiment_id=exp_id)
            algo = s.get(Algorithm, exp.algorithm_id)
            bank = exp_svc.org_code(s, exp.owner_org_id)
            artifacts = piece_locations(out_dir, parties)
            register_model_version(
                session=s,
                actor=me,
                experiment=exp,
                name=f"{bank}/{exp.name}",
                algorithm=algo.name if algo else "",
                metrics=public_metrics(metrics),
                roc=roc_points(metrics),
                artifacts=artifacts,
                lineage={
                    "experiment": exp_id,
                    "sample": exp.sample_id,
                    "bank": bank,
                    "parties": parties,
                    "indicators": list(exp.indicator_codes),
                    "algorithm": algo.name if algo else "",
                    "algorithm_version": algo.version if algo else "",
                    "params": dict(exp.params),
                    "backend": exp.backend,
                    "runtime": self.runtime,
                    "code_version": lab.__version__,
                    "run_dir": str(out_dir),
                    **(
                        {
                            "federation": self.target.superlink
                            or str(Path(self.target.state_dir).resolve())
                        }
                        if self.target
                        else {}
                    ),
                },
            )

    def run_forever(
        self,
        *,
        poll_seconds: float = 2.0,
        max_idle_polls: int | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Loop until ``stop`` is set (or ``max_idle_polls`` empty polls in a row)."""
        idle = 0
        stop = stop or threading.Event()
        while not stop.is_set():
            if self.run_once():
                idle = 0
                continue
            idle += 1
            if max_idle_polls is not None and idle >= max_idle_polls:
                break
            stop.wait(poll_seconds)
        return len(self.processed)


def reason_of(exc: BaseException) -> str:
    """The failure reason recorded for a run: the error's type (and code, or where it was
    raised), its message, at most MAX_REASON characters."""
    if isinstance(exc, LabError):
        text = f"{type(exc).__name__} [{exc.code}]: {exc}"
    else:
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
        text = f"{type(exc).__name__}{where}: {exc}"
    return text[:MAX_REASON]


__all__ = [
    "Executor",
    "FederationExecutor",
    "Worker",
    "build_config",
    "federation_executor",
    "json_safe",
    "nested_params",
    "public_metrics",
    "reason_of",
    "roc_points",
]
