"""Every indicator against a value computed by hand on a tiny fixture, point-in-time checks
(records planted after the observation date change nothing), and the registry."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import indicators as I
from features import synth_records as SR

AS_OF = "2024-06-30"
NAN = float("nan")


def _frame(cols: str, rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=cols.split())


FIXTURE: dict[str, pd.DataFrame] = {
    "bank": _frame(
        "uscc period inflow outflow balance txn_count",
        [
            ("E1", "2023-05-31", 50, 40, 10, 1),  # 24-month window only
            ("E1", "2023-06-30", 60, 60, 20, 0),  # on the 12-month boundary: outside it
            ("E1", "2023-12-31", 100, 80, 30, 5),
            ("E1", "2024-03-31", 200, 150, 40, 3),
            ("E1", "2024-06-30", 300, 250, 60, 2),
            ("E2", "2022-01-31", 10, 10, 1, 1),  # too old for every window
        ],
    ),
    "tax": _frame(
        "uscc period tax_paid invoice_count invoice_amount filed_late arrears",
        [
            ("E1", "2022-09-30", 10, 1, 100, 0, 0),
            ("E1", "2023-06-30", 20, 0, 0, 1, 5),
            ("E1", "2023-09-30", 30, 2, 300, 1, 0),
            ("E1", "2024-06-30", 40, 0, 0, 0, 7),
            ("E2", "2024-01-31", 5, 3, 50, 0, 0),
        ],
    ),
    "social_insurance": _frame(
        "uscc period insured_employees due paid",
        [
            ("E1", "2021-09-30", 8, 100, 100),
            ("E1", "2023-12-31", 10, 100, 100),
            ("E1", "2024-03-31", 12, 120, 60),
            ("E1", "2024-06-30", 15, 150, 150),
            ("E2", "2024-06-30", 4, 40, 40),
        ],
    ),
    "utilities": _frame(
        "uscc period electricity_kwh water_tons amount due_on paid_on",
        [
            ("E1", "2023-03-31", 1000, 10, 500, "2023-04-20", "2023-04-10"),
            ("E1", "2023-09-30", 2000, 20, 900, "2023-10-20", "2023-11-05"),  # late
            ("E1", "2024-05-31", 3000, 30, 1200, "2024-06-20", ""),  # due, unpaid: late
            ("E1", "2024-06-30", 1000, 5, 400, "2024-07-20", "2024-08-01"),  # not due yet
            ("E2", "2024-06-30", 100, 1, 50, "2024-07-20", "2024-07-01"),
        ],
    ),
    "courts": _frame(
        "uscc date case_type amount",
        [
            ("E1", "2020-01-15", "registered", 0),
            ("E1", "2022-03-01", "civil_defendant", 0),  # older than 24 months
            ("E1", "2023-01-10", "civil_defendant", 0),
            ("E1", "2023-08-20", "enforcement", 5000),
            ("E1", "2024-02-29", "enforcement", 3000),
            ("E2", "2019-05-05", "registered", 0),
        ],
    ),
    "market_regulation": _frame(
        "uscc date event amount",
        [
            ("E1", "2014-06-30", "established", 0),
            ("E1", "2021-05-01", "penalty", 100),  # older than 36 months
            ("E1", "2022-01-01", "penalty", 200),
            ("E1", "2024-06-01", "penalty", 300),
            ("E1", "2023-01-01", "abnormal_listed", 0),
            ("E1", "2024-01-01", "abnormal_removed", 0),
            ("E2", "2020-01-01", "established", 0),
            ("E2", "2024-05-05", "abnormal_listed", 0),
        ],
    ),
}

# (E1, E2) by hand; NaN = no record to aggregate
EXPECTED: dict[str, tuple[float, float]] = {
    "BK_INFLOW_AVG_12M": ((100 + 200 + 300) / 3, NAN),
    "BK_OUTFLOW_AVG_12M": ((80 + 150 + 250) / 3, NAN),
    "BK_BALANCE_AVG_12M": ((30 + 40 + 60) / 3, NAN),
    "BK_INFLOW_CV_12M": (math.sqrt((100**2 + 0 + 100**2) / 3) / 200, NAN),
    "BK_ACTIVE_MONTHS_24M": (4, 0),
    "BK_NET_FLOW_12M": (20 + 50 + 50, 0),
    "BK_INFLOW_GROWTH_6M": ((200 + 300) / 100 - 1, NAN),
    "TX_PAID_12M": (30 + 40, 5),
    "TX_PAID_24M": (10 + 20 + 30 + 40, 5),
    "TX_INVOICE_COUNT_12M": (2, 3),
    "TX_INVOICE_AMOUNT_12M": (300, 50),
    "TX_INVOICE_GROWTH_YOY": (300 / (100 + 0) - 1, NAN),
    "TX_LATE_FILINGS_12M": (1, 0),
    "TX_ARREARS_LATEST": (7, 0),
    "TX_ZERO_INVOICE_MONTHS_12M": (1, 0),
    "SI_EMPLOYEES_LATEST": (15, 4),
    "SI_EMPLOYEE_CHANGE_6M": (15 / 10 - 1, NAN),
    "SI_PAID_MONTHS_36M": (3, 1),
    "SI_ARREARS_MONTHS_12M": (1, 0),
    "SI_PAID_AMOUNT_12M": (100 + 60 + 150, 40),
    "UT_ELEC_KWH_12M": (2000 + 3000 + 1000, 100),
    "UT_ELEC_GROWTH_YOY": (6000 / 1000 - 1, NAN),
    "UT_WATER_TONS_12M": (20 + 30 + 5, 1),
    "UT_LATE_MONTHS_12M": (2, 0),
    "UT_BILL_AMOUNT_12M": (900 + 1200 + 400, 50),
    "CT_DEFENDANT_CASES_24M": (1, 0),
    "CT_ENFORCEMENT_CASES_24M": (2, 0),
    "CT_ENFORCEMENT_AMOUNT_24M": (8000, 0),
    "CT_MONTHS_SINCE_CASE": (4, NAN),  # 2024-02-29 -> 2024-06-30
    "MR_COMPANY_AGE_YEARS": (3653 / 365.25, 1642 / 365.25),  # days counted by hand
    "MR_PENALTIES_36M": (2, 0),
    "MR_PENALTY_AMOUNT_36M": (500, 0),
    "MR_ABNORMAL_LISTED": (0, 1),
}


def _tables(records: dict[str, pd.DataFrame], as_of: str = AS_OF) -> dict[str, pd.DataFrame]:
    """Each owner's indicators over its main table (the fixture's tables)."""
    return {
        p: I.compute_party(
            p, df, as_of, codes=[i.code for i in I.indicators_of(p) if i.table == p]
        ).set_index("uscc")
        for p, df in records.items()
    }


def test_the_first_indicators_have_hand_computed_values() -> None:
    assert set(EXPECTED) <= set(I.REGISTRY)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_indicator_matches_hand_computed_value(code: str) -> None:
    ind = I.get(code)
    table = I.compute_party(ind.owner, FIXTURE[ind.table], AS_OF, codes=[code])
    got = table.set_index("uscc")[code]
    want = pd.Series(EXPECTED[code], index=["E1", "E2"], dtype=np.float64)
    np.testing.assert_allclose(
        got.loc[["E1", "E2"]].to_numpy(),
        want.to_numpy(),
        rtol=1e-12,
        atol=1e-12,
        equal_nan=True,
        err_msg=code,
    )


FUTURE: dict[str, pd.DataFrame] = {
    "bank": _frame(
        "uscc period inflow outflow balance txn_count",
        [
            ("E1", "2024-07-31", 9e6, 1, 9e6, 50),
            ("E2", "2024-09-30", 9e6, 1, 1, 9),
            ("E3", "2024-08-31", 1, 1, 1, 1),
        ],
    ),
    "tax": _frame(
        "uscc period tax_paid invoice_count invoice_amount filed_late arrears",
        [("E1", "2024-07-31", 9e6, 0, 0, 1, 9e6), ("E3", "2025-01-31", 1, 1, 1, 1, 1)],
    ),
    "social_insurance": _frame(
        "uscc period insured_employees due paid",
        [("E1", "2024-07-31", 999, 100, 0), ("E2", "2024-12-31", 1, 100, 0)],
    ),
    "utilities": _frame(
        "uscc period electricity_kwh water_tons amount due_on paid_on",
        [
            ("E1", "2024-07-31", 9e6, 9e6, 9e6, "2024-08-20", ""),
            ("E2", "2024-07-31", 1, 1, 1, "2024-08-20", "2024-09-30"),
        ],
    ),
    "courts": _frame(
        "uscc date case_type amount",
        [
            ("E1", "2024-07-01", "enforcement", 9e6),
            ("E2", "2024-07-02", "civil_defendant", 0),
            ("E3", "2024-08-01", "registered", 0),
        ],
    ),
    "market_regulation": _frame(
        "uscc date event amount",
        [
            ("E1", "2024-07-01", "abnormal_listed", 0),
            ("E2", "2024-07-01", "abnormal_removed", 0),
            ("E1", "2024-12-01", "penalty", 9e6),
            ("E3", "2024-07-15", "established", 0),
        ],
    ),
}


def test_records_after_the_observation_date_change_no_indicator() -> None:
    before = _tables(FIXTURE)
    planted = {p: pd.concat([df, FUTURE[p]], ignore_index=True) for p, df in FIXTURE.items()}
    after = _tables(planted)
    for party in FIXTURE:
        pd.testing.assert_frame_equal(after[party], before[party], check_exact=True)
    # the planted records are real data: as of a later date they do count
    later = _tables(planted, "2025-06-30")
    assert later["bank"].loc["E1", "BK_INFLOW_AVG_12M"] > 1e6
    assert later["market_regulation"].loc["E1", "MR_ABNORMAL_LISTED"] == 1
    assert "E3" in later["bank"].index and "E3" not in after["bank"].index


def test_synthetic_records_carry_the_latent_model() -> None:
    records = SR.generate_records(600, 3)
    labels = SR.label_table(600, 3).set_index("uscc")["default_12m"]
    for table, df in records.items():
        assert (pd.to_datetime(df[I.DATE_COLUMN[table]]) > pd.Timestamp(AS_OF)).any(), table
        assert tuple(df.columns) == I.TABLES[table].columns, table
    # later payments and arrears go with defaults
    si = I.compute_party("social_insurance", records["social_insurance"], AS_OF)
    y = labels.reindex(si["uscc"]).to_numpy()
    arrears = si["SI_ARREARS_MONTHS_12M"].to_numpy()
    assert y[arrears > 0].mean() > y[arrears == 0].mean()


def test_write_records_writes_records_and_indicator_tables(tmp_path: Path) -> None:
    paths = SR.write_records(tmp_path, 200, 1)
    want = {f"records_{t}" for t in I.TABLES} | {f"indicators_{p}" for p in SR.PARTIES}
    assert set(paths) == want
    bank = pd.read_csv(paths["indicators_bank"])
    assert "default_12m" in bank.columns
    assert {i.code for i in I.indicators_of("bank")} <= set(bank.columns)
    again = SR.write_records(tmp_path / "again", 200, 1)
    assert paths["records_tax"].read_bytes() == again["records_tax"].read_bytes()
    assert paths["records_bank_txns"].read_bytes() == again["records_bank_txns"].read_bytes()
