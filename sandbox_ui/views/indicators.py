"""指标库 Indicator library: search, filter by owner and dimension, definitions, consent."""

import pandas as pd
import streamlit as st

from sandbox_ui.i18n import t
from sandbox_ui.queries import IndicatorRow, indicator_facets, indicator_rows
from sandbox_ui.session import call, guard

me = guard("indicators")
st.title(t("page.indicators"))

owners, dims = call(indicator_facets)
c1, c2, c3 = st.columns([3, 1, 1])
query = c1.text_input(t("ind.search"), key="ind_query")
owner = c2.selectbox(t("ind.owner"), [t("ind.all"), *owners], key="ind_owner")
dim = c3.selectbox(t("ind.dimension"), [t("ind.all"), *dims], key="ind_dim")
rows: list[IndicatorRow] = call(
    indicator_rows,
    query=query,
    owner=None if owner == t("ind.all") else owner,
    category=None if dim == t("ind.all") else dim,
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
            t("ind.col.owner"): r.indicator.owner_code,
            t("ind.col.dimension"): r.indicator.category,
            t("ind.col.dtype"): r.indicator.dtype,
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
    r = rows[codes.index(pick)]
    st.markdown(f"**{r.indicator.code}** · {r.indicator.name_zh or r.indicator.name}")
    st.write(r.indicator.description or "—")
    st.caption(
        f"{t('ind.col.owner')}: {r.indicator.owner_code} · {t('ind.col.dimension')}: "
        f"{r.indicator.category or '—'} · {t('ind.col.dtype')}: {r.indicator.dtype} · "
        f"{t('ind.col.window')}: {r.indicator.window or '—'} · "
        f"{t('ind.col.consent')}: {consent_label(r)}"
    )
