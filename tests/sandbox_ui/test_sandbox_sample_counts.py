"""样本库 "count at the bank" (在银行端统计): the button files a request, a worker counts the
sample at the bank's node (local runtime, the real protocol), the page shows the counts and
histograms, equal to pandas on the bank's file; other banks and staff cannot ask."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sandbox_world import (
    APP,
    Template,
    build_template,
    copy_catalog,
    sandbox_catalog,
    who,
)
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from lab.runner import Worker
from sandbox_ui.i18n import tr


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """A seeded catalog over clean synthetic files (each sample's ID list is its bank's
    table, as the seed registers it)."""
    return build_template(
        tmp_path_factory.getbasetemp() / "sample_counts_template", n=1000, plant=False
    )


@pytest.fixture
def db(clean: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    yield from sandbox_catalog(copy_catalog(clean, tmp_path / "catalog"), monkeypatch)


def samples_page(engine: Engine, username: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["lang"] = "zh"
    at.session_state["principal"] = who(engine, username)
    at.run()
    at.switch_page("views/samples.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def z(key: str, **fmt: object) -> str:
    return tr(key, "zh", **fmt)


def test_count_at_the_bank_button_shows_counts_and_histograms(
    db: Engine, clean: Template, tmp_path: Path
) -> None:
    # Prepare: the modeler's page has no count inputs any more, only the button
    at = samples_page(db, "bank_a_modeler")
    assert not at.number_input
    assert at.multiselect(key="smp_count_columns").value == ["acct_avg_monthly_inflow"]
    # Execute: press 在银行端统计, the worker counts at bank_a's node, reload
    at.multiselect(key="smp_count_columns").set_value(["acct_avg_balance"])
    at.button(key="smp_count").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(z("smp.count_requested", id=1) in str(s.value) for s in at.success)
    Worker(db, "w", tmp_path / "runs", runtime="local").run_once()
    at = samples_page(db, "bank_a_modeler")
    # Assert: pandas on the bank's own file (the seed's ID list is the bank's table)
    bank = pd.read_csv(clean.data / "bank_a.csv")
    n, pos = len(bank), int(bank["default_12m"].sum())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[z("smp.m.total")] == f"{n:,}"
    assert metrics[z("smp.m.positive")] == f"{pos:,}"
    assert metrics[z("smp.m.rate")] == f"{pos / n:.1%}"
    hist = next(df.value for df in at.dataframe if z("smp.hist.bin") in df.value.columns)
    totals = [int(v.replace(",", "")) for v in hist[z("smp.m.total")]]
    assert sum(totals) == n and min(totals) >= 10 and len(totals) >= 2
    assert at.get("plotly_chart")
    table = next(df.value for df in at.dataframe if z("smp.col.source") in df.value.columns)
    assert table[z("smp.col.source")].iloc[0].startswith(z("smp.source.bank", at="")[:5])
    assert z("smp.window_not_applied") in " ".join(str(c.value) for c in at.caption)


def test_other_banks_cannot_pick_and_staff_cannot_ask(db: Engine, clean: Template) -> None:
    other = samples_page(db, "bank_b_modeler")
    picker = other.selectbox(key="smp_count_pick")
    assert clean.ids["sample_a"] not in picker.options and len(picker.options) == 1
    staff = samples_page(db, "staff")
    assert staff.selectbox(key="smp_count_pick")  # reads every bank's sample set
    assert [b.key for b in staff.button] == ["signout"]  # no count button, no refresh
    assert z("smp.declared_note") in [i.value for i in staff.info]
