"""The Python SDK for data scientists (Jupyter): ``Lab.connect(...)`` and friends.

    lab = Lab.connect("lab.db", user="bank_a_ds")
    lab.indicators.search("tax")
    sample = lab.samples.create(name=..., dataset="bank_a", label_column="default_12m", ...)
    sample.profile(["acct_avg_balance"])   # counted at the bank: counts and histograms >= k
    exp = lab.experiments.create(name="lr", sample=sample.id, algorithm="hetero_lr",
                                 indicators=["taxes_paid_12m"], params={"epochs": 5})
    exp.submit(); exp.wait(); exp.metrics; exp.plot_roc()

Every call goes through lab.services with the connected user's access rules, so the SDK
sees exactly what the CLI and the sandbox see: metadata and aggregates, never raw records.
Errors are lab.errors (NotFoundError, ConfigError, ConsentError, AccessDeniedError ...).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine

from features.disclosure import DEFAULT_MIN_CELL
from lab.db import make_engine, session_scope, upgrade
from lab.errors import CatalogError, ConfigError, NotFoundError
from lab.models import (
    AlgorithmPublic,
    AuthorizationSummary,
    ConsentGrantCreate,
    ConsentGrantPublic,
    CountStatus,
    ExperimentCreate,
    ExperimentPublic,
    ExperimentStatus,
    IndicatorPublic,
    ModelVersionPublic,
    Role,
    SampleSetCreate,
    SampleSetPublic,
    utcnow,
)
from lab.sample_profiles import SampleProfile
from lab.services import audit as audit_svc
from lab.services import catalog, consent, models_library
from lab.services import experiments as exp_svc
from lab.services.access import Principal
from lab.settings import get_settings

T = TypeVar("T")
S = ExperimentStatus
FINAL = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED, S.REJECTED})


class Table(list[T]):
    """A list of public records that shows as a table in Jupyter and converts to pandas."""

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([r.model_dump() for r in self])  # type: ignore[attr-defined]

    def _repr_html_(self) -> str:
        if not self:
            return "<i>(none)</i>"
        return str(self.to_frame().to_html(index=False, max_rows=60))


class Lab:
    """A connection to the catalog as one user."""

    def __init__(self, engine: Engine, principal: Principal) -> None:
        self.engine = engine
        self.me = principal
        self.indicators = Indicators(self)
        self.samples = Samples(self)
        self.algorithms = Algorithms(self)
        self.experiments = Experiments(self)
        self.models = Models(self)
        self.consents = Consents(self)
        self.audit = Audit(self)

    @classmethod
    def connect(
        cls,
        url_or_path: str | Path | None = None,
        *,
        user: str,
        password: str | None = None,
        migrate: bool = True,
    ) -> Lab:
        """Connect to a catalog (SQLite path or database URL; default FEDLAB_DATABASE_URL)."""
        settings = get_settings()
        engine = make_engine(
            url_or_path if url_or_path is not None else settings.database_url_value
        )
        if migrate:
            upgrade(engine)
        with session_scope(engine) as s:
            me = catalog.authenticate(
                session=s,
                username=user,
                password=password,
                password_required=settings.passwords_required,
            )
        return cls(engine, me)

    def call(self, fn: Callable[..., T], **kwargs: Any) -> T:
        """Run one service function in its own transaction as the connected user."""
        with session_scope(self.engine) as s:
            return fn(session=s, actor=self.me, **kwargs)

    def __repr__(self) -> str:
        return (
            f"Lab({self.engine.url.render_as_string(hide_password=True)!r}, {self.me.describe()})"
        )

    def close(self) -> None:
        self.engine.dispose()

    def run_pending(
        self,
        *,
        runtime: str = "simulation",
        runs_dir: str | Path | None = None,
        executor: Any = None,
        max_experiments: int | None = None,
    ) -> list[int]:
        """Run approved experiments in this process (platform staff only; demos, notebooks)."""
        from lab.errors import AccessDeniedError
        from lab.runner import Worker, federation_executor

        if Role(self.me.role) not in (Role.PLATFORM_STAFF, Role.ADMIN):
            raise AccessDeniedError(f"{self.me.describe()} may not run the worker")
        worker = Worker(
            self.engine,
            f"sdk-{self.me.username}",
            Path(runs_dir) if runs_dir else get_settings().runs_path,
            executor=executor or federation_executor,
            runtime=runtime,
        )
        while (
            max_experiments is None or len(worker.processed) < max_experiments
        ) and worker.run_once():
            pass
        return worker.processed


class _Part:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab


class Indicators(_Part):
    def search(
        self, query: str = "", *, category: str | None = None, owner: str | None = None
    ) -> Table[IndicatorPublic]:
        """Indicators matching ``query`` in code, name (English or 中文), description."""
        return Table(
            self.lab.call(catalog.search_indicators, query=query, category=category, owner=owner)
        )

    def get(self, code: str) -> IndicatorPublic:
        found = [i for i in self.search(code) if i.code == code]
        if not found:
            raise NotFoundError(
                f"unknown indicator {code!r}",
                hint="Search the library: lab.indicators.search('...').",
            )
        return found[0]


class Samples(_Part):
    def create(
        self,
        *,
        name: str,
        dataset: str,
        label_column: str,
        id_list_location: str,
        label_definition: str = "",
        observation_start: date | None = None,
        observation_end: date | None = None,
        n_total: int = 0,
        n_positive: int = 0,
    ) -> SampleHandle:
        """Register a sample set (样本库) of your bank: metadata, no rows.

        Count it at the bank with ``sample.profile()``; ``n_total`` / ``n_positive`` are
        *declared* counts (as your bank's own system reports them), marked as such."""
        return SampleHandle(
            self.lab,
            self.lab.call(
                catalog.create_sample,
                sample_in=(
                    SampleSetCreate(
                        name=name,
                        dataset_name=dataset,
                        label_column=label_column,
                        id_list_location=id_list_location,
                        label_definition=label_definition,
                        observation_start=observation_start,
                        observation_end=observation_end,
                        n_total=n_total,
                        n_positive=n_positive,
                    )
                ),
            ),
        )

    def list(self) -> Table[SampleSetPublic]:
        return Table(self.lab.call(catalog.list_samples))

    def get(self, sample_id: int) -> SampleHandle:
        return SampleHandle(self.lab, self.lab.call(catalog.get_sample, sample_id=sample_id))


class SampleHandle:
    """One sample set; its fields (``id``, ``name``, ``n_total`` ...) read as attributes.

    ``sample.profile()`` counts it at the bank (a worker runs the count there) and returns
    the :class:`~lab.sample_profiles.SampleProfile` (counts, positive rate, histograms, every
    cell >= k); ``sample.counts`` is what the catalog holds now, and says whether the counts
    were declared or counted at the bank."""

    def __init__(self, lab: Lab, info: SampleSetPublic) -> None:
        self.lab = lab
        self.info = info

    def __getattr__(self, name: str) -> Any:
        if name in ("lab", "info"):
            raise AttributeError(name)
        return getattr(self.info, name)

    def refresh(self) -> SampleHandle:
        self.info = self.lab.call(catalog.get_sample, sample_id=self.info.id)
        return self

    @property
    def counts(self) -> SampleProfile:
        """The counts recorded now (``source`` "declared" or "bank")."""
        return SampleProfile.of(self.refresh().info)

    def profile(
        self,
        columns: Iterable[str] = (),
        *,
        min_cell: int = DEFAULT_MIN_CELL,
        date_column: str = "observation_date",
        wait: bool = True,
        timeout: float | None = 600.0,
        poll: float = 1.0,
    ) -> SampleProfile:
        """Count the sample at its bank: a request the worker runs at the bank's node.

        ``columns``: numeric columns of the sample's dataset to draw histograms of;
        ``min_cell``: k (the bank applies at least its own). With ``wait`` (a worker must
        be running) returns the counts once recorded; raises :class:`CatalogError` with the
        reason when the count failed."""
        from lab.services import sample_counts

        job = self.lab.call(
            sample_counts.request_count,
            sample_id=self.info.id,
            columns=list(columns),
            min_cell=min_cell,
            date_column=date_column,
        )
        if not wait:
            return self.counts
        deadline = None if timeout is None else time.monotonic() + timeout
        while job.status in (CountStatus.REQUESTED, CountStatus.RUNNING):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"sample count {job.id} is still {job.status.value} after "
                    f"{timeout} s; is a worker running (`fedlab lab worker`)?"
                )
            time.sleep(poll)
            job = self.lab.call(sample_counts.get_count, count_id=job.id)
        if job.status != CountStatus.SUCCEEDED:
            raise CatalogError(
                f"sample count {job.id} of sample {self.info.id} failed: "
                f"{job.failure_reason or 'no reason recorded'}"
            )
        return self.counts

    def __repr__(self) -> str:
        return (
            f"<sample {self.info.id} {self.info.name!r} n={self.info.n_total} "
            f"positive={self.info.n_positive} ({self.info.counts_source.value})>"
        )


