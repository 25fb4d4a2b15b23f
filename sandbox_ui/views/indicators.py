"""指标库 Indicator library: search, filter by owner, dimension and family, definitions,
consent. Chinese names, dimensions and descriptions first, English beside them."""

import pandas as pd
import streamlit as st

from lab.services.indicators import DIMENSION_LABELS, FAMILY_LABELS
from sandbox_ui.i18n import t
from sandbox_ui.queries import IndicatorRow, indicator_facets, indicator_rows
from sandbox_ui.session import call, guard

me = guard("indicators")
st.title(t("page.indicators"))

owners, dims, families = call(indicator_facets)
c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
query = c1.text_input(t("ind.search"), key="ind_query")
owner = c2.selectbox(t("ind.owner"), [t("ind.all"), *owners], key="ind_owner")
dim_labels = {DIMENSION_LABELS[d]: d for d in dims}
family_labels = {FAMILY_LABELS[f].split(" (")[0]: f for f in families}
dim = c3.selectbox(t("ind.dimension"), [t("ind.all"), *dim_labels], key="ind_dim")
family = c4.selectbox(t("ind.family"), [t("ind.all"), *family_labels], key="ind_family")
rows: list[IndicatorRow] = call(
    indicator_rows,
    query=query,
    owner=None if owner == t("ind.all") else owner,
    dimension=dim_labels.get(dim),
    family=family_labels.get(family),
)


def consent_label(r: IndicatorRow) -> str:
    if r.consent == "granted" and r.until is not None:
        return t("consent.granted", until=r.until.date().isoformat())
    if r.consent == "banks":
        return t("consent.banks", n=r.n_banks or 0)
    return t(f"consent.{r.consent}")


st.caption(t("ind.count", n=len(rows)))
frame = pd.DataFrame(
    [
        {
            t("ind.col.code"): r.indicator.code,
            t("ind.col.name_zh"): r.indicator.name_zh,
            t("ind.col.name"): r.indicator.name,
            t("ind.col.dimension"): r.indicator.dimension_zh,
            t("ind.col.sub_dimension"): r.indicator.sub_dimension_zh,
            t("ind.col.description"): r.indicator.description,
            t("ind.col.owner"): r.indicator.owner_code,
            t("ind.col.family"): r.indicator.family_zh,
            t("ind.col.window"): r.indicator.window,
            t("ind.col.consent"): consent_label(r),
        }
        for r in rows
    ]
)
st.dataframe(frame, hide_index=True, width="stretch")

if rows:
    st.subheader(t("ind.definition"))
    codes = [r.indicator.code for r in rows]
    pick = st.selectbox(t("ind.col.code"), codes, key="ind_pick")
    ind = rows[codes.index(pick)].indicator
    st.markdown(f"**{ind.name_zh or ind.name}** · {ind.name} · `{ind.code}`")
    st.write(ind.description or "—")
    if ind.description_en:
        st.write(ind.description_en)
    st.caption(
        f"{t('ind.col.owner')}: {ind.owner_code} · {t('ind.col.dimension')}: "
        f"{ind.dimension_zh or '—'} / {ind.sub_dimension_zh or '—'} · "
        f"{t('ind.col.family')}: {ind.family_zh or '—'} · {t('ind.col.unit')}: "
        f"{ind.unit or '—'} · {t('ind.col.window')}: {ind.window or '—'} · "
        f"{t('ind.col.sensitivity')}: {ind.sensitivity or '—'} · "
        f"{t('ind.col.consent')}: {consent_label(rows[codes.index(pick)])}"
    )
    st.caption(f"{t('ind.col.pit')}: {ind.pit_rule or '—'}")
    st.caption(f"{t('ind.col.sources')}: {'; '.join(ind.source_tables) or '—'}")
