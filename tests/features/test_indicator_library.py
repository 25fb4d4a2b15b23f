"""The indicator library as a whole: every indicator is point-in-time (future-dated copies of
its records change nothing), a sample of formulas against plain pandas/numpy written here,
the library's size and dimensions, the seeds' named indicators, and docs/indicators.md
being the registry's generated text."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import indicators as I
from features import synth_records as SR

N, SEED = 240, 11
AS_OFS = ("2024-06-30", "2023-11-15")
DATE_LIKE = ("period", "date", "filed_on", "fiscal_year_end", "due_on", "paid_on")
DATE_LIKE += ("valid_until", "resolved_on")


@pytest.fixture(scope="module")
def records() -> dict[str, pd.DataFrame]:
    return SR.generate_records(N, SEED)


def _future_copies(
    df: pd.DataFrame, table: str, as_of: str, rng: np.random.Generator
) -> pd.DataFrame:
    """Copies of ``df`` moved after ``as_of`` (every date column shifted by the same number
    of days per row), with other values scrambled, plus copies for enterprises never seen."""
    copy = df.sample(frac=0.5, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)
    date_col = I.DATE_COLUMN[table]
    first = pd.to_datetime(copy[date_col])
    shift = (pd.Timestamp(as_of) - first).dt.days + rng.integers(1, 400, len(copy))
    for col in DATE_LIKE:
        if col in copy.columns:
            d = pd.to_datetime(copy[col], errors="coerce") + pd.to_timedelta(shift, unit="D")
            if col == "period":
                d = d + pd.offsets.MonthEnd(0)
            copy[col] = d.dt.strftime("%Y-%m-%d").where(d.notna(), "")
    for col in copy.columns:
        if col not in DATE_LIKE and col != "uscc" and pd.api.types.is_numeric_dtype(copy[col]):
            copy[col] = copy[col].to_numpy()[rng.permutation(len(copy))] * 3 + 1
    strangers = copy.head(20).assign(uscc=[f"FUTURE{i:012d}" for i in range(min(20, len(copy)))])
    return pd.concat([df, copy, strangers], ignore_index=True)


@pytest.mark.parametrize("as_of", AS_OFS)
@pytest.mark.parametrize("code", sorted(I.REGISTRY))
def test_future_dated_records_never_change_an_indicator(
    code: str, as_of: str, records: dict[str, pd.DataFrame]
) -> None:
    ind = I.get(code)
    tables = {t: records[t] for t in I.tables_of(ind.owner)}
    before = I.compute_party(ind.owner, tables, as_of, codes=[code])
    rng = np.random.default_rng(sum(map(ord, code)))
    planted = {t: _future_copies(df, t, as_of, rng) for t, df in tables.items()}
    after = I.compute_party(ind.owner, planted, as_of, codes=[code])
    pd.testing.assert_frame_equal(after, before, check_exact=True)
    assert before[code].notna().any(), f"{code} is empty on the synthetic records"


LATER_FACTS = {"utilities": "paid_on", "complaints": "resolved_on"}


@pytest.mark.parametrize("as_of", AS_OFS)
@pytest.mark.parametrize("table", sorted(LATER_FACTS))
def test_later_facts_in_past_records_are_read_only_as_unknown(
    table: str, as_of: str, records: dict[str, pd.DataFrame]
) -> None:
    """A payment or resolution dated after ``as_of`` was unknown on ``as_of``: moving it to
    another later date, or erasing it, changes no indicator."""
    col = LATER_FACTS[table]
    owner = I.TABLES[table].owner
    tables = {t: records[t] for t in I.tables_of(owner)}
    codes = [i.code for i in I.indicators_of(owner) if i.table == table]
    before = I.compute_party(owner, tables, as_of, codes=codes)
    later = pd.to_datetime(tables[table][col], errors="coerce") > pd.Timestamp(as_of)
    assert later.any()
    for moved in ("2099-01-01", ""):
        edited = {
            **tables,
            table: tables[table].assign(**{col: tables[table][col].where(~later, moved)}),
        }
        pd.testing.assert_frame_equal(I.compute_party(owner, edited, as_of, codes=codes), before)


# ---------------------------------------------------------------- formulas by hand
def _w(df: pd.DataFrame, col: str, lo: str, hi: str) -> pd.DataFrame:
    d = pd.to_datetime(df[col])
    return df.loc[(d > pd.Timestamp(lo)) & (d <= pd.Timestamp(hi))]


def _per_firm(df: pd.DataFrame, fn) -> pd.Series:  # noqa: ANN001
    return pd.Series({u: fn(g) for u, g in df.groupby("uscc")}, dtype=np.float64)


def _latest_statement(g: pd.DataFrame) -> pd.Series:
    g = g.loc[pd.to_datetime(g["filed_on"]) <= pd.Timestamp("2024-06-30")]
    return g.sort_values(["fiscal_year_end", "filed_on"]).iloc[-1]


def _ref_debt(g: pd.DataFrame) -> float:
    s = _latest_statement(g)
    return s["total_liabilities"] / s["total_assets"]


def _ref_ccc(g: pd.DataFrame) -> float:
    s = _latest_statement(g)
    cost, rev = s["cost_of_sales"], s["revenue"]
    return 365 * (s["inventory"] / cost + s["receivables"] / rev - s["payables"] / cost)


def _ref_cashflow_cv(g: pd.DataFrame) -> float:
    g = _w(g, "period", "2023-06-30", "2024-06-30")
    net = (g["inflow"] - g["outflow"]).to_numpy()
    return float(np.std(net) / g["inflow"].mean())


def _ref_seasonality(g: pd.DataFrame) -> float:
    g = _w(g, "period", "2023-06-30", "2024-06-30")
    return float(g["inflow"].max() / g["inflow"].mean())


def _sales(g: pd.DataFrame, lo: str, hi: str) -> pd.DataFrame:
    g = _w(g, "date", lo, hi)
    return g.loc[(g["direction"] == "in") & (g["category"] == "sales")]


def _ref_repeat(g: pd.DataFrame) -> float:
    before = set(_sales(g, "2022-06-30", "2023-06-30")["counterparty"])
    now = set(_sales(g, "2023-06-30", "2024-06-30")["counterparty"])
    return len(before & now) / len(before) if before else np.nan


def _ref_hhi(g: pd.DataFrame) -> float:
    by = _sales(g, "2023-06-30", "2024-06-30").groupby("counterparty")["amount"].sum()
    return float(((by / by.sum()) ** 2).sum()) if len(by) else np.nan


def _ref_drawdown(g: pd.DataFrame) -> float:
    g = _w(g, "period", "2023-06-30", "2024-06-30").sort_values("period")
    return 1 - g["insured_employees"].iloc[-1] / g["insured_employees"].max()


def _ref_unpaid(g: pd.DataFrame) -> float:
    g = g.loc[pd.to_datetime(g["period"]) <= pd.Timestamp("2024-06-30")]
    total = 0.0
    for due, paid, amount in zip(g["due_on"], g["paid_on"], g["amount"], strict=True):
        if due <= "2024-06-30" and (not paid or paid > "2024-06-30"):
            total += amount
    return total


def _ref_ip(g: pd.DataFrame) -> float:
    return float(((g["date"] <= "2024-06-30") & (g["valid_until"] > "2024-06-30")).sum())


def _ref_sentiment(g: pd.DataFrame) -> float:
    g = _w(g, "date", "2022-06-30", "2024-06-30")
    days = (pd.Timestamp("2024-06-30") - pd.to_datetime(g["date"])).dt.days
    return float((g["severity"] * 0.5 ** (days / (365.25 / 2))).sum())


REFERENCES = {
    "FS_DEBT_TO_ASSET": ("tax_statements", _ref_debt),
    "FS_SUPPLY_CHAIN_DAYS": ("tax_statements", _ref_ccc),
    "BK_CASHFLOW_CV_12M": ("bank", _ref_cashflow_cv),
    "BK_SEASONALITY_12M": ("bank", _ref_seasonality),
    "BT_REPEAT_CUSTOMER_RATE": ("bank_txns", _ref_repeat),
    "BT_CUSTOMER_HHI_12M": ("bank_txns", _ref_hhi),
    "SI_EMPLOYEE_DRAWDOWN_12M": ("social_insurance", _ref_drawdown),
    "UT_UNPAID_AMOUNT": ("utilities", _ref_unpaid),
    "IP_STOCK": ("ip_registrations", _ref_ip),
    "PO_SENTIMENT_INDEX": ("complaints", _ref_sentiment),
}


@pytest.mark.parametrize("code", sorted(REFERENCES))
def test_formula_matches_a_pandas_reference(code: str, records: dict[str, pd.DataFrame]) -> None:
    table, ref = REFERENCES[code]
    df = records[table]
    firms = df.loc[pd.to_datetime(df[I.DATE_COLUMN[table]]) <= pd.Timestamp(AS_OFS[0]), "uscc"]
    firms = sorted(set(firms))[:60]
    want = _per_firm(df.loc[df["uscc"].isin(firms)], ref).reindex(firms)
    ind = I.get(code)
    got = I.compute_party(ind.owner, {table: df}, AS_OFS[0], codes=[code], ids=firms)
    np.testing.assert_allclose(got[code].to_numpy(), want.to_numpy(), rtol=1e-9, equal_nan=True)
    assert np.isfinite(want.to_numpy()).sum() >= 10, code


# ---------------------------------------------------------------- the library
NAMED = (
    "资产负债率",
    "现金流波动系数",
    "供应链周转天数",
    "客户复购率",
    "知识产权储备",
    "舆情风险指数",
)


def test_library_size_dimensions_and_named_indicators() -> None:
    recs = I.registry_records()
    assert len(recs) >= 90
    dims = Counter(r["dimension"] for r in recs)
    assert set(dims) == set(I.DIMENSIONS) and min(dims.values()) >= 20
    names = {r["name_zh"] for r in recs}
    assert set(NAMED) <= names
    # the 流水贷 family, headcount trends, utilities, courts and penalties
    for code in (
        "BK_INFLOW_MONTHS_12M",
        "BT_CUSTOMERS_12M",
        "BK_SEASONALITY_12M",
        "SI_EMPLOYEE_CHANGE_12M",
        "HF_CONTRIBUTOR_CHANGE_12M",
        "UT_ELEC_KWH_12M",
        "CT_ENFORCEMENT_CASES_24M",
        "MR_PENALTIES_36M",
    ):
        assert code in I.REGISTRY
    assert {r["owner"] for r in recs} == set(I.OWNERS)
    assert len({r["code"] for r in recs}) == len(recs)
    assert len({r["name_zh"] for r in recs}) == len(recs)


@pytest.mark.parametrize("rec", I.registry_records(), ids=lambda r: r["code"])
def test_every_entry_is_complete_and_reads_columns_of_its_table(rec: dict) -> None:
    for key in ("name_zh", "name_en", "formula_zh", "formula_en", "window", "unit"):
        assert rec[key], key
    assert rec["sub_dimension_zh"] and rec["pit_rule_zh"] and rec["pit_rule_en"]
    assert I.SUB_DIMENSIONS[rec["sub_dimension"]].dimension == rec["dimension"]
    assert rec["sensitivity"] in I.SENSITIVITY
    assert set(rec["columns"]) <= set(I.TABLES[rec["table"]].columns)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in rec["formula_zh"])


def test_compute_party_refuses_an_indicator_without_its_table(
    records: dict[str, pd.DataFrame],
) -> None:
    from crypto.errors import DataValidationError

    with pytest.raises(DataValidationError, match="bank_txns"):
        I.compute_party("bank_a", records["bank"], AS_OFS[0], codes=["BT_CUSTOMERS_12M"])
    with pytest.raises(DataValidationError, match="does not keep"):
        I.compute_party("tax", {"bank": records["bank"]}, AS_OFS[0])


def test_docs_page_is_the_generated_registry() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "indicators.md").read_text("utf-8")
    assert doc == I.render_markdown(), "regenerate: features.indicators.render_markdown()"
    for r in I.registry_records():
        assert f"| `{r['code']}` | {r['name_zh']} |" in doc