class Algorithms(_Part):
    def list(self) -> Table[AlgorithmPublic]:
        return Table(self.lab.call(catalog.list_algorithms))


class Experiments(_Part):
    def create(
        self,
        *,
        name: str,
        sample: int,
        algorithm: str,
        indicators: Iterable[str] = (),
        params: dict[str, Any] | None = None,
        backend: str = "paillier",
        purpose: str = "credit_risk_model",
        authorization_required: bool = True,
    ) -> ExperimentHandle:
        """A draft experiment; unknown indicators or bad parameters fail right here."""
        pub = self.lab.call(
            exp_svc.create_experiment,
            experiment_in=ExperimentCreate(
                name=name,
                sample_id=sample,
                algorithm=algorithm,
                indicator_codes=list(indicators),
                params=dict(params or {}),
                backend=backend,
                purpose=purpose,
                authorization_required=authorization_required,
            ),
        )
        return ExperimentHandle(self.lab, pub)

    def get(self, experiment_id: int) -> ExperimentHandle:
        return ExperimentHandle(
            self.lab, self.lab.call(exp_svc.get_experiment, experiment_id=experiment_id)
        )

    def list(self, status: str | None = None) -> Table[ExperimentPublic]:
        return Table(self.lab.call(exp_svc.list_experiments, status=status))

    def requests(self) -> Table[ExperimentPublic]:
        """Agency officers: submitted experiments that use your agency's indicators."""
        return Table(self.lab.call(exp_svc.list_requests))


