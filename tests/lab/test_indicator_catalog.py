"""The catalog's 指标库 is the registry: seeding files every registry indicator with its
Chinese and English names, owner, dimension, sub-dimension and Chinese description; the
pre-aggregated columns stay as their own family; `fedlab lab indicators list` shows the
library by dimension; an experiment naming a registry indicator whose owner registered no
raw-record folder is refused when created (tests/lab/test_registry_training.py trains on
one whose owner did)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from typer.testing import CliRunner

from features import indicators as I
from features.indicators.synthetic import synthetic_columns
from lab.cli import app
from lab.db import make_engine, session_scope, upgrade
from lab.errors import ConfigError
from lab.models import ExperimentCreate, Indicator, Organization
from lab.seed import seed_demo
from lab.services import experiments, samples
from lab.services.catalog import authenticate

HAN = re.compile("[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Engine]:
    db = tmp_path_factory.mktemp("ind") / "lab.db"
    engine = make_engine(db, create=True)
    upgrade(engine)
    seed_demo(engine, banks=("bank_a", "bank_b"))
    return db, engine


def _rows(engine: Engine) -> dict[str, tuple[Indicator, str]]:
    with session_scope(engine) as s:
        rows = s.exec(
            select(Indicator, Organization.code).join(
                Organization, Organization.id == Indicator.owner_org_id
            )
        ).all()
        for ind, _ in rows:
            s.expunge(ind)
        return {ind.code: (ind, org) for ind, org in rows}


def test_seeding_files_every_registry_indicator(seeded: tuple[Path, Engine]) -> None:
    rows = _rows(seeded[1])
    for rec in I.registry_records():
        owners = ["bank_a", "bank_b"] if rec["owner"] == "bank" else [rec["owner"]]
        for org in owners:
            code = f"{org}.{rec['code']}" if rec["owner"] == "bank" else rec["code"]
            ind, owner = rows[code]
            assert owner == org
            assert (ind.family, ind.column) == ("registry", rec["code"])
            assert (ind.name_zh, ind.name) == (rec["name_zh"], rec["name_en"])
            assert (ind.dimension, ind.sub_dimension) == (rec["dimension"], rec["sub_dimension"])
            assert ind.description == rec["formula_zh"] and HAN.search(ind.description)
            assert ind.description_en == rec["formula_en"]
            assert ind.pit_rule.startswith(rec["pit_rule_zh"])
            assert ind.source_tables == [f"{rec['table']}: {', '.join(rec['columns'])}"]
            assert (ind.unit, ind.window, ind.sensitivity) == (
                rec["unit"],
                rec["window"],
                rec["sensitivity"],
            )
    registry = {i.column for i, _ in rows.values() if i.family == "registry"}
    assert registry == set(I.REGISTRY) and len(registry) >= 90


def test_the_pre_aggregated_columns_are_their_own_family(seeded: tuple[Path, Engine]) -> None:
    rows = _rows(seeded[1])
    aggregated = {c: r for c, r in rows.items() if r[0].family == "aggregated"}
    agency_cols = {c.column.name for c in synthetic_columns() if c.owner != "bank"}
    bank_cols = {c.column.name for c in synthetic_columns() if c.owner == "bank"}
    want = agency_cols | {f"{b}_{c}" for b in ("bank_a", "bank_b") for c in bank_cols}
    assert set(aggregated) == want  # the old codes, unchanged
    for ind, owner in aggregated.values():
        assert ind.dimension in I.DIMENSIONS and ind.sub_dimension in I.SUB_DIMENSIONS
        assert HAN.search(ind.name_zh) and HAN.search(ind.description)
        assert ind.category != owner  # the old bug: the 维度 showed the owner
    assert rows["taxes_paid_12m"][0].dimension == "financial_health"


def test_a_registry_indicator_without_its_owners_record_folder_is_refused(
    seeded: tuple[Path, Engine],
) -> None:
    engine = seeded[1]
    with session_scope(engine) as s:
        modeler = authenticate(
            session=s, username="bank_a_modeler", password=None, password_required=False
        )
        sample = samples.list_samples(session=s, actor=modeler)[0]
        make = ExperimentCreate(
            name="uses the registry",
            sample_id=sample.id,
            algorithm="hetero_lr",
            indicator_codes=["bank_a_acct_avg_balance", "FS_DEBT_TO_ASSET"],
        )
        with pytest.raises(ConfigError, match="FS_DEBT_TO_ASSET") as err:
            experiments.create_experiment(session=s, actor=modeler, experiment_in=make)
        assert "raw-record folder" in str(err.value) and "'tax'" in str(err.value)
        assert "--kind records" in (err.value.hint or "")
        ok = make.model_copy(update={"indicator_codes": ["bank_a_acct_avg_balance"]})
        assert experiments.create_experiment(session=s, actor=modeler, experiment_in=ok).id


def test_cli_lists_the_library_by_dimension_with_chinese_names(
    seeded: tuple[Path, Engine],
) -> None:
    db = str(seeded[0])
    out = CliRunner().invoke(app, ["lab", "indicators", "list", "--db", db, "--user", "staff"])
    assert out.exit_code == 0, out.output
    text = out.output
    heads = [
        ln for ln in text.splitlines() if re.match(r"^(财务健康度|运营活跃度|风险抗逆力) ", ln)
    ]
    assert [h.split()[0] for h in heads[:3]] == ["财务健康度", "运营活跃度", "风险抗逆力"]
    for rec in I.registry_records():
        assert f"{rec['name_zh']} · {rec['name_en']}" in text
    n = len(I.REGISTRY)
    assert f"记录指标 {n} 项" in text and "3 个维度" in text
    assert f"{n} registry indicators" in text and n >= 90
    only = CliRunner().invoke(
        app,
        ["lab", "indicators", "list", "--family", "aggregated", "--db", db, "--user", "staff"],
    )
    assert "FS_DEBT_TO_ASSET" not in only.output and "taxes_paid_12m" in only.output
    assert "合成汇总指标" in only.output
