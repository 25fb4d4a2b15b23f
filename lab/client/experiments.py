"""The SDK's experiments: create, submit, approve, wait for the run, read its model.

What it reveals, to whom: an experiment's metadata, status, progress and its model's
metrics released at k (lab.services.disclosure) to the connected user, within the access
rules; never a record.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from lab.client.base import Caller, Part, Table
from lab.client.plots import plot_roc
from lab.client.progress import progress_display
from lab.errors import CatalogError, NotFoundError
from lab.models import (
    ExperimentCreate,
    ExperimentPublic,
    ExperimentStatus,
    ModelVersionPublic,
)
from lab.services import consent, models_library, results
from lab.services import experiments as exp_svc
from lab.services.disclosure import LossCurve

S = ExperimentStatus
FINAL = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED, S.REJECTED})


class Experiments(Part):
    def create(
        self,
        *,
        name: str,
        sample: int,
        algorithm: str,
        indicators: Iterable[str] = (),
        params: dict[str, Any] | None = None,
        backend: str | None = None,
        purpose: str = "credit_risk_model",
        authorization_required: bool = True,
        partner_samples: Iterable[int] = (),
    ) -> ExperimentHandle:
        """A draft experiment; unknown indicators or bad parameters fail right here.

        ``backend`` None: the algorithm's recommended one. ``partner_samples``: for a
        horizontal algorithm (``homo_lr``, ``homo_nn``), one sample set of each other bank
        that trains with yours (at least one; submission refuses a one-bank run)."""
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
                partner_sample_ids=list(partner_samples),
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

    def __init__(self, lab: Caller, info: ExperimentPublic) -> None:
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
        """Cancel it: at once when it waits; a running one stops at its worker's next
        heartbeat or progress report."""
        self.info = self.lab.call(exp_svc.cancel_experiment, experiment_id=self.id, reason=reason)
        return self

    def resubmit(self, reason: str = "") -> ExperimentHandle:
        """Submit a cancelled or failed experiment again, unchanged (it needs approval
        again); to change it first, ``revise`` it back to a draft."""
        self.info = self.lab.call(exp_svc.resubmit_experiment, experiment_id=self.id, reason=reason)
        return self

    def revise(self, reason: str) -> ExperimentHandle:
        """A rejected, failed or cancelled experiment back to draft, for changes."""
        self.info = self.lab.call(exp_svc.revise_experiment, experiment_id=self.id, reason=reason)
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
        """The model's metrics at k: figures below k are None, named under "suppressed"."""
        return dict(self.model.metrics)

    @property
    def loss_curve(self) -> LossCurve:
        """The loss per epoch (``losses``), None unless computed on at least k enterprises."""
        return self.lab.call(results.experiment_loss, experiment_id=self.id)

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


__all__ = [
    "ExperimentHandle",
    "Experiments",
]
