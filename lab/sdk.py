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

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine

from lab.client.base import Table
from lab.client.catalog import Algorithms, Datasets, Indicators, SampleHandle, Samples
from lab.client.experiments import ExperimentHandle, Experiments
from lab.client.governance import Audit, Consents
from lab.client.models import Models
from lab.client.plots import plot_roc
from lab.client.progress import progress_display
from lab.client.remote import RemoteCaller
from lab.errors import AccessDeniedError, ConfigError
from lab.models import Role
from lab.services import catalog
from lab.services.access import Principal
from lab.services.connection import open_catalog, session_scope
from lab.settings import get_settings

T = TypeVar("T")


class Lab:
    """A connection to the catalog as one user."""

    def __init__(self, engine: Engine, principal: Principal) -> None:
        self.engine = engine
        self.me = principal
        self._attach_parts()

    def _attach_parts(self) -> None:
        self.datasets = Datasets(self)
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
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        migrate: bool = True,
        http: Any = None,
    ) -> Lab:
        """Connect to a lab server (``https://…`` with ``token=`` or ``user=`` and
        ``password=``: the process then holds a bearer token, never a database handle), or,
        for one person's use, open a catalog in this process (SQLite path or database URL;
        default FEDLAB_DATABASE_URL). ``http``: an ``httpx.Client`` to use (tests)."""
        if isinstance(url_or_path, str) and url_or_path.startswith(("http://", "https://")):
            return RemoteLab.open(url_or_path, user=user, password=password, token=token, http=http)
        if user is None:
            raise ConfigError("connect to a local catalog as a user: user='...'")
        settings = get_settings()
        engine = open_catalog(
            url_or_path if url_or_path is not None else settings.database_url_value,
            migrate=migrate,
        )
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


class RemoteLab(Lab):
    """The SDK over the lab server (lab.client.remote): every call is an HTTP request."""

    def __init__(self, caller: RemoteCaller, url: str) -> None:
        self.caller = caller
        self.url = url
        self._attach_parts()

    @classmethod
    def open(
        cls,
        url: str,
        *,
        user: str | None,
        password: str | None,
        token: str | None,
        http: Any = None,
    ) -> RemoteLab:
        import httpx

        client = http or httpx.Client(base_url=url, timeout=60.0)
        if token:
            return cls(RemoteCaller(client, token), url)
        if user and password:
            return cls(RemoteCaller.sign_in(client, user, password), url)
        raise ConfigError(
            f"connect to {url} with token='flt_…' (a token you minted) or user= and password="
        )

    def call(self, fn: Callable[..., T], **kwargs: Any) -> T:
        return self.caller.call(fn, **kwargs)

    def __repr__(self) -> str:
        return f"RemoteLab({self.url!r})"

    def close(self) -> None:
        self.caller.http.close()

    def run_pending(self, **_: Any) -> list[int]:
        raise AccessDeniedError("a lab server's client runs no worker; the platform does")


__all__ = [
    "RemoteLab",
    "Algorithms",
    "Audit",
    "Consents",
    "ExperimentHandle",
    "Experiments",
    "Indicators",
    "Lab",
    "Models",
    "SampleHandle",
    "Samples",
    "Table",
    "plot_roc",
    "progress_display",
]