class ExperimentHandle:
    """One experiment, refreshed from the catalog on every property access that needs it."""

    def __init__(self, lab: Lab, info: ExperimentPublic) -> None:
        self.lab = lab
        self.info = info

    @property
    def id(self) -> int:
        return self.info.id

    def refresh(self) -> ExperimentHandle:
        self.info = self.lab.call(exp_svc.get_experiment, experiment_id=self.id)
        return self

    @property
    def status(self) -> ExperimentStatus:
        return ExperimentStatus(self.refresh().info.status)

    @property
    def progress(self) -> list[dict[str, Any]]:
        return list(self.refresh().info.progress)

    def submit(self, reason: str = "") -> ExperimentHandle:
        self.info = self.lab.call(exp_svc.submit_experiment, experiment_id=self.id, reason=reason)
        return self

    def approve(self, reason: str = "") -> ExperimentHandle:
        self.info = self.lab.call(exp_svc.approve_experiment, experiment_id=self.id, reason=reason)
        return self

    def reject(self, reason: str) -> ExperimentHandle:
        self.info = self.lab.call(exp_svc.reject_experiment, experiment_id=self.id, reason=reason)
        return self

    def cancel(self, reason: str) -> ExperimentHandle:
        self.info = self.lab.call(exp_svc.cancel_experiment, experiment_id=self.id, reason=reason)
        return self

    def consents(self) -> list[consent.ConsentNeed]:
        return self.lab.call(exp_svc.consents_for, experiment_id=self.id)

    def transitions(self) -> list[Any]:
        return self.lab.call(exp_svc.transitions, experiment_id=self.id)

    def wait(
        self,
        timeout: float | None = None,
        *,
        poll: float = 1.0,
        show_progress: bool = True,
        raise_on_failure: bool = True,
    ) -> ExperimentHandle:
        """Block until the experiment finishes (a worker must be running), showing epochs."""
        deadline = None if timeout is None else time.monotonic() + timeout
        params = self.info.params
        epochs = params.get("epochs", params.get("lr.epochs"))  # a scorecard's LR: lr.epochs
        unit = "trees" if "n_trees" in params and epochs is None else "epochs"
        total = int((epochs if unit == "epochs" else params.get("n_trees")) or 0)
        bar = progress_display(total, self.info.name, unit) if show_progress else None
        try:
            while True:
                info = self.refresh().info
                if bar:
                    bar.update(info)
                if ExperimentStatus(info.status) in FINAL:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(
                        f"experiment {self.id} is still {info.status.value} after "
                        f"{timeout} s; is a worker running (`fedlab lab worker`)?"
                    )
                time.sleep(poll)
        finally:
            if bar:
                bar.close()
        if raise_on_failure and ExperimentStatus(self.info.status) is not S.SUCCEEDED:
            raise CatalogError(
                f"experiment {self.id} ended {self.info.status.value}: "
                f"{self.info.failure_reason or 'see its transitions'}"
            )
        return self

    @property
    def model(self) -> ModelVersionPublic:
        mv = self.lab.call(models_library.model_for_experiment, experiment_id=self.id)
        if mv is None:
            raise NotFoundError(
                f"experiment {self.id} has no model version (status "
                f"{self.status.value}"
                + (f": {self.info.failure_reason}" if self.info.failure_reason else "")
                + ")",
                hint="Wait for it: exp.wait().",
            )
        return mv

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.model.metrics)

    def plot_roc(self, backend: str = "plotly") -> Any:
        """The ROC curve from the stored points (aggregates), as a plotly or matplotlib figure."""
        mv = self.model
        if not mv.roc or not mv.roc.get("fpr"):
            raise NotFoundError(
                f"model {mv.name} v{mv.version} has no ROC points stored "
                "(the run's metrics.json had none)"
            )
        return plot_roc(mv, backend=backend)

    def __repr__(self) -> str:
        return (
            f"<experiment {self.id} {self.info.name!r} {self.info.status.value} "
            f"algorithm={self.info.algorithm_id} indicators={self.info.indicator_codes}>"
        )


