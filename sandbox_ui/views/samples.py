"""样本库 Sample library: the bank's sample sets (ID list, label and its default rule 逾期定义,
window) with counts,
positive rate and composition, every count over at least k enterprises; "count at the bank"
(在银行端统计) asks the worker to count a sample set at the bank's node and shows what the
bank returned (sandbox_ui/sample_panel.py)."""

from datetime import date

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from lab.default_rules import describe
from lab.models import CountsSource, Role, SampleSetCreate, SampleSetPublic
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
aligned = last_aligned_by_sample(
    call(models_library.list_models, k=k), call(experiments.list_experiments), k
)
stats = [sample_stats(s, k) for s in samples]
supp = t("suppressed", k=k)


def show(n: int | None, counted: bool = True) -> str:
    if not counted:
        return t("smp.not_counted")
    return supp if n is None else f"{n:,}"


#: the default rules (逾期定义) the form offers, as their short forms
RULES = {"binary": "binary", "days_past_due": "dpd>={days}", "status_in": "status:{codes}"}


def rule_text(smp: SampleSetPublic) -> str:
    zh, en = describe(smp.default_rule, smp.label_column)
    return zh if current_lang() == "zh" else en


def source_label(smp: SampleSetPublic) -> str:
    source = CountsSource(smp.counts_source)
    if source is CountsSource.BANK and smp.counted_at:
        return t("smp.source.bank", at=f"{smp.counted_at:%Y-%m-%d %H:%M}")
    return t("smp.source.none") if source is CountsSource.NONE else t("smp.source.declared")


st.subheader(t("smp.list"))
if not stats:
    st.write(t("none_yet"))
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("smp.col.id"): s.sample_id,
                    t("smp.col.name"): s.name,
                    t("smp.col.version"): s.version,
                    t("smp.col.window"): s.window,
                    t("smp.col.n_total"): show(s.n_total, s.counted),
                    t("smp.col.n_positive"): show(s.n_positive, s.counted),
                    t("smp.col.rate"): show(None, s.counted)
                    if s.positive_rate is None
                    else f"{s.positive_rate:.1%}",
                    t("smp.col.runs"): show(aligned[s.sample_id])
                    if s.sample_id in aligned
                    else "—",
                    t("smp.col.label"): s.label_definition,
                    t("smp.col.rule"): rule_text(smp),
                    t("smp.col.source"): source_label(smp),
                }
                for s, smp in zip(stats, samples, strict=True)
            ]
        ),
        hide_index=True,
        width="stretch",
    )
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
        cols = [c for c in ds.columns if c.get("name") != ds.id_column]
        label_cols = [c["name"] for c in cols if c.get("dtype") == "int"] + [
            c["name"] for c in cols if c.get("dtype") != "int"
        ]
        with st.form("sample_form"):
            name = st.text_input(t("smp.name"), key="smp_name")
            c1, c2 = st.columns(2)
            label = c1.selectbox(t("smp.label_column"), label_cols, key="smp_label")
            id_list = c2.text_input(t("smp.id_list"), value=f"ids/{ds.name}.csv", key="smp_ids")
            definition = st.text_input(
                t("smp.label_definition"), value="90+ days past due within 12 months", key="smp_def"
            )
            r1, r2, r3 = st.columns(3)
            kind = r1.selectbox(
                t("smp.rule"), RULES, format_func=lambda r: t(f"smp.rule.{r}"), key="smp_rule"
            )
            days = r2.text_input(t("smp.rule.days"), value="90", key="smp_rule_days")
            codes = r3.text_input(t("smp.rule.codes"), value="次级,可疑,损失", key="smp_rule_codes")
            c3, c4 = st.columns(2)
            start = c3.date_input(t("smp.start"), value=date(2023, 7, 1), key="smp_start")
            end = c4.date_input(t("smp.end"), value=date(2024, 6, 30), key="smp_end")
            go = st.form_submit_button(t("smp.button"), type="primary", key="smp_submit")
        if go:
            try:  # no counts typed in: count the new sample set at the bank (below)
                sample_in = SampleSetCreate.model_validate(
                    {
                        "name": name.strip(),
                        "dataset_name": ds.name,
                        "label_column": label,
                        "id_list_location": id_list.strip(),
                        "label_definition": definition,
                        "observation_start": start,
                        "observation_end": end,
                        "default_rule": RULES[kind].format(days=days.strip(), codes=codes),
                    }
                )
            except ValidationError as exc:
                show_invalid(exc)
            else:
                made = run(catalog.create_sample, sample_in=sample_in)
                if made is not None:
                    st.session_state["smp_flash"] = t("smp.created", name=made.name)
                    st.rerun()

if samples:
    from sandbox_ui.sample_panel import show_sample_counts

    show_sample_counts(me, samples, k, can_request=bank_user)
