"""数据授权同意 Consent (agency officers): requests that use the agency's indicators,
grant consent to a bank for named indicators, a purpose and an expiry; revoke."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from lab.models import ConsentGrantCreate, OrgKind
from lab.services import catalog, consent, experiments
from sandbox_ui.i18n import t
from sandbox_ui.queries import org_codes
from sandbox_ui.session import call, guard, run, show_invalid

me = guard("consent")
st.title(t("page.consent"))
orgs = call(org_codes)
now = datetime.now(UTC)

st.subheader(t("cst.requests"))
requests = call(experiments.list_requests)
rows = []
for e in requests:
    for need in run(experiments.consents_for, experiment_id=e.id) or []:
        if need.agency == me.org_code:
            rows.append(
                {
                    t("exp.col.id"): e.id,
                    t("exp.col.name"): e.name,
                    t("cst.col.bank"): orgs.get(e.owner_org_id),
                    t("cst.col.indicators"): ", ".join(need.indicators),
                    t("cst.col.state"): t(f"consent.{need.status}")
                    if need.status != "granted"
                    else "✓",
                }
            )
if rows:
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
else:
    st.write(t("none_yet"))

st.subheader(t("cst.grant"))
own = [i.code for i in call(catalog.search_indicators, owner=me.org_code, limit=10_000)]
banks = [o.code for o in call(catalog.list_organizations) if OrgKind(o.kind) is OrgKind.BANK]
with st.form("grant_form"):
    c1, c2, c3 = st.columns(3)
    bank = c1.selectbox(t("cst.bank"), banks, key="cst_bank")
    purpose = c2.text_input(t("cst.purpose"), value="credit_risk_model", key="cst_purpose")
    days = c3.number_input(t("cst.days"), min_value=1, max_value=3650, value=365, key="cst_days")
    chosen = st.multiselect(t("cst.col.indicators"), own, default=own, key="cst_indicators")
    go = st.form_submit_button(t("cst.grant_button"), type="primary", key="cst_grant")
if go:
    try:
        consent_in = ConsentGrantCreate(
            bank_code=bank,
            indicator_codes=chosen,
            purpose=purpose.strip() or "credit_risk_model",
            expires_at=now + timedelta(days=int(days)),
        )
    except ValidationError as exc:
        show_invalid(exc)
    else:
        grant = run(consent.grant_consent, consent_in=consent_in)
        if grant is not None:
            st.success(t("cst.granted", id=grant.id))

st.subheader(t("cst.grants"))
grants = [g for g in call(consent.list_consents) if g.agency_org_id == me.org_id]


def state(g) -> str:  # noqa: ANN001 - ConsentGrantPublic
    if g.revoked_at is not None:
        return t("consent.revoked")
    exp = g.expires_at if g.expires_at.tzinfo else g.expires_at.replace(tzinfo=UTC)
    return t("consent.expired") if exp <= now else "✓"


if grants:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("cst.col.id"): g.id,
                    t("cst.col.bank"): orgs.get(g.bank_org_id),
                    t("cst.col.indicators"): ", ".join(g.indicator_codes),
                    t("cst.purpose"): g.purpose,
                    t("cst.col.expires"): g.expires_at.strftime("%Y-%m-%d"),
                    t("cst.col.state"): state(g),
                }
                for g in grants
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    live = [g.id for g in grants if g.revoked_at is None]
    if live:
        c1, c2, c3 = st.columns([1, 2, 1])
        gid = c1.selectbox(t("cst.col.id"), live, key="cst_revoke_pick")
        reason = c2.text_input(t("reason"), key="cst_revoke_reason")
        if c3.button(t("cst.revoke"), key="cst_revoke"):
            if run(consent.revoke_consent, consent_id=gid, reason=reason) is not None:
                st.success(t("cst.revoked", id=gid))
                st.rerun()
else:
    st.write(t("none_yet"))
