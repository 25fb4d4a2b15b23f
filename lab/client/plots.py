"""ROC curves of model versions from their stored points (aggregates), plotly or matplotlib.

What it reveals, to whom: the stored ROC points (each built at the party over at least k
enterprises) and AUC as released, to whoever holds the model versions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lab.errors import ConfigError, NotFoundError
from lab.models import (
    ModelVersionPublic,
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


__all__ = [
    "plot_roc",
]
