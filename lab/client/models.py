"""The SDK's model library (模型库): list, get, publish, retire, compare, plot.

What it reveals, to whom: model versions with their metrics released at k
(lab.services.disclosure), ROC points and lineage, to the connected user within the
access rules; where a party keeps its piece of a model stays in the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lab.client.base import Part, Table
from lab.client.plots import plot_roc
from lab.models import (
    ModelVersionPublic,
)
from lab.services import models_library


class Models(Part):
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


__all__ = [
    "Models",
]
