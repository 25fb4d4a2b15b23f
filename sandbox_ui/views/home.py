"""Home: who is signed in, what the role may do, the five-step path to a model."""

import streamlit as st

from lab.models import Role
from lab.services import catalog, experiments, models_library
from sandbox_ui.i18n import t
from sandbox_ui.navigation import pages_for
from sandbox_ui.session import call, guard, min_cell

me = guard("home")
st.title(t("app.title"))
st.caption(t("app.tagline"))
st.info(t("k_note", k=min_cell()))
if Role(me.role) in (Role.BANK_MODELER, Role.DATA_SCIENTIST, Role.PLATFORM_STAFF, Role.ADMIN):
    st.markdown(t("home.path"))
    n_samples = len(call(catalog.list_samples))
    n_exp = len(call(experiments.list_experiments))
    n_models = len(call(models_library.list_models, k=min_cell()))
    st.write(t("home.counts", samples=n_samples, experiments=n_exp, models=n_models))
for spec in pages_for(me.role):
    if spec.key != "home":
        st.page_link(spec.file, label=t(f"page.{spec.key}"), icon=spec.icon)