def _roc_label(mv: ModelVersionPublic) -> str:
    auc = mv.metrics.get("auc")
    return f"{mv.name} v{mv.version}" + (
        f" (AUC {auc:.3f})" if isinstance(auc, int | float) else ""
    )


def plot_roc(
    models: ModelVersionPublic | Iterable[ModelVersionPublic], backend: str = "plotly"
) -> Any:
    """ROC curves of one or several model versions from their stored points (aggregates).

    Versions without stored points are left out; :class:`NotFoundError` when none has any.
    """
    several = not isinstance(models, ModelVersionPublic)
    given = [models] if isinstance(models, ModelVersionPublic) else list(models)
    drawn = [m for m in given if m.roc.get("fpr") and m.roc.get("tpr")]
    if not drawn:
        names = ", ".join(f"{m.name} v{m.version}" for m in given) or "no model"
        raise NotFoundError(
            f"no ROC points stored for {names} (the runs' metrics.json had none)",
            hint="ROC points come from the guest's evaluation; "
            "rerun with an algorithm version that reports them.",
        )
    title = "ROC — " + (_roc_label(drawn[0]) if len(drawn) == 1 else "model comparison")
    if backend == "matplotlib":
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        for mv in drawn:
            ax.plot(mv.roc["fpr"], mv.roc["tpr"], label=_roc_label(mv) if several else "model")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
        ax.legend(loc="lower right")
        return fig
    if backend != "plotly":
        raise ConfigError(f"unknown plot backend {backend!r}; use 'plotly' or 'matplotlib'")
    import plotly.graph_objects as go

    fig = go.Figure()
    for mv in drawn:
        fig.add_trace(
            go.Scatter(
                x=mv.roc["fpr"],
                y=mv.roc["tpr"],
                mode="lines",
                name=_roc_label(mv) if several else "model",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dash", "color": "grey"}
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="false positive rate",
        yaxis_title="true positive rate",
        width=520,
        height=480,
    )
    return fig


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _epoch_state(info: ExperimentPublic) -> tuple[int, str]:
    epochs = [p for p in info.progress if isinstance(p.get("loss"), int | float)]
    loss = f"loss {epochs[-1]['loss']:.4f}" if epochs else ""
    return len(epochs), loss


class _NotebookProgress:
    """An HTML progress bar in one notebook output, updated in place (no widgets needed)."""

    def __init__(self, total: int, name: str, unit: str = "epochs") -> None:
        from IPython.display import HTML, display

        self.total, self.name, self.unit, self._html = total, name, unit, HTML
        self.handle = display(HTML(self._render(0, "", "waiting")), display_id=True)

    def _render(self, done: int, loss: str, status: str) -> str:
        import html

        bar = (
            f'<progress value="{done}" max="{self.total}" style="width: 14em"></progress> '
            if self.total
            else ""
        )
        count = f"{done}/{self.total} {self.unit}" if self.total else f"{done} {self.unit}"
        return (
            f"<div>{bar}<b>{html.escape(self.name)}</b> [{html.escape(status)}] {count}"
            f"{' · ' + html.escape(loss) if loss else ''}</div>"
        )

    def update(self, info: ExperimentPublic) -> None:
        done, loss = _epoch_state(info)
        if self.handle is not None:
            self.handle.update(self._html(self._render(done, loss, info.status.value)))

    def close(self) -> None:
        pass


class _ProgressBar:
    """Epoch progress with rich in a terminal."""

    def __init__(self, total: int, name: str, unit: str = "epochs") -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} " + unit + " {task.fields[loss]}"),
            transient=False,
        )
        self.task = self.progress.add_task(name, total=total or None, loss="")
        self.progress.start()

    def update(self, info: ExperimentPublic) -> None:
        done, loss = _epoch_state(info)
        self.progress.update(
            self.task,
            completed=done,
            loss=loss or info.status.value,
            description=f"{info.name} [{info.status.value}]",
        )

    def close(self) -> None:
        self.progress.stop()


