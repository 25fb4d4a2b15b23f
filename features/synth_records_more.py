"""Synthetic raw records of the tables added to the indicator library: the bank's
transactions with counterparties, the tax bureau's annual financial statements, the housing
fund's monthly contributions, and market regulation's intellectual-property registrations
and complaints.

Drawn from the same population as the other record tables (``features.synth``'s latent
financial health F, operating activity O and risk resilience R) with the same directions
of effect; the bank's transactions split its monthly account flows, so both tables tell
one story. Each builder has its own random stream, so the older tables stay as they were.
Nothing leaves any party: these are local synthetic records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import synth
from features import synth_records_grid as G
from features.metrics import sigmoid

Tables = dict[str, pd.DataFrame]


def _codes(tag: str, ent: np.ndarray, cid: np.ndarray | None = None) -> np.ndarray:
    s = tag + pd.Series(ent).astype(str)
    if cid is not None:
        s = s + "-" + pd.Series(cid).astype(str)
    return s.to_numpy()


def _day_in_month(period: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    end = pd.to_datetime(pd.Series(period))
    back = rng.integers(0, end.dt.day.to_numpy())
    return np.asarray((end - pd.to_timedelta(back, unit="D")).dt.strftime("%Y-%m-%d"))


def _split(rows: np.ndarray, total: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Split ``total[row]`` over the entries of each row with random (exponential) weights."""
    w = rng.exponential(1.0, rows.size)
    sums = np.bincount(rows, weights=w, minlength=total.size)
    return np.round(total[rows] * w / sums[rows], 2)


