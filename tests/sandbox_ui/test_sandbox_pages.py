"""Every sandbox page for every role through Streamlit's AppTest, including denied access.

The app runs against a private copy of a seeded demo catalog; assertions check what the
page shows against the catalog's own state (read back through lab.services).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_world import (
    APP,
    PASSWORD,
    ROLE_USERS,
    Template,
    build_template,
    copy_catalog,
    sandbox_catalog,
    who,
)
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from lab.db import session_scope
from lab.models import ExperimentPublic, ExperimentStatus, ModelStatus, Role
from lab.services import catalog, consent, experiment_runs, experiments, models_library
from lab.services.catalog import worker_principal
from sandbox_ui.i18n import tr
from sandbox_ui.navigation import PAGES, pages_for

S = ExperimentStatus
VIEWS = APP.parent / "views"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.getbasetemp() / "sandbox_template")


@pytest.fixture
def db(template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    yield from sandbox_catalog(copy_catalog(template, tmp_path / "catalog"), monkeypatch)


def app_as(
    engine: Engine, username: str | None, page: str | None = None, lang: str = "zh"
) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["lang"] = lang
    if username is not None:
        at.session_state["principal"] = who(engine, username)
    at.run()
    if page is not None:
        at.switch_page(f"views/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for e in at.success] + [e.value for e in at.info]
    return "\n".join(str(p) for p in parts)


def frame_with(at: AppTest, column: str):  # noqa: ANN201 - a pandas DataFrame
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with column {column!r}")


def z(key: str, **fmt: object) -> str:
    return tr(key, "zh", **fmt)


# ------------------------------------------------------------------ sign-in and page sets
def test_sign_in_with_password_and_refusals(db: Engine) -> None:
    at = app_as(db, None)
    assert at.title[0].value == z("app.title")
    at.text_input(key="signin_user").input("alice")
    at.text_input(key="signin_pw").input("wrong-password")
    at.button(key="signin_submit").click().run()
    assert at.error[0].value == z("signin.failed")
    assert "principal" not in at.session_state
    at.text_input(key="signin_user").input("nobody")
    at.text_input(key="signin_pw").input(PASSWORD)
    at.button(key="signin_submit").click().run()
    assert at.error[0].value == z("signin.failed")
    at.text_input(key="signin_user").input("alice")
    at.text_input(key="signin_pw").input(PASSWORD)
    at.button(key="signin_submit").click().run()
    assert not at.error
    me = at.session_state["principal"]
    assert (me.username, me.role, me.org_code) == ("alice", Role.BANK_MODELER, "bank_a")
    assert PASSWORD not in repr(me) and PASSWORD not in repr(at.session_state)
    assert at.title[0].value == z("app.title")  # the home page
    at.button(key="signout").click().run()
    assert "principal" not in at.session_state


def test_empty_password_refused_outside_local(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDLAB_ENVIRONMENT", "staging")
    monkeypatch.setenv("FEDLAB_FIRST_ADMIN_PASSWORD", "a-real-admin-secret")
    at = app_as(db, None)
    at.text_input(key="signin_user").input("bank_a_modeler")
    at.button(key="signin_submit").click().run()
    assert at.error[0].value == z("signin.failed")
    monkeypatch.setenv("FEDLAB_ENVIRONMENT", "local")
    at.run()
    at.text_input(key="signin_user").input("bank_a_modeler")
    at.button(key="signin_submit").click().run()
    assert at.session_state["principal"].username == "bank_a_modeler"


@pytest.mark.parametrize("role", list(ROLE_USERS), ids=lambda r: r.value)
def test_page_set_follows_role_and_other_pages_are_refused(db: Engine, role: Role) -> None:
    at = app_as(db, ROLE_USERS[role])
    shown = {p.key for p in pages_for(role)}
    for spec in PAGES:
        if spec.key in shown:
            at.switch_page(spec.file)
            at.run()
            assert not at.exception, (spec.key, [e.value for e in at.exception])
            assert not at.error, (spec.key, [e.value for e in at.error])
            assert at.title[0].value in (z(f"page.{spec.key}"), z("app.title"))
        else:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(spec.file)
            # Opened directly (by URL or file), the page refuses and renders nothing else.
            direct = AppTest.from_file(str(VIEWS / f"{spec.key}.py"), default_timeout=60)
            direct.session_state["principal"] = who(db, ROLE_USERS[role])
            direct.run()
            assert [e.value for e in direct.error] == [
                z(
                    "denied",
                    page=z(f"page.{spec.key}"),
                    roles=", ".join(
                        z(f"role.{r.value}") for r in sorted(spec.roles, key=lambda r: r.value)
                    ),
                )
            ]
            assert not direct.dataframe and not direct.title and not direct.button
    expected = {
        Role.BANK_MODELER: {"home", "indicators", "samples", "algorithms", "experiments", "models"},
        Role.AGENCY_OFFICER: {"home", "indicators", "algorithms", "consent"},
        Role.PLATFORM_STAFF: {
            "home",
            "indicators",
            "samples",
            "algorithms",
            "experiments",
            "models",
            "approvals",
            "audit",
        },
    }
    if role in expected:
        assert shown == expected[role]


def test_a_page_refuses_without_sign_in(db: Engine) -> None:
    direct = AppTest.from_file(str(VIEWS / "models.py"), default_timeout=60)
    direct.run()
    assert [e.value for e in direct.error] == [z("not_signed_in")]
    assert not direct.dataframe


def plot_words(at: AppTest) -> list[tuple[str, str, list[str]]]:
    """(x title, y title, legend names) of every plotly chart on the page."""
    out = []
    for chart in at.get("plotly_chart"):
        fig = json.loads(chart.proto.spec)
        lay = fig["layout"]
        out.append(
            (
                lay["xaxis"]["title"]["text"],
                lay["yaxis"]["title"]["text"],
                [d["name"] for d in fig["data"]],
            )
        )
    return out


def assert_models_speak(at: AppTest, lang: str) -> None:
    def w(key: str, **fmt: object) -> str:
        return tr(key, lang, **fmt)

    plots = plot_words(at)
    assert [(x, y) for x, y, _ in plots] == [
        (w("plot.fpr"), w("plot.tpr")),
        (w("plot.depth"), w("plot.cum_share")),
        (w("plot.lift_x"), w("plot.lift_y")),
        (w("plot.band_x"), w("plot.enterprises")),
        (w("plot.fpr"), w("plot.tpr")),
    ]
    assert plots[0][2][-1] == w("plot.chance")
    assert plots[1][2][:2] == [w("plot.cum_pos"), w("plot.cum_neg")]
    assert plots[2][2] == [w("plot.lift")]
    assert plots[3][2] == [w("plot.negatives"), w("plot.positives")]
    assert [m.label for m in at.metric] == [
        w(f"metric.{key}") for key in ("auc", "ks", "n_aligned", "n_train", "n_valid")
    ]
    points = frame_with(at, w("mdl.pt.points"))
    assert list(points.columns) == [w("mdl.pt.column"), w("mdl.pt.bin"), w("mdl.pt.points")]
    assert points.iloc[0, 0] == w("mdl.pt.base")
    compare = frame_with(at, w("mdl.metric"))
    assert list(compare[w("mdl.metric")])[2:5] == [
        w("metric.n_aligned"),
        w("metric.n_train"),
        w("metric.n_valid"),
    ]


def test_english_toggle(db: Engine, template: Template) -> None:
    at = app_as(db, "bank_a_modeler", "indicators", lang="en")
    assert at.title[0].value == "Indicator library"
    at.toggle(key="lang_toggle").set_value(False).run()
    assert at.title[0].value == "指标库"
    # plots, the metric labels, the points and comparison tables follow the toggle
    at.switch_page("views/models.py")
    at.toggle(key="lang_toggle").set_value(True).run()
    assert at.title[0].value == "Model library"
    assert_models_speak(at, "en")
    at.toggle(key="lang_toggle").set_value(False).run()
    assert_models_speak(at, "zh")
    assert "false positive rate" not in json.dumps(plot_words(at))  # no English left over
    # the loss chart of the experiments page: its column and index names are its axis titles
    at.switch_page("views/experiments.py")
    at.toggle(key="lang_toggle").set_value(True).run()
    at.selectbox(key="exp_pick").set_value(template.ids["done1"]).run()
    loss = json.loads(at.get("vega_lite_chart")[0].proto.spec)["layer"][0]["encoding"]
    assert (loss["x"]["title"], loss["y"]["title"]) == ("epoch", "loss")
    at.toggle(key="lang_toggle").set_value(False).run()
    loss = json.loads(at.get("vega_lite_chart")[0].proto.spec)["layer"][0]["encoding"]
    assert (loss["x"]["title"], loss["y"]["title"]) == (z("exp.epoch"), z("exp.loss"))
    # the sample library's ID column and composition legend
    at.switch_page("views/samples.py")
    at.toggle(key="lang_toggle").set_value(True).run()
    assert "ID" in frame_with(at, "Positive rate").columns
    assert plot_words(at)[0][1:] == ("enterprises", ["negatives", "positives"])


def test_english_toggle_for_staff_pages(db: Engine, template: Template) -> None:
    at = app_as(db, "staff", "audit", lang="en")
    headers = ["Seq", "At", "Actor", "Action", "Object", "Details", "Hash"]
    assert list(frame_with(at, "Hash").columns) == headers
    at.toggle(key="lang_toggle").set_value(False).run()
    assert list(frame_with(at, z("aud.col.hash")).columns) == [
        z(f"aud.col.{h.lower()}") for h in headers
    ]
    at.switch_page("views/approvals.py")
    at.run()
    at.selectbox(key="apr_pick").set_value(template.ids["approvable"]).run()
    assert list(frame_with(at, z("apr.learns"))[z("apr.role")]) == [
        "发起方（持标签）",
        "数据提供方",
        "协调方",
    ]
    at.toggle(key="lang_toggle").set_value(True).run()
    disclosure = frame_with(at, "Learns")
    assert list(disclosure["Role"]) == ["guest (holds the labels)", "host", "coordinator"]
    assert disclosure["Learns"].iloc[1].startswith("aligned counts")


# ------------------------------------------------------------------ indicator library
def test_indicators_search_filter_and_consent_state(db: Engine, template: Template) -> None:
    at = app_as(db, "bank_a_modeler", "indicators")
    table = frame_with(at, z("ind.col.consent"))
    state = dict(zip(table[z("ind.col.code")], table[z("ind.col.consent")], strict=True))
    with session_scope(db) as s:
        every = catalog.search_indicators(session=s, actor=who(db, "staff"), limit=10_000)
    assert set(state) == {i.code for i in every}
    assert all(state[c] == z("consent.own") for c in template.indicators["bank_a"])
    assert all(state[c].startswith("已授权（至 ") for c in template.indicators["tax"])
    assert all(state[c] == z("consent.missing") for c in template.indicators["social_insurance"])
    assert all(state[c] == z("consent.own") for c in template.registry["bank_a"])
    assert all(state[c].startswith("已授权（至 ") for c in template.registry["tax"])
    at.selectbox(key="ind_owner").set_value("tax").run()
    assert set(frame_with(at, z("ind.col.code"))[z("ind.col.code")]) == set(
        template.indicators["tax"] + template.registry["tax"]
    )
    at.selectbox(key="ind_family").set_value("合成汇总指标").run()
    assert set(frame_with(at, z("ind.col.code"))[z("ind.col.code")]) == set(
        template.indicators["tax"]
    )
    at.selectbox(key="ind_family").set_value(z("ind.all"))
    at.selectbox(key="ind_owner").set_value(z("ind.all"))
    at.text_input(key="ind_query").input("arrears").run()
    codes = set(frame_with(at, z("ind.col.code"))[z("ind.col.code")])
    assert codes and all("arrears" in c.lower() for c in codes)
    assert at.caption[0].value == z("ind.count", n=len(codes))


def test_indicators_show_names_dimensions_and_descriptions_in_chinese_first(
    db: Engine, template: Template
) -> None:
    at = app_as(db, "bank_a_modeler", "indicators")
    table = frame_with(at, z("ind.col.code"))
    headers = list(table.columns)
    assert headers.index(z("ind.col.name_zh")) < headers.index(z("ind.col.name"))
    han = table[z("ind.col.name_zh")].str.contains("[\u4e00-\u9fff]")
    assert han.all()
    assert set(table[z("ind.col.dimension")]) == {"财务健康度", "运营活跃度", "风险抗逆力"}
    assert table[z("ind.col.description")].str.contains("[\u4e00-\u9fff]").all()
    row = table.set_index(z("ind.col.code")).loc["FS_DEBT_TO_ASSET"]
    assert row[z("ind.col.name_zh")] == "资产负债率"
    assert row[z("ind.col.sub_dimension")] == "偿债能力"
    assert row[z("ind.col.description")].startswith("最近一期已申报年报的负债总额")
    at.selectbox(key="ind_dim").set_value("风险抗逆力").run()
    dims = set(frame_with(at, z("ind.col.code"))[z("ind.col.dimension")])
    assert dims == {"风险抗逆力"}


def test_indicators_for_an_agency_count_banks_with_consent(db: Engine) -> None:
    at = app_as(db, "tax_officer", "indicators")
    table = frame_with(at, z("ind.col.consent"))
    tax_rows = table[table[z("ind.col.owner")] == "tax"]
    assert set(tax_rows[z("ind.col.consent")]) == {z("consent.banks", n=2)}


# ------------------------------------------------------------------ sample library
def test_samples_counts_rate_and_creation(db: Engine, template: Template) -> None:
    at = app_as(db, "bank_a_ds", "samples")
    table = frame_with(at, z("smp.col.rate"))
    with session_scope(db) as s:
        mine = catalog.get_sample(
            session=s, actor=who(db, "bank_a_ds"), sample_id=template.ids["sample_a"]
        )
    assert list(table[z("smp.col.id")]) == [mine.id]  # bank_b's sample is not shown
    row = table.iloc[0]
    assert row[z("smp.col.n_total")] == f"{mine.n_total:,}"
    assert row[z("smp.col.n_positive")] == f"{mine.n_positive:,}"
    assert row[z("smp.col.rate")] == f"{mine.n_positive / mine.n_total:.1%}"
    assert row[z("smp.col.runs")] == "1,200"
    assert at.get("plotly_chart")
    assert not at.number_input  # counts are not typed in: counted at the bank
    at.text_input(key="smp_name").input("2024H1 small")
    at.button(key="smp_submit").click().run()
    assert z("smp.created", name="2024H1 small") in texts(at)
    small = frame_with(at, z("smp.col.rate"))
    small = small[small[z("smp.col.name")] == "2024H1 small"].iloc[0]
    assert small[z("smp.col.n_total")] == z("smp.not_counted")  # 未计数, not "suppressed"
    assert small[z("smp.col.rate")] == z("smp.not_counted")
    assert small[z("smp.col.source")] == z("smp.source.none")
    assert small[z("smp.col.version")] == 1


def test_the_sample_form_sets_the_default_rule(db: Engine) -> None:
    at = app_as(db, "bank_a_ds", "samples")
    at.text_input(key="smp_name").input("2024H1 dpd60")
    at.selectbox(key="smp_rule").set_value("days_past_due")
    at.text_input(key="smp_rule_days").input("60")
    at.button(key="smp_submit").click().run()
    assert z("smp.created", name="2024H1 dpd60") in texts(at)
    table = frame_with(at, z("smp.col.rule"))
    row = table[table[z("smp.col.name")] == "2024H1 dpd60"].iloc[0]
    assert "逾期天数 ≥ 60 天" in row[z("smp.col.rule")]
    at.text_input(key="smp_name").input("2024H1 bad rule")
    at.selectbox(key="smp_rule").set_value("status_in")
    at.text_input(key="smp_rule_codes").input(" , ")
    at.button(key="smp_submit").click().run()
    assert any("may not be empty" in e.value for e in at.error)
    assert "2024H1 bad rule" not in set(frame_with(at, z("smp.col.rule"))[z("smp.col.name")])


def test_samples_suppressed_below_k_and_staff_read_only(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDLAB_UI_MIN_CELL", "100000")
    at = app_as(db, "staff", "samples")
    table = frame_with(at, z("smp.col.rate"))
    assert len(table) == 2  # staff see both banks' sample sets
    supp = z("suppressed", k=100000)
    assert set(table[z("smp.col.n_total")]) == {supp}
    assert set(table[z("smp.col.rate")]) == {supp}
    assert not at.get("plotly_chart")  # no histogram of suppressed cells
    assert z("smp.readonly") in texts(at)
    assert [b.key for b in at.button] == ["signout"]  # no creation form


# ------------------------------------------------------------------ algorithm library
def test_algorithm_forms_follow_the_schema(db: Engine) -> None:
    at = app_as(db, "bank_a_ds", "algorithms")
    with session_scope(db) as s:
        algos = catalog.list_algorithms(session=s, actor=who(db, "bank_a_ds"))
    folded = [e for e in at.expander if e.label.startswith("高级参数")]
    assert len(at.expander) - len(folded) == len(algos)
    assert len(folded) == sum(
        any(v.get("advanced") for v in a.param_schema.values()) for a in algos
    )
    lr = next(a for a in algos if a.name == "hetero_lr")
    epochs = at.number_input(key=f"alg.{lr.id}.epochs")
    assert (epochs.value, epochs.min, epochs.max) == (10, 1, 10_000)
    assert at.selectbox(key=f"alg.{lr.id}.key_bits").options == ["1024", "2048", "3072"]
    assert at.checkbox(key=f"alg.{lr.id}.early_stopping").value is True
    epochs.set_value(42)
    at.button(key=f"alg.validate.{lr.id}").click().run()
    assert at.success and '"epochs": 42' in at.code[0].value


# ------------------------------------------------------------------ experiments
def test_create_submit_and_cancel_an_experiment(db: Engine, template: Template) -> None:
    at = app_as(db, "bank_a_modeler", "experiments")
    assert set(at.multiselect(key="exp_indicators").value) == set(
        sorted(template.indicators["bank_a"])[:6] + template.indicators["tax"]
    )
    at.text_input(key="exp_name").input("ui-made")
    assert at.selectbox(key="exp_backend.hetero_lr").options == ["paillier", "ckks", "plaintext"]
    at.selectbox(key="exp_algo").set_value("homo_lr v1").run()  # FedAvg aggregation backends
    assert at.selectbox(key="exp_backend.homo_lr").options == [
        "ckks",
        "secaggplus",
        "masked",
        "plaintext",
    ]
    at.selectbox(key="exp_algo").set_value("hetero_lr v1").run()
    at.selectbox(key="exp_backend.hetero_lr").set_value("plaintext")
    at.button(key="exp_create_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    with session_scope(db) as s:
        mine = experiments.list_experiments(session=s, actor=who(db, "bank_a_modeler"))
    made = next(e for e in mine if e.name == "ui-made")
    assert S(made.status) is S.SUBMITTED and made.backend == "plaintext"
    assert made.params["epochs"] == 10 and made.params["key_bits"] == 2048
    assert z("exp.created", id=made.id, status=z("status.submitted")) in texts(at)
    listing = frame_with(at, z("exp.col.status"))
    assert "bank_b draft" not in set(listing[z("exp.col.name")])
    assert at.selectbox(key="exp_pick").value == made.id
    at.text_input(key="exp_cancel_reason").input("wrong indicators")
    at.button(key="exp_cancel_btn").click().run()
    with session_scope(db) as s:
        got = experiments.get_experiment(
            session=s, actor=who(db, "bank_a_modeler"), experiment_id=made.id
        )
    assert S(got.status) is S.CANCELLED
    log = frame_with(at, z("exp.col.reason"))
    assert "wrong indicators" in set(log[z("exp.col.reason")])


def test_an_empty_name_is_refused(db: Engine) -> None:
    at = app_as(db, "bank_a_modeler", "experiments")
    at.text_input(key="exp_name").input("")
    at.button(key="exp_save").click().run()
    assert [e.value for e in at.error] == [
        z("error", msg="name: String should have at least 1 character")
    ]


def test_finished_experiment_shows_progress_log_and_model(db: Engine, template: Template) -> None:
    at = app_as(db, "bank_a_ds", "experiments")
    at.selectbox(key="exp_pick").set_value(template.ids["done1"]).run()
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")  # the loss per epoch
    assert any(
        z("exp.model_ready", name="bank_a/bank_a tax lr", version=1) == s.value for s in at.success
    )
    log = frame_with(at, z("exp.col.to"))
    assert list(log[z("exp.col.to")]) == [
        z(f"status.{s}") for s in ("submitted", "approved", "queued", "running", "succeeded")
    ]
    at.button(key=f"open_model_{template.ids['done1']}").click().run()
    assert at.title[0].value == z("page.models")


def test_staff_see_every_bank_experiment(db: Engine) -> None:
    at = app_as(db, "staff", "experiments")
    names = set(frame_with(at, z("exp.col.status"))[z("exp.col.name")])
    assert {"bank_b draft", "bank_a waiting"} <= names
    assert not at.tabs  # staff do not create experiments


# ------------------------------------------------------------------ model library
def test_models_plots_scorecard_compare_publish(db: Engine, template: Template) -> None:
    at = app_as(db, "bank_a_modeler", "models")
    charts = at.get("plotly_chart")
    assert len(charts) == 5  # ROC, KS, lift, score distribution, comparison
    roc = json.loads(charts[0].proto.spec)
    assert roc["data"][-1]["name"] == z("plot.chance")
    points = frame_with(at, z("mdl.pt.points"))
    assert list(points[z("mdl.pt.column")])[0] == z("mdl.pt.base")
    own = set(points[z("mdl.pt.column")][1:])
    assert own and all(c.startswith("acct_") or c.startswith("loan_") for c in own)
    with session_scope(db) as s:
        tax_columns = {
            i.column
            for i in catalog.search_indicators(session=s, actor=who(db, "staff"), owner="tax")
        }
    assert not own & tax_columns  # the host's points stay with the host
    compare = frame_with(at, z("mdl.metric"))
    assert list(compare[z("mdl.metric")])[:3] == ["AUC", "KS", z("metric.n_aligned")]
    at.text_input(key="mdl_reason").input("validated")
    at.button(key="mdl_publish").click().run()
    with session_scope(db) as s:
        published = models_library.list_models(
            session=s, actor=who(db, "bank_a_modeler"), status=ModelStatus.PUBLISHED
        )
    assert len(published) == 1


def test_curves_are_suppressed_when_k_exceeds_the_evaluation(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDLAB_UI_MIN_CELL", "1000")  # the stand-in evaluates 240 enterprises
    at = app_as(db, "bank_a_modeler", "models")
    assert not at.get("plotly_chart")
    assert z("mdl.no_curve", k=1000) in texts(at)
    shown = {m.label: m.value for m in at.metric}
    supp = z("suppressed", k=1000)
    # AUC and KS were measured on those 240 enterprises: suppressed with them
    assert shown[z("metric.n_valid")] == shown["AUC"] == shown["KS"] == supp
    listing = frame_with(at, "AUC")
    assert set(listing["AUC"]) == set(listing["KS"]) == {supp}


def test_other_banks_see_no_models(db: Engine) -> None:
    at = app_as(db, "bank_b_modeler", "models")
    assert not at.dataframe and z("none_yet") in texts(at)


# ------------------------------------------------------------------ approvals, consent, audit
def test_staff_review_disclosure_approve_and_reject(db: Engine, template: Template) -> None:
    at = app_as(db, "staff", "approvals")
    pending = frame_with(at, z("exp.col.algorithm"))
    assert set(pending[z("exp.col.id")]) == {
        template.ids["needs_consent"],
        template.ids["approvable"],
    }
    at.selectbox(key="apr_pick").set_value(template.ids["approvable"]).run()
    disclosure = frame_with(at, z("apr.learns"))
    assert list(disclosure[z("apr.role")]) == [
        z("party_role.guest"),
        z("party_role.host"),
        z("party_role.coordinator"),
    ]
    assert list(disclosure[z("apr.party")]) == ["bank_a", "tax", "platform"]
    at.button(key="apr_approve").click().run()
    with session_scope(db) as s:
        st_ = who(db, "staff")
        approved = experiments.get_experiment(
            session=s, actor=st_, experiment_id=template.ids["approvable"]
        )
    assert S(approved.status) is S.APPROVED
    assert z("apr.decided", id=approved.id, status=z("status.approved")) in texts(at)
    # the other one lacks social insurance's consent: approval is refused with the reason
    at.selectbox(key="apr_pick").set_value(template.ids["needs_consent"]).run()
    at.button(key="apr_approve").click().run()
    assert at.error and "social_insurance" in at.error[0].value
    at.button(key="apr_reject").click().run()
    assert [e.value for e in at.error] == [z("apr.reason_required")]
    at.text_input(key="apr_reason").input("needs social insurance consent first")
    at.button(key="apr_reject").click().run()
    with session_scope(db) as s:
        rejected = experiments.get_experiment(
            session=s, actor=who(db, "staff"), experiment_id=template.ids["needs_consent"]
        )
    assert S(rejected.status) is S.REJECTED


def test_agency_officer_sees_requests_and_grants_consent(db: Engine, template: Template) -> None:
    at = app_as(db, "social_insurance_officer", "consent")
    requests = frame_with(at, z("cst.col.indicators"))
    assert list(requests[z("exp.col.id")]) == [template.ids["needs_consent"]]
    assert list(requests[z("cst.col.state")]) == [z("consent.missing")]
    at.selectbox(key="cst_bank").set_value("bank_a")
    at.button(key="cst_grant").click().run()  # every own indicator to bank_a for a year
    assert any(s.value.startswith("已授予同意") for s in at.success)
    with session_scope(db) as s:
        needs = experiments.consents_for(
            session=s, actor=who(db, "staff"), experiment_id=template.ids["needs_consent"]
        )
    assert [n.status for n in needs] == ["granted"]
    # the tax officer sees only the request that uses tax indicators (already consented)
    other = frame_with(app_as(db, "tax_officer", "consent"), z("cst.col.indicators"))
    assert list(other[z("exp.col.id")]) == [template.ids["approvable"]]
    assert list(other[z("cst.col.state")]) == ["✓"]


def test_agency_officer_revokes(db: Engine) -> None:
    at = app_as(db, "tax_officer", "consent")
    with session_scope(db) as s:
        before = consent.list_consents(session=s, actor=who(db, "tax_officer"))
    gid = before[0].id
    at.selectbox(key="cst_revoke_pick").set_value(gid)
    at.text_input(key="cst_revoke_reason").input("contract ended")
    at.button(key="cst_revoke").click().run()
    with session_scope(db) as s:
        after = consent.get_consent(session=s, actor=who(db, "tax_officer"), consent_id=gid)
    assert after.revoked_at is not None


def test_audit_log_verifies_and_lists(db: Engine) -> None:
    at = app_as(db, "admin", "audit")
    at.button(key="aud_verify").click().run()
    assert at.success and at.success[0].value.startswith("哈希链完整")
    events = frame_with(at, z("aud.col.hash"))
    assert "experiment.succeeded" in set(events[z("aud.col.action")])
    at.selectbox(key="aud_kind").set_value("model").run()
    objects = frame_with(at, z("aud.col.hash"))[z("aud.col.object")]
    assert set(objects.str.split(":").str[0]) == {"model"}


def test_an_active_experiment_refreshes_live(db: Engine, template: Template) -> None:
    with session_scope(db) as s:
        experiments.approve_experiment(
            session=s, actor=who(db, "staff"), experiment_id=template.ids["approvable"]
        )
    at = app_as(db, "bank_a_modeler", "experiments")
    at.selectbox(key="exp_pick").set_value(template.ids["approvable"]).run()
    assert not at.exception
    assert at.toggle(key="exp_auto").value is True  # approved: the detail refreshes every 2 s
    assert f"{z('exp.status')}: **{z('status.approved')}**" in texts(at)
    at.selectbox(key="exp_pick").set_value(template.ids["done1"]).run()
    assert not [w for w in at.toggle if w.key == "exp_auto"]  # finished: no refresh


def test_loss_per_epoch_needs_k_enterprises(
    db: Engine, template: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the stand-in run validated on 240 enterprises and trained on 960: the basis is 240
    for k, shown in ((240, True), (241, False)):
        monkeypatch.setenv("FEDLAB_UI_MIN_CELL", str(k))
        at = app_as(db, "bank_a_ds", "experiments")
        at.selectbox(key="exp_pick").set_value(template.ids["done1"]).run()
        assert bool(at.get("vega_lite_chart")) is shown, k
        assert (z("exp.loss_suppressed", k=k, n=3) in texts(at)) is not shown, k
        assert z("exp.model_ready", name="bank_a/bank_a tax lr", version=1) in texts(at)


def test_a_live_run_reruns_the_page_when_it_ends(
    db: Engine, template: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp_id = template.ids["approvable"]
    worker = worker_principal("sandbox-test")
    with session_scope(db) as s:
        experiments.approve_experiment(session=s, actor=who(db, "staff"), experiment_id=exp_id)
    with session_scope(db) as s:
        claimed = experiment_runs.claim_next(session=s, actor=worker)
        assert claimed is not None and claimed.id == exp_id
        experiment_runs.start_run(
            session=s, actor=worker, experiment_id=exp_id, lease_token=claimed.lease_token
        )
        for epoch, loss in enumerate([0.69, 0.61]):
            experiment_runs.record_progress(
                session=s,
                actor=worker,
                experiment_id=exp_id,
                entry={"event": "epoch", "epoch": epoch, "loss": loss},
                lease_token=claimed.lease_token,
            )
    at = app_as(db, "bank_a_modeler", "experiments")
    at.selectbox(key="exp_pick").set_value(exp_id).run()
    assert at.toggle(key="exp_auto").value is True
    # running: the loss is not shown before the enterprises it is computed on are known
    assert not at.get("vega_lite_chart") and z("exp.loss_pending", k=10, n=2) in texts(at)

    with session_scope(db) as s:  # the run ends with a model validated on 240 enterprises
        exp = experiment_runs.succeed_run(
            session=s, actor=worker, experiment_id=exp_id, lease_token=claimed.lease_token
        )
        models_library.register_model_version(
            session=s,
            actor=worker,
            experiment=exp,
            name="bank_a/bank_a waiting",
            algorithm="hetero_lr",
            metrics={"n_valid": 240, "n_train": 960, "auc": 0.7},
            roc={},
            lineage={"experiment": exp_id},
            artifacts={},
        )
    # The browser's 2-second refresh reruns only the detail panel; the list and the picker
    # above it were drawn while the run was still going. Stand that in: the list reads the
    # experiment as running until the panel has read it afresh.
    panel_read: list[S] = []
    list_experiments, get_experiment = experiments.list_experiments, experiments.get_experiment

    def listed_before_the_end(**kw: Any) -> list[ExperimentPublic]:
        rows = list_experiments(**kw)
        return (
            rows
            if panel_read
            else [e.model_copy(update={"status": S.RUNNING}) if e.id == exp_id else e for e in rows]
        )

    def panel(**kw: Any) -> ExperimentPublic:
        got = get_experiment(**kw)
        panel_read.append(S(got.status))
        return got

    monkeypatch.setattr(experiments, "list_experiments", listed_before_the_end)
    monkeypatch.setattr(experiments, "get_experiment", panel)
    at.run()
    assert panel_read[0] is S.SUCCEEDED  # the panel saw the end ...
    listing = frame_with(at, z("exp.col.status"))  # ... and the whole page followed
    row = listing[listing[z("exp.col.id")] == exp_id].iloc[0]
    assert row[z("exp.col.status")] == z("status.succeeded")
    label = f"{exp_id} · bank_a waiting · {z('status.succeeded')}"
    picker = at.selectbox(key="exp_pick")
    assert picker.value == exp_id and label in picker.options
    # the browser keeps the label it was last sent: the new one goes with the page
    assert picker.proto.set_value and picker.proto.raw_value == label
    assert not [w for w in at.toggle if w.key == "exp_auto"]  # the refresh stopped
    assert at.get("vega_lite_chart")  # 240 enterprises: the loss per epoch is shown