def progress_display(
    total: int, name: str, unit: str = "epochs"
) -> _ProgressBar | _NotebookProgress:
    """An HTML bar in a notebook, a rich bar in a terminal."""
    return (
        _NotebookProgress(total, name, unit) if _in_notebook() else _ProgressBar(total, name, unit)
    )


class Models(_Part):
    def list(self, status: str | None = None) -> Table[ModelVersionPublic]:
        return Table(self.lab.call(models_library.list_models, status=status))

    def get(self, model_id: int) -> ModelVersionPublic:
        return self.lab.call(models_library.get_model, model_id=model_id)

    def publish(self, model_id: int, reason: str = "") -> ModelVersionPublic:
        return self.lab.call(models_library.publish_model, model_id=model_id, reason=reason)

    def retire(self, model_id: int, reason: str) -> ModelVersionPublic:
        return self.lab.call(models_library.retire_model, model_id=model_id, reason=reason)

    def plot_roc(self, model_ids: Iterable[int], backend: str = "plotly") -> Any:
        """The ROC curves of several model versions in one figure (stored points only)."""
        return plot_roc([self.get(mid) for mid in model_ids], backend=backend)

    def compare(self, model_ids: Iterable[int], keys: Iterable[str] = ("auc", "ks")) -> Any:
        """A pandas table of the models' headline metrics, one row per model."""
        import pandas as pd

        rows = []
        for mid in model_ids:
            mv = self.get(mid)
            rows.append(
                {
                    "model": f"{mv.name} v{mv.version}",
                    "algorithm": mv.algorithm,
                    **{k: mv.metrics.get(k) for k in keys},
                }
            )
        return pd.DataFrame(rows)


class Consents(_Part):
    def grant(
        self,
        *,
        bank: str,
        indicators: Iterable[str],
        days: int = 365,
        expires_at: datetime | None = None,
        purpose: str = "credit_risk_model",
    ) -> ConsentGrantPublic:
        """Agency officers: let ``bank`` use these indicators for ``purpose`` until expiry."""
        return self.lab.call(
            consent.grant_consent,
            consent_in=ConsentGrantCreate(
                bank_code=bank,
                indicator_codes=list(indicators),
                purpose=purpose,
                expires_at=expires_at or utcnow() + timedelta(days=days),
            ),
        )

    def list(self) -> Table[ConsentGrantPublic]:
        return Table(self.lab.call(consent.list_consents))

    def revoke(self, consent_id: int, reason: str) -> ConsentGrantPublic:
        """Agency officers: withdraw a grant; experiments relying on it stop at the next check."""
        return self.lab.call(consent.revoke_consent, consent_id=consent_id, reason=reason)

    def authorizations(self, bank: str, as_of: date | None = None) -> AuthorizationSummary:
        """Counts of enterprise authorizations for a bank (never the enterprises)."""
        return self.lab.call(consent.authorization_summary, bank_code=bank, as_of=as_of)

    def import_authorizations(
        self, path: str | Path, *, bank: str, batch: str = ""
    ) -> AuthorizationSummary:
        """Import a bank's enterprise authorizations (查询授权) from a CSV with columns
        uscc, granted_on, expires_on (and optionally bank: other banks' rows are skipped).
        Returns counts only."""
        if not Path(path).is_file():
            raise ConfigError(
                f"authorization file {str(path)!r} does not exist",
                hint="Pass the CSV the bank exported (uscc, granted_on, expires_on).",
            )
        rows = consent.read_authorization_csv(path, bank=bank)
        return self.lab.call(
            consent.import_authorizations, bank_code=bank, rows=rows, batch=batch or Path(path).name
        )


class Audit(_Part):
    def verify(self) -> Any:
        return self.lab.call(audit_svc.verify)

    def log(self, limit: int = 50) -> Table[Any]:
        return Table(self.lab.call(audit_svc.list_events, limit=limit))


__all__ = ["ExperimentHandle", "Lab", "Table", "plot_roc"]
