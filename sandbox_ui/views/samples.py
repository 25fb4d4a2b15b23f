"""样本库 Sample library: the bank's sample sets (ID list, label, window) with counts,
positive rate and composition, every count over at least k enterprises."""

from datetime import date

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from lab.models import Role, SampleSetCreate
from lab.services import catalog, experiments, models_library
from sandbox_ui.i18n import current_lang, t
from sandbox_ui.plots import sample_figure
from sandbox_ui.queries import last_aligned_by_sample, sample_stats
from sandbox_ui.session import call, guard, min_cell, run, show_invalid

me = guard("samples")
k = min_cell()
st.title(t("page.samples"))
st.caption(t("k_note", k=k))
bank_user = Role(me.role) in (Role.BANK_MODELER, Role.DATA_SCIENTIST)
if not bank_user:
    st.info(t("smp.readonly"))

flash = st.session_state.pop("smp_flash", None)
if flash:
    st.success(flash)
samples = call(catalog.list_samples)
aligned = last_aligned_by_sample(call(models_library.list_models),
                                 call(experiments.list_experiments), k)
stats = [sample_stats(s, k) for s in samples]
supp = t("suppressed", k=k)


def show(n: int | None) -> str:
    return supp if n is None else f"{n:,}"


st.subheader(t("smp.list"))
if not stats:
    st.write(t("none_yet"))
else:
    st.dataframe(pd.DataFrame([{
        t("smp.col.id"): s.sample_id, t("smp.col.name"): s.name, t("smp.col.window"): s.window,
        t("smp.col.n_total"): show(s.n_total), t("smp.col.n_positive"): show(s.n_positive),
        t("smp.col.rate"): supp if s.positive_rate is None else f"{s.positive_rate:.1%}",
        t("smp.col.runs"): show(aligned[s.sample_id]) if s.sample_id in aligned else "—",
        t("smp.col.label"): s.label_definition,
    } for s in stats]), hide_index=True, width="stretch")
    fig = sample_figure(stats, t("smp.hist"), current_lang())
    if fig is not None:
        st.plotly_chart(fig, key="sample_hist")

if bank_user:
    st.subheader(t("smp.create"))
    datasets = [d for d in call(catalog.list_datasets) if d.org_id == me.org_id]
    if datasets:
        names = [d.name for d in datasets]
        ds_name = st.selectbox(t("smp.dataset"), names, key="smp_dataset")
        ds = datasets[names.index(ds_name)]
        label_cols = [c["name"] for c in ds.columns if c.get("dtype") == "int"] or \
            [c["name"] for c in ds.columns]
        with st.form("sample_form"):
            name = st.text_input(t("smp.name"), key="smp_name")
            c1, c2 = st.columns(2)
            label = c1.selectbox(t("smp.label_column"), label_cols, key="smp_label")
            id_list = c2.text_input(t("smp.id_list"), value=f"ids/{ds.name}.csv",
                                    key="smp_ids")
            definition = st.text_input(t("smp.label_definition"),
                                       value="90+ days past due within 12 months",
                                       key="smp_def")
            c3, c4, c5, c6 = st.columns(4)
            start = c3.date_input(t("smp.start"), value=date(2023, 7, 1), key="smp_start")
            end = c4.date_input(t("smp.end"), value=date(2024, 6, 30), key="smp_end")
            n_total = c5.number_input(t("smp.n_total"), min_value=0, value=0, step=1,
                                      key="smp_n")
            n_pos = c6.number_input(t("smp.n_positive"), min_value=0, value=0, step=1,
                                    key="smp_pos")
            go = st.form_submit_button(t("smp.button"), type="primary", key="smp_submit")
        if go:
            try:
                sample_in = SampleSetCreate(
                    name=name.strip(), dataset_name=ds.name, label_column=label,
                    id_list_location=id_list.strip(), label_definition=definition,
                    observation_start=start, observation_end=end, n_total=int(n_total),
                    n_positive=int(n_pos))
            except ValidationError as exc:
                show_invalid(exc)
            else:
                made = run(catalog.create_sample, sample_in=sample_in)
                if made is not None:
                    st.session_state["smp_flash"] = t("smp.created", name=made.name)
                    st.rerun()
