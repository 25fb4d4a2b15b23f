"""模型库 Model library: versions, metrics, ROC / KS / lift / score distribution (score
bands of at least k enterprises), the bank's own scorecard points, lineage, comparison of
two versions, publish and retire."""

import pandas as pd
import streamlit as st

from lab.models import ModelStatus, ModelVersionPublic, Role
from lab.services import models_library
from sandbox_ui.i18n import current_lang, t
from sandbox_ui.plots import ks_figure, lift_figure, roc_figure, score_distribution_figure
from sandbox_ui.queries import (
    compare_rows,
    grade_rows,
    headline_metrics,
    model_bands,
    own_columns,
    sample_for_model,
    sample_stats,
    scorecard_points,
)
from sandbox_ui.session import call, guard, keep_choice, min_cell, run

me = guard("models")
k = min_cell()
lang = current_lang()
may_publish = Role(me.role) in (Role.BANK_MODELER, Role.PLATFORM_STAFF, Role.ADMIN)
st.title(t("page.models"))
st.caption(t("k_note", k=k))

models: list[ModelVersionPublic] = call(models_library.list_models, k=k)
if not models:
    st.write(t("none_yet"))
    st.stop()


def label(mv: ModelVersionPublic) -> str:
    return f"{mv.name} v{mv.version} · {t('model.' + ModelStatus(mv.status).value)}"


def bands_for(mv: ModelVersionPublic):  # noqa: ANN202 - Bands | None
    sample = call(sample_for_model, mv=mv)
    stats = sample_stats(sample, k) if sample is not None else None
    return model_bands(mv, k, base_rate=stats.positive_rate if stats else None)


def shown(head: dict, key: str) -> str:  # noqa: ANN001
    if key not in head:
        return ""
    return t("suppressed", k=k) if head[key] is None else str(head[key])


st.dataframe(
    pd.DataFrame(
        [
            {
                t("mdl.col.model"): mv.name,
                t("mdl.col.version"): mv.version,
                t("mdl.col.algorithm"): mv.algorithm,
                t("mdl.col.status"): t("model." + ModelStatus(mv.status).value),
                "AUC": shown(headline_metrics(mv, k), "auc"),
                "KS": shown(headline_metrics(mv, k), "ks"),
                t("mdl.col.created"): mv.created_at.strftime("%Y-%m-%d %H:%M"),
            }
            for mv in models
        ]
    ),
    hide_index=True,
    width="stretch",
)

by_id = {mv.id: mv for mv in models}
labels = {mv.id: label(mv) for mv in models}  # in this run's language
ids = [mv.id for mv in reversed(models)]
keep_choice(
    "mdl_pick", ids, st.session_state.pop("model_selected", None), st.session_state.get("mdl_pick")
)  # a model opened from the experiments page first
pick = st.selectbox(t("mdl.pick"), ids, format_func=labels.__getitem__, key="mdl_pick")
mv = by_id[pick]

head = headline_metrics(mv, k)
cols = st.columns(5)
for col, key in zip(cols, ("auc", "ks", "n_aligned", "n_train", "n_valid"), strict=True):
    if key in head:
        value = head[key]
        col.metric(t(f"metric.{key}"), t("suppressed", k=k) if value is None else value)

bands = bands_for(mv)
tabs = st.tabs(
    [
        t("mdl.roc"),
        t("mdl.ks"),
        t("mdl.lift"),
        t("mdl.scores"),
        t("mdl.scorecard"),
        t("mdl.lineage"),
    ]
)
if bands is None:
    for tab in tabs[:4]:
        tab.info(t("mdl.no_curve", k=k))
else:
    tabs[0].plotly_chart(roc_figure([(label(mv), bands)], t("mdl.roc"), lang), key="roc_chart")
    tabs[1].plotly_chart(ks_figure(bands, t("mdl.ks"), lang), key="ks_chart")
    tabs[2].plotly_chart(lift_figure(bands, t("mdl.lift"), lang), key="lift_chart")
    tabs[3].plotly_chart(score_distribution_figure(bands, t("mdl.scores"), lang), key="score_chart")
with tabs[4]:
    columns = call(own_columns, indicator_codes=mv.lineage.get("indicators", []))
    points = scorecard_points(mv, columns)
    if points:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        t("mdl.pt.column"): t("mdl.pt.base")
                        if p["column"] == "(base)"
                        else p["column"],
                        t("mdl.pt.bin"): p["bin"],
                        t("mdl.pt.points"): p["points"],
                    }
                    for p in points
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.write(t("mdl.no_scorecard"))
    for key, title in (("grades_dev", "mdl.grades_dev"), ("grades", "mdl.grades_valid")):
        grades = grade_rows(mv, key)
        if not grades:
            continue
        st.subheader(t(title))
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        t("mdl.gr.grade"): g["grade"],
                        t("mdl.gr.scores"): g["range"],
                        t("mdl.gr.count"): t("suppressed", k=k)
                        if g.get("count") is None
                        else g["count"],
                        t("mdl.gr.share"): "-" if g.get("share") is None else f"{g['share']:.1%}",
                        t("mdl.gr.bad_rate"): t("suppressed", k=k)
                        if g.get("bad_rate") is None and g.get("count")
                        else ("-" if g.get("bad_rate") is None else f"{g['bad_rate']:.1%}"),
                    }
                    for g in grades
                ]
            ),
            hide_index=True,
            width="stretch",
        )
with tabs[5]:
    st.json(
        {
            key: mv.lineage.get(key)
            for key in (
                "experiment",
                "sample",
                "bank",
                "parties",
                "indicators",
                "algorithm",
                "algorithm_version",
                "params",
                "backend",
                "runtime",
                "code_version",
            )
        },
        expanded=False,
    )

if may_publish:
    status = ModelStatus(mv.status)
    reason = st.text_input(t("reason"), key="mdl_reason")
    c1, c2 = st.columns(2)
    if status is ModelStatus.CANDIDATE and c1.button(t("mdl.publish"), key="mdl_publish"):
        if run(models_library.publish_model, model_id=mv.id, reason=reason, k=k) is not None:
            st.rerun()
    if status is not ModelStatus.RETIRED and c2.button(t("mdl.retire"), key="mdl_retire"):
        if run(models_library.retire_model, model_id=mv.id, reason=reason, k=k) is not None:
            st.rerun()

st.subheader(t("mdl.compare"))
others = [i for i in ids if i != mv.id]
if others:
    keep_choice("mdl_compare", others, st.session_state.get("mdl_compare"))
    other_id = st.selectbox(
        t("mdl.compare_with"), others, format_func=labels.__getitem__, key="mdl_compare"
    )
    other = by_id[other_id]
    compared = pd.DataFrame(compare_rows(mv, other, k))
    compared["metric"] = [t(f"metric.{m}") for m in compared["metric"]]
    st.dataframe(
        compared.rename(columns={"metric": t("mdl.metric")}), hide_index=True, width="stretch"
    )
    other_bands = bands_for(other)
    curves = [(label(m), b) for m, b in ((mv, bands), (other, other_bands)) if b is not None]
    if curves:
        st.plotly_chart(roc_figure(curves, t("mdl.compare"), lang), key="compare_chart")