@dataclass(frozen=True)
class _Pool:
    """Counterparties: a skewed pick (``skew`` > 1: a few large ones) from ``size`` codes
    that drift by ``drift`` codes a month (old ones fade out, new ones come in)."""

    size: np.ndarray
    skew: np.ndarray
    drift: np.ndarray

    def draw(self, rows: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pick = np.floor(self.size[rows] * rng.random(rows.size) ** self.skew[rows])
        return (pick + np.floor(t[rows] * self.drift[rows])).astype(np.int64)


def bank_txns(pop: synth.Population, base: Tables, rng: np.random.Generator) -> pd.DataFrame:
    """Sales receipts, supplier payments, payroll and loan repayments that add up to the
    bank's monthly flows (columns: uscc, date, direction, counterparty, category, amount)."""
    flows = base["bank"]
    months = pd.Series(np.arange(G.HISTORY_MONTHS + G.FUTURE_MONTHS), index=G.month_ends())
    e = G.index_of(pop, flows["uscc"])
    t = months.reindex(pd.to_datetime(flows["period"])).to_numpy()
    s, f, o, r = pop.size[e], pop.financial[e], pop.operating[e], pop.resilience[e]
    inflow, outflow = flows["inflow"].to_numpy(float), flows["outflow"].to_numpy(float)
    active = inflow > 0
    has_loan = active & (rng.random(pop.uscc.shape[0]) < sigmoid(-0.2 + 0.5 * pop.size))[e]
    loan_share = 0.04 + 0.18 * sigmoid(-1.0 - 1.0 * f)
    customers = _Pool(
        2 + np.round(np.exp(1.0 + 0.4 * s + 0.3 * o)),
        1.2 + 0.8 * sigmoid(-r),
        0.05 + 0.15 * sigmoid(-o),
    )
    suppliers = _Pool(
        1 + np.round(np.exp(0.6 + 0.4 * s)), np.full(e.size, 1.5), np.full(e.size, 0.02)
    )
    n_in = np.where(active, 1 + rng.poisson(np.exp(0.4 + 0.3 * s + 0.2 * o)), 0)
    n_sup = np.where(active, 1 + rng.poisson(np.exp(0.1 + 0.3 * s)), 0)
    sales = np.repeat(np.arange(e.size), n_in)
    buys = np.repeat(np.arange(e.size), n_sup)
    pay, loan = np.flatnonzero(active), np.flatnonzero(has_loan)
    parts = [
        (
            "in",
            "sales",
            sales,
            _split(sales, inflow, rng),
            _codes("C", e[sales], customers.draw(sales, t, rng)),
        ),
        (
            "out",
            "supplier",
            buys,
            _split(buys, outflow * (0.65 - np.where(has_loan, loan_share, 0.0)), rng),
            _codes("S", e[buys], suppliers.draw(buys, t, rng)),
        ),
        ("out", "payroll", pay, np.round(outflow[pay] * 0.35, 2), _codes("PAYROLL-", e[pay])),
        (
            "out",
            "loan_repayment",
            loan,
            np.round(outflow[loan] * loan_share[loan], 2),
            _codes("LOAN-", e[loan]),
        ),
    ]
    uscc, period = flows["uscc"].to_numpy(), flows["period"].to_numpy()
    frames = [
        pd.DataFrame(
            {
                "uscc": uscc[rows],
                "date": _day_in_month(period[rows], rng),
                "direction": direction,
                "counterparty": code,
                "category": category,
                "amount": amount,
            }
        )
        for direction, category, rows, amount, code in parts
    ]
    return pd.concat(frames, ignore_index=True)


def tax_statements(pop: synth.Population, base: Tables, rng: np.random.Generator) -> pd.DataFrame:
    """Annual statements of the tax bureau's enterprises, each filed between January and
    May after its fiscal year (late filers up to August), none filed after the record span."""
    idx = np.unique(G.index_of(pop, base["tax"]["uscc"]))
    years = np.arange(2019, 2025)
    ent, y = np.repeat(idx, years.size), np.tile(years, idx.size)
    year_end = pd.to_datetime(pd.Series(y.astype(str))) + pd.offsets.YearEnd(0)
    keep = year_end.to_numpy() >= np.asarray(G.born_on(pop, ent))
    ent, y, year_end = ent[keep], y[keep], year_end[keep].reset_index(drop=True)
    k = ent.size
    s, f, o, r = pop.size[ent], pop.financial[ent], pop.operating[ent], pop.resilience[ent]
    late = rng.random(k) < sigmoid(-2.5 - 0.6 * r)
    delay = np.where(late, rng.integers(151, 240, k), rng.integers(1, 151, k))
    filed = year_end + pd.to_timedelta(delay, unit="D")
    revenue = np.exp(13.5 + s + 0.5 * o + rng.normal(0, 0.2, k)) * (1 + 0.05 + 0.1 * o) ** (
        y - 2019
    )
    gross = sigmoid(-1.0 + 0.5 * f + rng.normal(0, 0.3, k))
    cost = revenue * (1 - gross)
    assets = revenue * np.exp(rng.normal(0, 0.3, k))
    liabilities = assets * sigmoid(0.2 - 0.8 * f + rng.normal(0, 0.3, k))
    df = pd.DataFrame(
        {
            "uscc": pop.uscc[ent],
            "fiscal_year_end": year_end.dt.strftime("%Y-%m-%d").to_numpy(),
            "filed_on": filed.dt.strftime("%Y-%m-%d").to_numpy(),
            "revenue": np.round(revenue, 2),
            "cost_of_sales": np.round(cost, 2),
            "net_profit": np.round(revenue * (0.03 + 0.06 * f + rng.normal(0, 0.05, k)), 2),
            "total_assets": np.round(assets, 2),
            "total_liabilities": np.round(liabilities, 2),
            "current_assets": np.round(assets * rng.uniform(0.4, 0.8, k), 2),
            "current_liabilities": np.round(liabilities * rng.uniform(0.5, 0.9, k), 2),
            "inventory": np.round(cost * np.exp(4.0 - 0.2 * o + rng.normal(0, 0.3, k)) / 365, 2),
            "receivables": np.round(
                revenue * np.exp(4.2 - 0.2 * f + rng.normal(0, 0.3, k)) / 365, 2
            ),
            "payables": np.round(cost * np.exp(3.8 + rng.normal(0, 0.3, k)) / 365, 2),
        }
    )
    return df.loc[filed.to_numpy() <= G.month_ends()[-1]].reset_index(drop=True)


def housing_fund(pop: synth.Population, base: Tables, rng: np.random.Generator) -> pd.DataFrame:
    """Monthly housing-fund contributions (columns: uscc, period, contributors, due, paid)."""
    n = pop.uscc.shape[0]
    idx = np.flatnonzero(rng.random(n) < sigmoid(-0.3 + 0.8 * pop.size))
    df, e, t = G.monthly_frame(pop, idx)
    k = e.size
    s, f, o, r = pop.size[e], pop.financial[e], pop.operating[e], pop.resilience[e]
    trend = (1 + (0.02 + 0.10 * o) / 6) ** (t - t.max())
    heads = np.maximum(
        1, np.round(np.exp(1.8 + 0.9 * s + 0.1 * o) * trend * np.exp(rng.normal(0, 0.03, k)))
    )
    due = np.round(heads * 600.0 * np.exp(0.15 * f), 2)
    paid_full = rng.random(k) < sigmoid(3.0 + 0.6 * f + 0.6 * r)
    df["contributors"] = heads.astype(int)
    df["due"] = due
    df["paid"] = np.where(paid_full, due, np.round(due * rng.uniform(0, 0.9, k), 2))
    return df


_IP_KINDS = ("trademark", "invention_patent", "utility_patent", "design_patent")
_IP_YEARS = np.array([10, 20, 10, 15])


def ip_registrations(pop: synth.Population, base: Tables, rng: np.random.Generator) -> pd.DataFrame:
    """Trademarks and patents granted (columns: uscc, date, kind, valid_until); some patents
    lapse early (fees not paid), which ``valid_until`` records at grant time."""
    idx = np.unique(G.index_of(pop, base["market_regulation"]["uscc"]))
    ent, dates = G.events(
        pop, idx, np.exp(-1.2 + 0.5 * pop.size[idx] + 0.7 * pop.operating[idx]), rng
    )
    kind = rng.choice(len(_IP_KINDS), ent.size, p=[0.55, 0.1, 0.25, 0.1])
    years = np.where(
        (kind > 0) & (rng.random(ent.size) < 0.25), rng.integers(1, 6, ent.size), _IP_YEARS[kind]
    )
    until = pd.to_datetime(pd.Series(dates)) + pd.to_timedelta(np.round(years * 365.25), unit="D")
    return pd.DataFrame(
        {
            "uscc": pop.uscc[ent],
            "date": dates,
            "kind": np.asarray(_IP_KINDS)[kind],
            "valid_until": until.dt.strftime("%Y-%m-%d").to_numpy(),
        }
    )


def complaints(pop: synth.Population, base: Tables, rng: np.random.Generator) -> pd.DataFrame:
    """Complaints, reports and negative media coverage (columns: uscc, date, channel,
    severity 1-3, resolved_on; empty when never resolved, media coverage is never)."""
    idx = np.unique(G.index_of(pop, base["market_regulation"]["uscc"]))
    s, f, r = pop.size[idx], pop.financial[idx], pop.resilience[idx]
    ent, dates = G.events(pop, idx, np.exp(-1.2 + 0.4 * s - 0.8 * r - 0.3 * f), rng)
    channel = np.asarray(("complaint", "report", "media"))[
        rng.choice(3, ent.size, p=[0.6, 0.2, 0.2])
    ]
    severity = (
        1
        + (rng.random(ent.size) < sigmoid(-1.0 - 0.8 * pop.resilience[ent]))
        + (rng.random(ent.size) < 0.15)
    )
    done = pd.to_datetime(pd.Series(dates)) + pd.to_timedelta(
        rng.integers(5, 91, ent.size), unit="D"
    )
    never = (channel == "media") | (rng.random(ent.size) < 0.1)
    return pd.DataFrame(
        {
            "uscc": pop.uscc[ent],
            "date": dates,
            "channel": channel,
            "severity": severity.astype(int),
            "resolved_on": np.where(never, "", done.dt.strftime("%Y-%m-%d").to_numpy()),
        }
    )


#: table -> builder (reads the older tables in ``base``), in generation order
BUILDERS = {
    "bank_txns": bank_txns,
    "tax_statements": tax_statements,
    "housing_fund": housing_fund,
    "ip_registrations": ip_registrations,
    "complaints": complaints,
}

__all__ = ["BUILDERS"]
