"""实验审批 Approvals (platform staff): review a submitted experiment, its consents and its
disclosure summary (what each party sends and learns), approve or reject with a reason."""

import pandas as pd
import streamlit as st

from lab.models import ExperimentStatus
from lab.services import experiments
from sandbox_ui.i18n import current_lang, t
from sandbox_ui.queries import algorithms_by_id, disclosure_summary, org_codes
from sandbox_ui.session import call, guard, run

S = ExperimentStatus
guard("approvals")
st.title(t("page.approvals"))

flash = st.session_state.pop("apr_flash", None)
if flash:
    st.success(flash)

pending = call(experiments.list_experiments, status=S.SUBMITTED)
orgs = call(org_codes)
algos = call(algorithms_by_id)
st.subheader(t("apr.pending"))
if not pending:
    st.write(t("none_yet"))
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("exp.col.id"): e.id,
                    t("exp.col.name"): e.name,
                    t("exp.col.bank"): orgs.get(e.owner_org_id),
                    t("exp.col.algorithm"): algos[e.algorithm_id].name
                    if e.algorithm_id in algos
                    else "",
                    t("exp.col.updated"): e.updated_at.strftime("%Y-%m-%d %H:%M"),
                }
                for e in pending
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    by_id = {e.id: e for e in pending}
    pick = st.selectbox(
        t("apr.review"),
        list(by_id),
        format_func=lambda i: f"{i} · {by_id[i].name} · {orgs.get(by_id[i].owner_org_id)}",
        key="apr_pick",
    )
    exp = by_id[pick]
    st.markdown(f"### {exp.id} · {exp.name}")
    st.markdown(
        f"{t('exp.col.bank')}: **{orgs.get(exp.owner_org_id)}** · "
        f"{t('exp.col.algorithm')}: **{algos[exp.algorithm_id].name}** · "
        f"{t('exp.backend')}: **{exp.backend}** · {t('cst.purpose')}: {exp.purpose}"
    )
    st.markdown(f"**{t('apr.params')}**")
    st.json(exp.params, expanded=True)
    needs = run(experiments.consents_for, experiment_id=exp.id) or []
    if needs:
        st.markdown(f"**{t('exp.consents')}**")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        t("apr.party"): n.agency,
                        t("exp.indicators"): ", ".join(n.indicators),
                        t("cst.col.state"): t(f"consent.{n.status}")
                        if n.status != "granted"
                        else "✓",
                    }
                    for n in needs
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    st.markdown(f"**{t('apr.disclosure')}**")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("apr.party"): d.party,
                    t("apr.role"): t(f"party_role.{d.role}"),
                    t("exp.indicators"): ", ".join(d.indicators),
                    t("apr.sends"): d.sends,
                    t("apr.learns"): d.learns,
                }
                for d in call(disclosure_summary, exp=exp, lang=current_lang())
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    reason = st.text_input(t("reason"), key="apr_reason")
    c1, c2 = st.columns(2)
    if c1.button(t("apr.approve"), type="primary", key="apr_approve"):
        done = run(experiments.approve_experiment, experiment_id=exp.id, reason=reason)
        if done is not None:
            st.session_state["apr_flash"] = t(
                "apr.decided", id=done.id, status=t(f"status.{done.status.value}")
            )
            st.rerun()
    if c2.button(t("apr.reject"), key="apr_reject"):
        if not reason.strip():
            st.error(t("apr.reason_required"))
        else:
            done = run(experiments.reject_experiment, experiment_id=exp.id, reason=reason)
            if done is not None:
                st.session_state["apr_flash"] = t(
                    "apr.decided", id=done.id, status=t(f"status.{done.status.value}")
                )
                st.rerun()

st.subheader(t("apr.recent"))
decided = [
    e for e in call(experiments.list_experiments) if S(e.status) not in (S.DRAFT, S.SUBMITTED)
][-20:]
if decided:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("exp.col.id"): e.id,
                    t("exp.col.name"): e.name,
                    t("exp.col.bank"): orgs.get(e.owner_org_id),
                    t("exp.col.status"): t(f"status.{S(e.status).value}"),
                }
                for e in reversed(decided)
            ]
        ),
        hide_index=True,
        width="stretch",
    )
else:
    st.write(t("none_yet"))
