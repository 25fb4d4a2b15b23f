"""Synthetic multi-party data: determinism, row sets, latent signal split across parties."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from features import synth
from features.encoding import party_matrix
from features.uscc import classify_usccs
from features.validation import load_party_table
from lab.errors import ConfigError, DataValidationError

PARTIES = ("bank", *synth.AGENCIES, "authorizations")


def _hashes(paths: dict[str, Path]) -> dict[str, str]:
    return {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in paths.items()}


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    # Prepare / Execute
    a = synth.write(tmp_path / "a", synth.generate(3000, 11))
    b = synth.write(tmp_path / "b", synth.generate(3000, 11))
    c = synth.write(tmp_path / "c", synth.generate(3000, 12))
    # Assert
    assert set(a) == set(PARTIES)
    assert _hashes(a) == _hashes(b)
    ha, hc = _hashes(a), _hashes(c)
    assert all(ha[k] != hc[k] for k in PARTIES)
    assert [p.name for p in a.values()] == [f"{k}.csv" for k in a]
    assert not list((tmp_path / "a").glob(".*tmp"))


def test_dirty_files_are_deterministic_too(tmp_path: Path) -> None:
    a = synth.write(tmp_path / "a", synth.generate(2000, 5, dirty=True))
    b = synth.write(tmp_path / "b", synth.generate(2000, 5, dirty=True))
    assert _hashes(a) == _hashes(b)


def test_tables_columns_and_ids() -> None:
    tables = synth.generate(4000, 3)
    for name, df in tables.items():
        documented = [c.name for c in synth.party_columns(name)]
        assert list(df.columns) == documented, name
        well, ok = classify_usccs(df["uscc"].to_numpy(dtype=object))
        assert ok.all(), name
        if name != "authorizations":
            assert df["uscc"].is_unique, name
        assert df["uscc"].is_monotonic_increasing, name


def test_row_sets_differ_and_match_coverage() -> None:
    n = 20_000
    tables = synth.generate(n, 4)
    for agency, cov in synth.COVERAGE.items():
        share = len(tables[agency]) / n
        assert 0.70 <= share <= 0.97 and abs(share - cov) < 0.02, agency
    bank_ids = set(tables["bank"]["uscc"])
    assert 0.35 * n < len(bank_ids) < 0.75 * n
    sets = [frozenset(tables[a]["uscc"]) for a in synth.AGENCIES]
    assert len(set(sets)) == len(sets)
    universe = frozenset().union(*sets, bank_ids)
    assert len(universe) <= n


def test_default_rate_in_documented_range() -> None:
    bank = synth.generate(30_000, 9)["bank"]
    rate = bank[synth.LABEL].mean()
    assert 0.08 <= rate <= 0.15
    assert set(bank[synth.LABEL].unique()) == {0, 1}


def test_authorizations_mostly_valid_some_expired_some_absent() -> None:
    tables = synth.generate(20_000, 6)
    auth, bank = tables["authorizations"], tables["bank"]
    as_of = str(synth.AS_OF)
    assert (auth["granted_on"] < auth["expires_on"]).all()
    assert (auth["granted_on"] <= as_of).all()
    valid = set(auth.loc[auth["expires_on"] >= as_of, "uscc"])
    expired = set(auth.loc[auth["expires_on"] < as_of, "uscc"])
    customers = set(bank["uscc"])
    n = len(customers)
    assert 0.80 < len(valid & customers) / n < 0.90
    assert 0.04 < len(expired & customers) / n < 0.10
    assert 0.05 < len(customers - valid - expired) / n < 0.11
    assert valid - customers  # some applicants authorized the bank without being customers


def test_several_banks_are_non_iid() -> None:
    tables = synth.generate(10_000, 2, banks=("bank_a", "bank_b"))
    a, b = tables["bank_a"], tables["bank_b"]
    assert set(tables["authorizations"]["bank"]) == {"bank_a", "bank_b"}
    region = tables["market_regulation"].set_index("uscc")["region"]
    ra = region.reindex(a["uscc"]).value_counts(normalize=True)
    rb = region.reindex(b["uscc"]).value_counts(normalize=True)
    # each bank leans toward its own regions
    assert (ra - rb).abs().max() > 0.05
    assert 0 < len(set(a["uscc"]) & set(b["uscc"])) < len(a)


@pytest.mark.parametrize("banks", [("tax",), ("Bank",), ("authorizations",), ("b", "b"), ()])
def test_bad_bank_names_rejected(banks: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError):
        synth.generate(10, 1, banks=banks)


def test_generated_files_pass_validation(tmp_path: Path) -> None:
    paths = synth.write(tmp_path, synth.generate(3000, 8))
    for name, path in paths.items():
        df = load_party_table(path, id_column="uscc", party=name)
        assert len(df) == pd.read_csv(path).shape[0]


def _encoded(df: pd.DataFrame, label: str | None = None) -> pd.DataFrame:
    m = party_matrix(df, id_column="uscc", label=label)
    X = pd.DataFrame(m.X, columns=m.feature_names, index=m.ids)
    # money and counts are log-normal: log1p them (same treatment for both models)
    for c in X.columns:
        if X[c].min() >= 0 and X[c].max() > 100:
            X[c] = np.log1p(X[c])
    return X


def test_agency_data_beats_bank_only_by_clear_margin() -> None:
    # Prepare: 20k enterprises, inner join of all parties on uscc
    tables = synth.generate(20_000, 2024)
    bank = tables["bank"].set_index("uscc")
    y = bank[synth.LABEL]
    joined_ids = bank.index
    for a in synth.AGENCIES:
        joined_ids = joined_ids.intersection(pd.Index(tables[a]["uscc"]))
    bank_X = _encoded(tables["bank"], synth.LABEL).loc[joined_ids]
    all_X = pd.concat(
        [bank_X] + [_encoded(tables[a]).loc[joined_ids] for a in synth.AGENCIES], axis=1
    )
    yj = y.loc[joined_ids].to_numpy()
    tr, te = train_test_split(
        np.arange(len(joined_ids)), test_size=0.3, random_state=0, stratify=yj
    )

    # Execute
    def auc(X: pd.DataFrame) -> float:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(X.iloc[tr], yj[tr])
        return float(roc_auc_score(yj[te], model.predict_proba(X.iloc[te])[:, 1]))

    auc_bank, auc_all = auc(bank_X), auc(all_X)
    print(
        f"\nAUC bank-only {auc_bank:.4f}  all parties {auc_all:.4f}  "
        f"gain {auc_all - auc_bank:+.4f}  ({len(joined_ids)} joined rows)"
    )

    # Assert
    assert len(joined_ids) > 4000
    assert auc_bank > 0.6  # the bank alone sees some signal
    assert auc_all - auc_bank >= 0.05


def test_dirty_mode_adds_what_it_promises(tmp_path: Path) -> None:
    # Prepare
    n = 10_000
    clean = synth.generate(n, 21)
    dirty = synth.generate(n, 21, dirty=True)
    for name in ("bank", *synth.AGENCIES):
        c, d = clean[name], dirty[name]
        features = [col for col in c.columns if col not in ("uscc", synth.LABEL)]
        # missing cells in every feature column, never in the label
        miss = d[features].isna().mean()
        assert ((miss > 0.015) & (miss < 0.1)).all(), (name, miss.to_dict())
        assert c[features].isna().sum().sum() == 0
        if synth.LABEL in d:
            assert d[synth.LABEL].notna().all()
        # duplicates: exact and conflicting
        n_dup = int(d["uscc"].duplicated().sum())
        rate = synth.DIRT["duplicate_rate"] + synth.DIRT["conflicting_duplicate_rate"]
        assert n_dup >= round(rate * len(c)) - 1
        exact = d.duplicated(keep=False)
        assert exact.any() and (d["uscc"].duplicated(keep=False) & ~exact).any(), name
        assert len(d) == len(c) + n_dup
        # malformed IDs of each documented kind
        ids = d["uscc"].astype(str)
        well, ok = classify_usccs(ids.to_numpy(dtype=object))
        assert (ids.str.len() == 15).sum() >= 1
        assert ids.str.endswith(" ").sum() >= 1
        assert (ids != ids.str.upper()).sum() >= 1
        assert (well & ~ok).sum() >= 1
        # the clean base is unchanged where no dirt was put: labels of intact IDs agree
        if synth.LABEL in d:
            intact = d[ok & ~d["uscc"].duplicated(keep=False).to_numpy()]
            merged = intact.merge(c, on="uscc", suffixes=("", "_clean"))
            assert len(merged) == len(intact)
            assert (merged[synth.LABEL] == merged[f"{synth.LABEL}_clean"]).all()
    # skew and outliers
    cap_c, cap_d = (
        clean["market_regulation"]["registered_capital"],
        dirty["market_regulation"]["registered_capital"],
    )
    assert cap_d.max() > 1000 * cap_c.median() and cap_d.skew() > 5 * cap_c.skew()
    assert (dirty["utilities"]["electricity_kwh_12m"] < 0).any()
    assert (clean["utilities"]["electricity_kwh_12m"] > 0).all()
    assert dirty["tax"]["tax_credit_grade"].isna().mean() > 0.06
    # validation catches the dirt (the first problem: malformed IDs)
    paths = synth.write(tmp_path, dirty)
    for name in ("bank", *synth.AGENCIES):
        with pytest.raises(DataValidationError, match=r"column 'uscc': \d+ malformed USCCs"):
            load_party_table(paths[name], id_column="uscc", party=name)


def test_cli_synth_and_validate(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lab.commands.data import app

    runner = CliRunner()
    res = runner.invoke(
        app, ["synth", "--enterprises", "800", "--seed", "3", "--out", str(tmp_path / "d")]
    )
    assert res.exit_code == 0, res.output
    assert "wrote 7 files for 800 enterprises" in res.output
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == sorted(f"{p}.csv" for p in PARTIES)
    res = runner.invoke(
        app, ["validate", str(tmp_path / "d" / "bank.csv"), "--label", "default_12m"]
    )
    assert res.exit_code == 0, res.output
    assert "bank.csv: OK" in res.output and "positives" in res.output
    assert "acct_avg_balance" in res.output
    bank = pd.read_csv(tmp_path / "d" / "bank.csv", dtype=str)
    assert not any(u in res.output for u in bank["uscc"])
    (tmp_path / "bad.csv").write_text("uscc,x\n91350100M000100Y44,1\n")
    res = runner.invoke(app, ["validate", str(tmp_path / "bad.csv")])
    assert res.exit_code != 0
    assert isinstance(res.exception, DataValidationError)
    assert "1 USCCs with a wrong check character" in str(res.exception)


DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_data_dictionary_lists_every_column() -> None:
    text = (DOCS / "data_dictionary.md").read_text(encoding="utf-8")
    for party in PARTIES:
        assert f"`{party}.csv`" in text, party
        for col in synth.party_columns(party):
            row = f"| `{col.name}` | {col.zh} | {col.kind} | {col.unit} |"
            assert row in text, row
    assert f"{synth.B0}" in text  # the documented intercept is the one in the code
    for code in synth.INDUSTRIES:
        assert f"| {code} | {synth.INDUSTRIES[code][0]} |" in text


def test_glossary_has_the_domain_words() -> None:
    text = (DOCS / "glossary.md").read_text(encoding="utf-8")
    for word in [
        "统一社会信用代码",
        "指标库",
        "样本库",
        "模型库",
        "算法库",
        "查询授权",
        "联合建模",
        "评分卡",
        "预授信",
        "贷前",
        "贷中",
        "贷后",
        "可用不可见",
        "guest",
        "host",
        "coordinator",
        "PSI",
        "Paillier",
        "CKKS",
        "SecureBoost",
        "WOE",
        "IV",
        "KS",
        "AUC",
    ]:
        assert word in text, word
