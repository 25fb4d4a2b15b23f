"""The 样本库 page's "count at the bank" (在银行端统计) panel.

A bank user picks one of the bank's sample sets and the numeric columns to draw histograms
of, and presses the button: that files a count request (``lab.services.sample_counts``),
which a worker runs at the bank's node. The panel then shows the latest request's state and,
once counted, the totals, positive rate and histograms the bank returned (each cell of at
least the bank's k, and suppressed again below the sandbox's k). Platform staff see the same
read-only. Nothing here opens a party's file.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from lab.models import CountsSource, SampleSetPublic
from lab.sample_profiles import MONTH, SampleProfile
from lab.services import catalog, sample_counts
from lab.services.access import Principal
from sandbox_ui.i18n import current_lang, t
from sandbox_ui.plots import bins_figure
from sandbox_ui.sample_counts import shown_bins, shown_counts
from sandbox_ui.session import call, run


def _n(v: int | None, k: int) -> str:
    return t("suppressed", k=k) if v is None else f"{v:,}"


def _histogram(name: str, bins: list[dict[str, object]], k: int, key: str) -> None:
    shown = shown_bins(bins, k)  # type: ignore[arg-type]
    title = t("smp.hist.month") if name == MONTH else t("smp.hist.column", column=name)
    x_title = t("smp.hist.month_x") if name == MONTH else name
    st.markdown(f"**{title}**")
    fig = bins_figure(shown, title, x_title, current_lang())
    if fig is not None:
        st.plotly_chart(fig, key=key)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("smp.hist.bin"): b.label,
                    t("smp.m.total"): _n(b.total, k),
                    t("smp.m.positive"): _n(b.positive, k),
                    t("plot.negatives"): _n(b.negative, k),
                }
                for b in shown
            ]
        ),
        hide_index=True,
        width="stretch",
    )


def _profile(smp: SampleSetPublic, k: int) -> None:
    prof = SampleProfile.of(smp)
    if prof.source == CountsSource.NONE.value:
        st.info(t("smp.none_note"))
        return
    if prof.source != CountsSource.BANK.value:
        st.info(t("smp.declared_note"))
        return
    st.markdown(f"#### {t('smp.profile')}")
    st.caption(
        t(
            "smp.profile_meta",
            who=prof.requested_by or "—",
            at=f"{prof.counted_at:%Y-%m-%d %H:%M}" if prof.counted_at else "—",
            k=prof.min_cell,
            window=t("smp.window_applied") if prof.window_applied else t("smp.window_not_applied"),
        )
    )
    c = shown_counts(prof, k)
    cols = st.columns(4)
    cols[0].metric(t("smp.m.total"), _n(c.n_total, k))
    cols[1].metric(t("smp.m.positive"), _n(c.n_positive, k))
    cols[2].metric(
        t("smp.m.rate"),
        t("suppressed", k=k) if c.positive_rate is None else f"{c.positive_rate:.1%}",
    )
    cols[3].metric(t("smp.m.excluded"), _n(prof.n_excluded, k) if prof.n_excluded != 0 else "0")
    for i, name in enumerate(prof.histograms):
        bins = prof.months if name == MONTH else prof.columns[name]
        _histogram(name, bins, k, key=f"smp_hist_{smp.id}_{i}")


def _request_form(smp: SampleSetPublic, k: int) -> None:
    datasets = {d.id: d for d in call(catalog.list_datasets)}
    ds = datasets.get(smp.dataset_id)
    numeric = [
        str(c["name"])
        for c in (ds.columns if ds else [])
        if c.get("dtype") in ("int", "float") and c.get("name") != smp.label_column
    ]
    st.caption(t("smp.count_help"))
    columns = st.multiselect(
        t("smp.count_columns"), numeric, default=numeric[:1], key="smp_count_columns"
    )
    c1, c2 = st.columns([1, 1])
    if c1.button(t("smp.count_button"), type="primary", key="smp_count"):
        job = run(sample_counts.request_count, sample_id=smp.id, columns=list(columns), min_cell=k)
        if job is not None:
            st.session_state["smp_flash"] = t("smp.count_requested", id=job.id)
            st.rerun()
    if c2.button(t("smp.refresh"), key="smp_refresh"):
        st.rerun()


def show_sample_counts(
    me: Principal, samples: Sequence[SampleSetPublic], k: int, *, can_request: bool
) -> None:
    """The panel for one chosen sample set (the bank's own, or any for staff)."""
    st.subheader(t("smp.count"))
    by_id = {s.id: s for s in samples}
    pick = st.selectbox(
        t("smp.count_sample"),
        list(by_id),
        format_func=lambda i: f"{i} · {by_id[i].name}",
        key="smp_count_pick",
    )
    smp = by_id[pick]
    if can_request and smp.owner_org_id == me.org_id:
        _request_form(smp, k)
    jobs = call(sample_counts.list_counts, sample_id=smp.id)
    if jobs:
        last = jobs[0]
        st.write(
            t(
                "smp.count_status",
                status=t(f"smp.status.{last.status.value}"),
                who=last.requested_by_name,
                at=f"{last.requested_at:%Y-%m-%d %H:%M}",
            )
        )
        if last.status.value == "failed":
            st.error(t("smp.count_failed", reason=last.failure_reason or "—"))
    _profile(smp, k)


__all__ = ["show_sample_counts"]
