"""审计日志 Audit log (platform staff): verify the hash chain, read the events.

Counts in event details (rows, enterprises) are shown only when they reach k."""

import json

import pandas as pd
import streamlit as st

from lab.services import audit
from sandbox_ui.i18n import t
from sandbox_ui.queries import suppress
from sandbox_ui.session import call, guard, min_cell

COUNT_KEYS = frozenset(
    {"n_total", "n_positive", "row_count", "added", "total", "n_aligned", "valid"}
)
guard("audit")
k = min_cell()
st.title(t("page.audit"))

if st.button(t("aud.verify"), type="primary", key="aud_verify"):
    report = call(audit.verify)
    if report.ok:
        st.success(t("aud.ok", n=report.events))
    else:
        st.error(t("aud.broken", msg=str(report)))

c1, c2 = st.columns(2)
kind = c1.selectbox(
    t("aud.object_type"),
    [
        "",
        "experiment",
        "model",
        "consent",
        "sample",
        "indicator",
        "dataset",
        "user",
        "organization",
        "authorization",
        "algorithm",
        "node",
    ],
    key="aud_kind",
)
limit = c2.number_input(t("aud.limit"), min_value=10, max_value=2000, value=200, key="aud_limit")


def safe(details: dict) -> str:
    out = {}
    for key, value in details.items():
        if key in COUNT_KEYS and isinstance(value, int) and not isinstance(value, bool):
            n = suppress(value, k)
            out[key] = f"<{k}" if n is None else n
        else:
            out[key] = value
    return json.dumps(out, ensure_ascii=False, default=str)


events = call(audit.list_events, limit=int(limit), object_type=kind or None)
st.dataframe(
    pd.DataFrame(
        [
            {
                t("aud.col.seq"): e.seq,
                t("aud.col.at"): e.at.strftime("%Y-%m-%d %H:%M:%S"),
                t("aud.col.actor"): e.actor,
                t("aud.col.action"): e.action,
                t("aud.col.object"): f"{e.object_type}:{e.object_id}",
                t("aud.col.details"): safe(e.details),
                t("aud.col.hash"): e.hash[:12],
            }
            for e in reversed(events)
        ]
    ),
    hide_index=True,
    width="stretch",
)
