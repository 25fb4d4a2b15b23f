"""Public credit data sets presented as parties (guest with label, hosts with features).

Conventions shared with the synthetic data: every party table has the ID column first
(``id``, an opaque string: the FATE files' own ids, the Taiwan file's ``ID``, or the row
number for files without one), the guest holds the label ``y`` (1 = bad / default), hosts
hold features only. Splits:

=============== ================================================ ======================
name            guest                                            hosts
=============== ================================================ ======================
default_credit  FATE guest file as shipped (PAY_6, BILL_AMT,     ``host``: FATE host
                PAY_AMT)                                         file
breast          FATE guest file as shipped                       ``host``: FATE host
                                                                 file
taiwan          ``bank``: BILL_AMT1-6, PAY_AMT1-6                ``demographics``:
                                                                 LIMIT_BAL, SEX,
                                                                 EDUCATION, MARRIAGE,
                                                                 AGE;
                                                                 ``payment_history``:
                                                                 PAY_0, PAY_2-6
german          ``bank``: account, loan and credit-history       ``agency``: personal,
                columns                                          employment, housing
                                                                 and property columns
lending_club    ``bank``: loan terms, income, utilization        ``credit_bureau``:
                                                                 delinquencies,
                                                                 inquiries, installment
                                                                 accounts
credit_data     ``bank``: loan amount, term, price, income, debt ``registry``:
                                                                 seniority, home, age,
                                                                 marital, records, job,
                                                                 assets
=============== ================================================ ======================

Nothing leaves a party here: the split only decides which columns each party's local file
holds.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crypto.atomic import atomic_open
from crypto.errors import DataValidationError
from features.validation import load_party_table, read_table

ID = "id"
LABEL = "y"

FILES: dict[str, tuple[str, ...]] = {
    "default_credit": ("default_credit_hetero_guest.csv", "default_credit_hetero_host.csv"),
    "breast": ("breast_hetero_guest.csv", "breast_hetero_host.csv"),
    "taiwan": ("taiwan_default_credit_raw.csv",),
    "german": ("german_credit.csv",),
    "lending_club": ("lending_club_2016q1.csv",),
    "credit_data": ("credit_data.csv",),
}
NAMES = tuple(FILES)

TAIWAN_BANK = [f"BILL_AMT{i}" for i in range(1, 7)] + [f"PAY_AMT{i}" for i in range(1, 7)]
TAIWAN_HOSTS = {
    "demographics": ["LIMIT_BAL", "SEX", "EDUCATION", "MARRIAGE", "AGE"],
    "payment_history": ["PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"],
}
TAIWAN_LABEL = "default.payment.next.month"

# (raw label column, guest columns, {host: columns})
_RAW_SPLITS: dict[str, tuple[str, list[str], dict[str, list[str]]]] = {
    "german": (
        "creditability",
        [
            "status_of_existing_checking_account",
            "duration_in_month",
            "credit_history",
            "purpose",
            "credit_amount",
            "savings_account_and_bonds",
            "installment_rate_in_percentage_of_disposable_income",
            "number_of_existing_credits_at_this_bank",
            "other_installment_plans",
        ],
        {
            "agency": [
                "present_employment_since",
                "personal_status_and_sex",
                "other_debtors_or_guarantors",
                "present_residence_since",
                "property",
                "age_in_years",
                "housing",
                "job",
                "number_of_people_being_liable_to_provide_maintenance_for",
                "telephone",
                "foreign_worker",
            ]
        },
    ),
    "lending_club": (
        "Class",
        [
            "funded_amnt",
            "term",
            "int_rate",
            "sub_grade",
            "annual_inc",
            "emp_length",
            "verification_status",
            "revol_util",
            "all_util",
            "total_bal_il",
            "total_il_high_credit_limit",
            "addr_state",
        ],
        {
            "credit_bureau": [
                "delinq_2yrs",
                "inq_last_6mths",
                "acc_now_delinq",
                "open_il_6m",
                "open_il_12m",
                "open_il_24m",
                "inq_fi",
                "inq_last_12m",
                "delinq_amnt",
                "num_il_tl",
            ]
        },
    ),
    "credit_data": (
        "Status",
        ["Time", "Amount", "Price", "Income", "Expenses", "Debt"],
        {"registry": ["Seniority", "Home", "Age", "Marital", "Records", "Job", "Assets"]},
    ),
}
GOOD_BAD = {"good": 0, "bad": 1}


@dataclass(frozen=True)
class PartyTables:
    """One data set split into parties: the guest's table and each host's table."""

    name: str
    guest_name: str
    guest: pd.DataFrame
    hosts: dict[str, pd.DataFrame]
    id_column: str = ID
    label_column: str = LABEL

    @property
    def parties(self) -> dict[str, pd.DataFrame]:
        """Guest first, then the hosts."""
        return {self.guest_name: self.guest, **self.hosts}


def _path(data_dir: Path, file: str, name: str) -> Path:
    path = data_dir / file
    if not path.is_file():
        raise DataValidationError(
            f"{file}: not found in {data_dir} (needed for data set {name!r})",
            hint="Point --data-dir at the folder with the public data files (see its README).",
        )
    return path


def _fate(name: str, data_dir: Path) -> PartyTables:
    g_file, h_file = FILES[name]
    guest = load_party_table(
        _path(data_dir, g_file, name), id_column=ID, label=LABEL, id_kind="opaque"
    )
    host = load_party_table(_path(data_dir, h_file, name), id_column=ID, id_kind="opaque")
    return PartyTables(name, "guest", guest, {"host": host})


def _taiwan(data_dir: Path) -> PartyTables:
    raw = load_party_table(
        _path(data_dir, FILES["taiwan"][0], "taiwan"),
        id_column="ID",
        label=TAIWAN_LABEL,
        id_kind="opaque",
    )
    ids = raw["ID"].astype(str)
    guest = pd.concat([ids.rename(ID), raw[TAIWAN_LABEL].rename(LABEL), raw[TAIWAN_BANK]], axis=1)
    hosts = {h: pd.concat([ids.rename(ID), raw[cols]], axis=1) for h, cols in TAIWAN_HOSTS.items()}
    return PartyTables("taiwan", "bank", guest, hosts)


def _raw_split(name: str, data_dir: Path) -> PartyTables:
    label_col, guest_cols, host_cols = _RAW_SPLITS[name]
    path = _path(data_dir, FILES[name][0], name)
    raw = read_table(path)
    missing = [
        c for c in [label_col, *guest_cols, *sum(host_cols.values(), [])] if c not in raw.columns
    ]
    if missing:
        raise DataValidationError(f"{path.name}: expected column(s) {missing} not found")
    labels = raw[label_col].map(GOOD_BAD)
    if labels.isna().any():
        rows = np.flatnonzero(labels.isna().to_numpy())
        raise DataValidationError(
            f"{path.name}: label column {label_col!r}: {rows.shape[0]} "
            f"values other than good/bad (line {rows[0] + 2})"
        )
    ids = pd.Series(np.arange(1, len(raw) + 1).astype(str), name=ID)
    guest = pd.concat([ids, labels.astype(np.int8).rename(LABEL), raw[guest_cols]], axis=1)
    hosts = {h: pd.concat([ids, raw[cols]], axis=1) for h, cols in host_cols.items()}
    return PartyTables(name, "bank", guest, hosts)


def load_public(name: str, data_dir: str | Path) -> PartyTables:
    """Load public data set ``name`` from ``data_dir`` as parties (see the module table)."""
    data_dir = Path(data_dir)
    if name not in FILES:
        raise DataValidationError(
            f"unknown public data set {name!r}; choose one of {', '.join(NAMES)}",
            hint="Name one of the listed data sets.",
        )
    if name in ("default_credit", "breast"):
        return _fate(name, data_dir)
    if name == "taiwan":
        return _taiwan(data_dir)
    return _raw_split(name, data_dir)


def write_parties(out_dir: str | Path, parties: PartyTables) -> dict[str, Path]:
    """Write ``<party>.csv`` for the guest and each host; returns the paths.

    All files are written atomically (``crypto.atomic``) and replace their targets only
    when every one of them was written; they are readable by others (0644), as data files
    are.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {party: out / f"{party}.csv" for party in parties.parties}
    with contextlib.ExitStack() as stack:
        for party, df in parties.parties.items():
            fh = stack.enter_context(atomic_open(paths[party], "text", mode=0o644))
            df.to_csv(fh, index=False, lineterminator="\n")
    return paths


__all__ = ["FILES", "ID", "LABEL", "NAMES", "PartyTables", "load_public", "write_parties"]
