"""算法库 Algorithm library: each algorithm's parameter schema and a form generated from it."""

import json

import pandas as pd
import streamlit as st

from lab.errors import ConfigError
from lab.services import catalog
from sandbox_ui.forms import param_inputs, schema_rows
from sandbox_ui.i18n import t
from sandbox_ui.session import call, guard

guard("algorithms")
st.title(t("page.algorithms"))

for algo in call(catalog.list_algorithms):
    with st.expander(f"{algo.name} v{algo.version} · {algo.kind}", expanded=False):
        st.write(algo.description or "—")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        t("alg.col.param"): r["param"],
                        t("alg.col.type"): r["type"],
                        t("alg.col.default"): r["default"],
                        t("alg.col.range"): r["range"],
                    }
                    for r in schema_rows(algo.param_schema)
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        st.markdown(f"**{t('alg.params')}**")
        params = param_inputs(algo.param_schema, key=f"alg.{algo.id}")
        if st.button(t("alg.validate"), key=f"alg.validate.{algo.id}"):
            try:
                checked = catalog.validate_params(algo.name, algo.param_schema, params)
            except ConfigError as exc:
                st.error(t("error", msg=str(exc)))
            else:
                st.success(t("alg.valid"))
                st.code(json.dumps(checked, ensure_ascii=False, indent=2), language="json")
