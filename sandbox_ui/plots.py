"""Plotly figures of stored aggregates: ROC, KS, lift, score distribution, sample makeup,
a sample's histograms counted at the bank.

Inputs are :class:`sandbox_ui.queries.Bands` (score bands of at least k enterprises) and
suppressed sample counts; no figure is ever drawn from a record. Axis titles and legends
are in ``lang`` (sandbox_ui.i18n).
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from sandbox_ui.i18n import DEFAULT_LANG, tr
from sandbox_ui.queries import Bands, SampleStats
from sandbox_ui.sample_counts import ShownBin

HEIGHT = 380


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        height=HEIGHT,
        margin={"l": 40, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def roc_figure(
    curves: Sequence[tuple[str, Bands]], title: str = "ROC", lang: str = DEFAULT_LANG
) -> go.Figure:
    """One ROC line per (label, bands), with the chance diagonal."""
    fig = go.Figure()
    for label, bands in curves:
        fpr, tpr = bands.roc()
        fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines+markers", name=label))
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name=tr("plot.chance", lang),
            line={"dash": "dash", "color": "grey"},
        )
    )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return _layout(fig, title, tr("plot.fpr", lang), tr("plot.tpr", lang))


def ks_figure(bands: Bands, title: str = "KS", lang: str = DEFAULT_LANG) -> go.Figure:
    depth, tpr, fpr, ks = bands.ks_curve()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=depth, y=tpr, mode="lines+markers", name=tr("plot.cum_pos", lang)))
    fig.add_trace(go.Scatter(x=depth, y=fpr, mode="lines+markers", name=tr("plot.cum_neg", lang)))
    fig.add_trace(
        go.Scatter(
            x=depth,
            y=[a - b for a, b in zip(tpr, fpr, strict=True)],
            mode="lines",
            name=tr("plot.ks_gap", lang, ks=ks),
            line={"dash": "dot"},
        )
    )
    return _layout(fig, title, tr("plot.depth", lang), tr("plot.cum_share", lang))


def lift_figure(bands: Bands, title: str = "Lift", lang: str = DEFAULT_LANG) -> go.Figure:
    depth, lift = bands.lift()
    fig = go.Figure()
    fig.add_trace(go.Bar(x=[f"{d:.0%}" for d in depth], y=lift, name=tr("plot.lift", lang)))
    fig.add_hline(y=1.0, line_dash="dash", line_color="grey")
    return _layout(fig, title, tr("plot.lift_x", lang), tr("plot.lift_y", lang))


def score_distribution_figure(
    bands: Bands, title: str = "Score distribution", lang: str = DEFAULT_LANG
) -> go.Figure:
    labels = [tr("plot.band", lang, i=i + 1) for i in range(len(bands.pos))]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=list(bands.neg), name=tr("plot.negatives", lang)))
    fig.add_trace(go.Bar(x=labels, y=list(bands.pos), name=tr("plot.positives", lang)))
    fig.update_layout(barmode="stack")
    return _layout(fig, title, tr("plot.band_x", lang), tr("plot.enterprises", lang))


def sample_figure(
    stats: Sequence[SampleStats], title: str, lang: str = DEFAULT_LANG
) -> go.Figure | None:
    """Positives and negatives per sample set (only the sets whose split is shown)."""
    shown = [s for s in stats if s.n_positive is not None and s.n_negative is not None]
    if not shown:
        return None
    names = [s.name for s in shown]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=names, y=[s.n_negative for s in shown], name=tr("plot.negatives", lang)))
    fig.add_trace(go.Bar(x=names, y=[s.n_positive for s in shown], name=tr("plot.positives", lang)))
    fig.update_layout(barmode="stack")
    return _layout(fig, title, "", tr("plot.enterprises", lang))


def bins_figure(
    bins: Sequence[ShownBin], title: str, x_title: str, lang: str = DEFAULT_LANG
) -> go.Figure | None:
    """A histogram counted at the bank: positives and negatives per bin where the split is
    shown, the bin's total alone where it is suppressed; bins below k are left out."""
    drawn = [b for b in bins if b.total is not None]
    if not drawn:
        return None
    labels = [b.label for b in drawn]
    split = [b.positive is not None for b in drawn]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=labels,
            y=[b.negative if s else None for b, s in zip(drawn, split, strict=True)],
            name=tr("plot.negatives", lang),
        )
    )
    fig.add_trace(
        go.Bar(
            x=labels,
            y=[b.positive if s else None for b, s in zip(drawn, split, strict=True)],
            name=tr("plot.positives", lang),
        )
    )
    if not all(split):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[None if s else b.total for b, s in zip(drawn, split, strict=True)],
                name=tr("plot.enterprises_split_suppressed", lang),
            )
        )
    fig.update_layout(barmode="stack")
    return _layout(fig, title, x_title, tr("plot.enterprises", lang))


__all__ = [
    "bins_figure",
    "ks_figure",
    "lift_figure",
    "roc_figure",
    "sample_figure",
    "score_distribution_figure",
]
