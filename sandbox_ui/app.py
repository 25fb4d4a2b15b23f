"""The sandbox's entry point: ``streamlit run sandbox_ui/app.py`` (or ``fedlab ui``).

Sign-in first; then a multipage app whose page set follows the signed-in user's role
(sandbox_ui.navigation). Pages talk only to lab.services through sandbox_ui.session and
show metadata and aggregates over at least k enterprises (sandbox_ui.queries).
"""

from __future__ import annotations

import streamlit as st

from sandbox_ui.auth import render_sign_in, sign_out
from sandbox_ui.i18n import t
from sandbox_ui.navigation import pages_for
from sandbox_ui.session import principal

st.set_page_config(page_title="Federated Credit Lab", page_icon=":material/lock:", layout="wide")

with st.sidebar:
    english = st.toggle(
        t("lang.toggle"), value=st.session_state.get("lang") == "en", key="lang_toggle"
    )
    st.session_state["lang"] = "en" if english else "zh"

me = principal()
if me is None:
    render_sign_in()
    st.stop()

with st.sidebar:
    st.caption(
        t("signed_in_as", user=me.username, role=t(f"role.{me.role.value}"), org=me.org_code)
    )
    if st.button(t("signout.button"), key="signout"):
        sign_out()
        st.rerun()

specs = pages_for(me.role)
if not specs:
    st.error(t("denied", page=t("app.title"), roles=t("role.bank_modeler")))
    st.stop()
pages = [
    st.Page(p.file, title=t(f"page.{p.key}"), icon=p.icon, url_path=p.key, default=(i == 0))
    for i, p in enumerate(specs)
]
st.navigation(pages).run()
