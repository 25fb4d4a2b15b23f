"""ROC plots of the model library: one version, several versions, versions without points."""

from __future__ import annotations

from datetime import UTC, datetime

import matplotlib
import pytest

from lab.errors import ConfigError, NotFoundError
from lab.models import ModelStatus, ModelVersionPublic
from lab.sdk import plot_roc

matplotlib.use("Agg")


def version(name: str, auc: float | None, roc: dict[str, list[float]]) -> ModelVersionPublic:
    return ModelVersionPublic(
        name=name,
        version=1,
        algorithm="hetero_lr",
        metrics={} if auc is None else {"auc": auc},
        lineage={},
        roc=roc,
        id=1,
        experiment_id=1,
        owner_org_id=1,
        status=ModelStatus.CANDIDATE,
        created_at=datetime(2024, 7, 1, tzinfo=UTC),
        published_at=None,
        retired_at=None,
    )


LR = version("bank/lr", 0.81, {"fpr": [0.0, 0.3, 1.0], "tpr": [0.0, 0.75, 1.0]})
SB = version("bank/sb", 0.84, {"fpr": [0.0, 0.2, 1.0], "tpr": [0.0, 0.7, 1.0]})
BARE = version("bank/old", None, {})


def test_several_versions_share_one_figure_and_bare_ones_are_left_out() -> None:
    fig = plot_roc([LR, BARE, SB])
    names = [t.name for t in fig.data]
    assert names == ["bank/lr v1 (AUC 0.810)", "bank/sb v1 (AUC 0.840)", "chance"]
    assert list(fig.data[1].y) == [0.0, 0.7, 1.0] and "comparison" in fig.layout.title.text
    mfig = plot_roc([LR, SB], backend="matplotlib")
    lines = mfig.axes[0].get_lines()
    assert [list(ln.get_xdata()) for ln in lines[:2]] == [LR.roc["fpr"], SB.roc["fpr"]]
    assert mfig.axes[0].get_legend().get_texts()[0].get_text() == "bank/lr v1 (AUC 0.810)"


def test_one_version_titles_its_auc() -> None:
    assert plot_roc(LR).layout.title.text == "ROC — bank/lr v1 (AUC 0.810)"


def test_no_points_anywhere_is_a_clear_error() -> None:
    with pytest.raises(
        NotFoundError,
        match=r"no ROC points stored for bank/old v1 \(the "
        r"runs' metrics.json had none\)",
    ):
        plot_roc([BARE])
    with pytest.raises(ConfigError, match="unknown plot backend 'bokeh'"):
        plot_roc(LR, backend="bokeh")
