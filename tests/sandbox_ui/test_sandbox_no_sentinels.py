"""No raw value reaches the sandbox: sentinels planted in every party's file never render.

The seeded demo catalog points at synthetic party files (two banks, three agencies and the
authorization table) whose first rows carry unique sentinel strings, numbers and
enterprise IDs. One more experiment is run by the real worker (local runtime) and fails on
the bank's sentinel IDs, so its failure reason and audit events are on the pages too. Every
page is rendered for every user of the catalog (and each selectable experiment, model and
request on the pages that have a picker); the complete render tree — text, tables decoded
to CSV, chart specs, metrics, JSON — must contain none of them.
A positive control shows the collector does find a sentinel when a page does leak one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_world import (
    APP,
    Template,
    build_template,
    copy_catalog,
    new_experiment,
    run_worker,
    sandbox_catalog,
    who,
)
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from lab.db import session_scope
from lab.services import catalog, experiments
from sandbox_ui.navigation import pages_for

PICKERS = ("exp_pick", "mdl_pick", "apr_pick")  # indicator definitions: catalog text only


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.getbasetemp() / "sandbox_template")


@pytest.fixture
def db(template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    yield from sandbox_catalog(copy_catalog(template, tmp_path / "catalog"), monkeypatch)


def rendered(at: AppTest) -> str:
    """Everything an AppTest run put on the page, as text."""
    out: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at._tree)
    out += [df.value.to_csv() for df in at.dataframe]  # Arrow bytes hide numbers
    return "\n".join(out)


def leaks(text: str, sentinels: list[str]) -> list[str]:
    flat = text.replace(",", "").replace("\\u002c", "")
    found = []
    for s in sentinels:
        probe = s.split(".")[0] if re.fullmatch(r"\d+\.\d+", s) else s
        if probe in text or probe in flat:
            found.append(s)
    return found


def test_sentinels_are_in_every_party_file(template: Template) -> None:
    files = sorted(template.data.glob("*.csv"))
    assert {f.stem for f in files} >= {
        "bank_a",
        "bank_b",
        "tax",
        "social_insurance",
        "courts",
        "authorizations",
    }
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert any(s in text for s in template.sentinels), f.name
    assert len(template.sentinels) > 100


def test_the_collector_finds_a_leak(template: Template) -> None:
    """Positive control: a page that shows a party's raw rows is caught."""

    def leaky(path: str) -> None:
        import pandas as pd
        import streamlit as st

        frame = pd.read_csv(path)
        st.dataframe(frame.head(3))
        st.metric("first value", frame.select_dtypes("number").iloc[0, 0])

    for party in ("bank_a", "tax"):
        at = AppTest.from_function(leaky, args=(str(template.data / f"{party}.csv"),))
        at.run()
        assert leaks(rendered(at), template.sentinels)


@pytest.mark.slow
def test_no_sentinel_on_any_page_for_any_user(
    db: Engine, template: Template, tmp_path: Path
) -> None:
    failed = new_experiment(
        db,
        "bank_a_modeler",
        template.ids["sample_a"],
        "bank_a real run",
        template.indicators["bank_a"][:2] + template.indicators["tax"][:2],
        approve=True,
    )
    assert run_worker(db, tmp_path / "runs", real=True) == [failed]
    staff = who(db, "staff")
    with session_scope(db) as s:
        reason = (
            experiments.get_experiment(session=s, actor=staff, experiment_id=failed).failure_reason
            or ""
        )
    assert "party 'bank_a' failed" in reason and "malformed USCCs" in reason, reason
    admin = who(db, "admin")
    with session_scope(db) as s:
        users = [u.username for u in catalog.list_users(session=s, actor=admin)]
    assert len(users) >= 10
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()  # the sign-in page
    text = [rendered(at)]
    renders = 1
    for username in users:
        me = who(db, username)
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.session_state["principal"] = me
        at.run()
        for spec in pages_for(me.role):
            at.switch_page(spec.file)
            at.run()
            assert not at.exception, (username, spec.key, [e.value for e in at.exception])
            text.append(rendered(at))
            renders += 1
            for key in PICKERS:
                try:
                    picker = at.selectbox(key=key)
                except KeyError:
                    continue
                for option in picker.options[1:]:
                    at.selectbox(key=key).select(option).run()
                    text.append(rendered(at))
                    renders += 1
    assert renders > 60
    everything = "\n".join(text)
    assert "bank_a" in everything and "AUC" in everything  # the pages did render content
    assert "malformed USCCs" in everything  # and the failed run's reason
    assert leaks(everything, template.sentinels) == []
