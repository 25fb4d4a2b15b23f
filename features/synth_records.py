"""Synthetic raw records per party, from the same enterprises as ``features.synth``.

``features.synth`` writes enterprise-level tables; this module writes what those tables
summarize: the raw records each owner keeps (schemas in ``features.indicators``), drawn
from the same population (``synth.draw_population``: size, age, industry and the latent
financial health F, operating activity O and risk resilience R) with the same directions
of effect, so indicators computed from them (``features.indicators.compute_party``) carry
the latent model the way the enterprise-level tables do.

Monthly records run for :data:`HISTORY_MONTHS` months up to ``synth.AS_OF`` (none before an
enterprise's establishment) and :data:`FUTURE_MONTHS` months past it: real record stores
keep growing after an observation date, and indicators as of ``AS_OF`` must ignore them.
Events (court cases, penalties, abnormal-operation listings) are spread over the same span.
The tables added for the indicator library (bank transactions, financial statements,
housing fund, intellectual property, complaints) come from ``features.synth_records_more``.

Nothing leaves any party: this writes local files, one per record table and owner.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from crypto.atomic import atomic_open
from crypto.errors import ConfigError
from features import synth
from features import synth_records_grid as G
from features import synth_records_more as MORE
from features.indicators import DATE_COLUMN, compute_party, tables_of
from features.metrics import sigmoid
from features.synth.parties import DATA_FILE_MODE
from features.synth.tables import POWER_INTENSITY
from features.synth_records_grid import FUTURE_MONTHS, HISTORY_MONTHS

MAIN_TABLES = ("bank", *synth.AGENCIES)
#: every owner of raw records (``features.indicators.OWNERS``)
PARTIES = (*MAIN_TABLES, "housing_fund")


def _bank(pop: synth.Population, rng: np.random.Generator) -> pd.DataFrame:
    idx = G.members(pop, "bank", rng)
    df, e, t = G.monthly_frame(pop, idx)
    k = e.size
    s, f, o = pop.size[e], pop.financial[e], pop.operating[e]
    level = np.exp(11.0 + s + 0.25 * f + 0.1 * o)
    noise = np.exp(rng.normal(0, 0.25 + 0.15 * np.exp(-0.5 * f), k))
    inflow = level * noise * (1 + (0.02 + 0.1 * o) / 12) ** t
    active = rng.random(k) < sigmoid(2.5 + 0.8 * o)
    inflow = np.where(active, inflow, 0.0)
    df["inflow"] = np.round(inflow, 2)
    df["outflow"] = np.round(inflow * np.exp(0.02 - 0.08 * f + rng.normal(0, 0.08, k)), 2)
    df["balance"] = np.round(level * np.exp(-0.6 + 0.35 * f + rng.normal(0, 0.5, k)), 2)
    df["txn_count"] = np.where(active, 1 + rng.poisson(np.exp(2.0 + 0.5 * s + 0.3 * o)), 0)
    return df


def _tax(pop: synth.Population, rng: np.random.Generator) -> pd.DataFrame:
    df, e, t = G.monthly_frame(pop, G.members(pop, "tax", rng))
    k = e.size
    s, f, o, r = pop.size[e], pop.financial[e], pop.operating[e], pop.resilience[e]
    trend = (1 + (0.05 + 0.15 * o + 0.05 * f) / 12) ** t
    count = rng.poisson(np.exp(3.0 + 0.8 * s + 0.5 * o) / 12 * trend)
    amount = np.exp(12.5 + s + 0.5 * o + 0.1 * f - np.log(12) + rng.normal(0, 0.3, k)) * trend
    df["tax_paid"] = np.round(
        np.exp(10.5 + s + 0.35 * f + 0.3 * o - np.log(12) + rng.normal(0, 0.4, k)), 2
    )
    df["invoice_count"] = count
    df["invoice_amount"] = np.where(count > 0, np.round(amount, 2), 0.0)
    df["filed_late"] = (rng.random(k) < sigmoid(-3.2 - 0.6 * f - 0.4 * r)).astype(np.int8)
    owes = rng.random(k) < sigmoid(-3.4 - 0.8 * f - 0.4 * r)
    df["arrears"] = np.where(owes, np.round(np.exp(9.0 + s + rng.normal(0, 0.8, k)), 2), 0.0)
    return df


def _social(pop: synth.Population, rng: np.random.Generator) -> pd.DataFrame:
    df, e, t = G.monthly_frame(pop, G.members(pop, "social_insurance", rng))
    k = e.size
    s, f, o, r = pop.size[e], pop.financial[e], pop.operating[e], pop.resilience[e]
    base = np.exp(2.2 + 0.9 * s + 0.1 * o)
    employees = np.maximum(
        1,
        np.round(
            base * (1 + (0.02 + 0.10 * o) / 6) ** (t - t.max()) * np.exp(rng.normal(0, 0.03, k))
        ),
    ).astype(int)
    due = employees * 1100.0
    paid_full = rng.random(k) < sigmoid(2.8 + 0.6 * f + 0.6 * r)
    df["insured_employees"] = employees
    df["due"] = due
    df["paid"] = np.where(paid_full, due, np.round(due * rng.uniform(0, 0.9, k), 2))
    return df


def _utilities(pop: synth.Population, rng: np.random.Generator) -> pd.DataFrame:
    df, e, t = G.monthly_frame(pop, G.members(pop, "utilities", rng))
    k = e.size
    s, f, o, r = pop.size[e], pop.financial[e], pop.operating[e], pop.resilience[e]
    intensity = pd.Series(pop.industry[e]).map(POWER_INTENSITY).to_numpy(float)
    trend = (1 + (0.03 + 0.15 * o) / 12) ** t
    kwh = np.round(
        np.exp(9.5 + 0.9 * s + 0.4 * o + intensity - np.log(12) + rng.normal(0, 0.2, k)) * trend, 1
    )
    water = np.round(np.exp(6.0 + 0.8 * s + 0.3 * o - np.log(12) + rng.normal(0, 0.3, k)), 1)
    period = pd.to_datetime(df["period"])
    due = period + pd.Timedelta(days=20)
    late = rng.random(k) < sigmoid(-3.0 - 0.6 * f - 0.4 * r)
    unpaid = late & (rng.random(k) < 0.2)
    delay = np.where(late, rng.integers(1, 61, k), -rng.integers(0, 16, k))
    paid = due + pd.to_timedelta(delay, unit="D")
    df["electricity_kwh"] = kwh
    df["water_tons"] = water
    df["amount"] = np.round(kwh * 0.8 + water * 4.0, 2)
    df["due_on"] = due.dt.strftime("%Y-%m-%d")
    df["paid_on"] = paid.dt.strftime("%Y-%m-%d").where(~unpaid, "")
    return df


def _courts(pop: synth.Population, rng: np.random.Generator) -> pd.DataFrame:
    idx = G.members(pop, "courts", rng)
    s, f, r = pop.size[idx], pop.financial[idx], pop.resilience[idx]
    e1, d1 = G.events(pop, idx, np.exp(-1.0 + 0.3 * s - 0.7 * r), rng)
    e2, d2 = G.events(pop, idx, np.exp(-2.0 - 0.9 * r - 0.4 * f), rng)
    amount = np.round(np.exp(11.0 + 0.5 * pop.size[e2] + rng.normal(0, 1.0, e2.size)), 2)
    parts = [
        pd.DataFrame(
            {
                "uscc": pop.uscc[idx],
                "date": G.established(pop, idx),
                "case_type": "registered",
                "amount": 0.0,
            }
        ),
        pd.DataFrame(
            {"uscc": pop.uscc[e1], "date": d1, "case_type": "civil_defendant", "amount": 0.0}
        ),
        pd.DataFrame(
            {"uscc": pop.uscc[e2], "date": d2, "case_type": "enforcement", "amount": amount}
        ),
    ]
    return pd.concat(parts, ignore_index=True)


def _market(pop: synth.Population, rng: np.random.Generator) -> pd.DataFrame:
    idx = G.members(pop, "market_regulation", rng)
    s, o, r = pop.size[idx], pop.operating[idx], pop.resilience[idx]
    ep, dp = G.events(pop, idx, np.exp(-2.0 + 0.2 * s - 0.6 * r) * 24 / 36, rng)
    listed = rng.random(idx.size) < sigmoid(-3.2 - 0.9 * r - 0.6 * o)
    el, dl = G.events(
        pop,
        idx[listed],
        np.full(int(listed.sum()), 24.0 / (G.HISTORY_MONTHS + G.FUTURE_MONTHS)),
        rng,
    )
    removed = rng.random(el.size) < 0.4
    rem_dates = (
        pd.to_datetime(dl[removed])
        + pd.to_timedelta(rng.integers(30, 400, int(removed.sum())), unit="D")
    ).strftime("%Y-%m-%d")
    parts = [
        pd.DataFrame(
            {
                "uscc": pop.uscc[idx],
                "date": G.established(pop, idx),
                "event": "established",
                "amount": 0.0,
            }
        ),
        pd.DataFrame(
            {
                "uscc": pop.uscc[ep],
                "date": dp,
                "event": "penalty",
                "amount": np.round(np.exp(8.0 + rng.normal(0, 1.0, ep.size)), 2),
            }
        ),
        pd.DataFrame({"uscc": pop.uscc[el], "date": dl, "event": "abnormal_listed", "amount": 0.0}),
        pd.DataFrame(
            {
                "uscc": pop.uscc[el[removed]],
                "date": np.asarray(rem_dates),
                "event": "abnormal_removed",
                "amount": 0.0,
            }
        ),
    ]
    return pd.concat(parts, ignore_index=True)


_BUILDERS = {
    "bank": _bank,
    "tax": _tax,
    "social_insurance": _social,
    "utilities": _utilities,
    "courts": _courts,
    "market_regulation": _market,
}


def generate_records(n_enterprises: int, seed: int) -> dict[str, pd.DataFrame]:
    """Raw records of every table (keys: :data:`TABLES`, the owners' main tables first),
    deterministic in ``seed``; the enterprises are ``synth.draw_population(n_enterprises,
    seed)``'s. The main tables keep their random streams; each added table has its own."""
    if n_enterprises < 1:
        raise ConfigError(f"--enterprises must be at least 1, got {n_enterprises}")
    pop = synth.draw_population(n_enterprises, seed)
    out: dict[str, pd.DataFrame] = {}
    for j, party in enumerate(MAIN_TABLES):
        out[party] = _sorted(party, _BUILDERS[party](pop, np.random.default_rng([seed, 10, j])))
    for j, table in enumerate(MORE.BUILDERS):
        df = MORE.BUILDERS[table](pop, out, np.random.default_rng([seed, 11, j]))
        out[table] = _sorted(table, df)
    return out


def _sorted(table: str, df: pd.DataFrame) -> pd.DataFrame:
    date_col = DATE_COLUMN[table]
    return df.sort_values(["uscc", date_col], kind="stable").reset_index(drop=True)


def label_table(n_enterprises: int, seed: int) -> pd.DataFrame:
    """The bank's label (``default_12m`` after ``AS_OF``) for its customers in the records."""
    pop = synth.draw_population(n_enterprises, seed)
    return pd.DataFrame({"uscc": pop.uscc, synth.LABEL: pop.default})


def write_records(
    out_dir: str | Path, n: int, seed: int, *, as_of: str | None = None
) -> dict[str, Path]:
    """Write ``records_<table>.csv`` for every record table and, as of ``as_of`` (default
    ``synth.AS_OF``), every owner's indicator table ``indicators_<owner>.csv`` (the bank's
    with the label). Each file is written atomically (``crypto.atomic``), readable by
    others (0644)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    as_of = as_of or str(synth.AS_OF)
    recs = generate_records(n, seed)
    labels = label_table(n, seed)
    tables: dict[str, pd.DataFrame] = {f"records_{t}": df for t, df in recs.items()}
    for owner in PARTIES:
        ind = compute_party(owner, {t: recs[t] for t in tables_of(owner)}, as_of)
        if owner == "bank":
            ind = ind.merge(labels, on="uscc", how="left")
        tables[f"indicators_{owner}"] = ind
    paths = {}
    for name, df in tables.items():
        paths[name] = out / f"{name}.csv"
        with atomic_open(paths[name], "text", mode=DATA_FILE_MODE) as fh:
            df.to_csv(fh, index=False, lineterminator="\n")
    return paths


__all__ = [
    "FUTURE_MONTHS",
    "HISTORY_MONTHS",
    "MAIN_TABLES",
    "PARTIES",
    "generate_records",
    "label_table",
    "write_records",
]
