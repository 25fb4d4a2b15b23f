"""The record span and the enterprise grids behind ``features.synth_records``.

Monthly records run for :data:`HISTORY_MONTHS` months up to ``synth.AS_OF`` and
:data:`FUTURE_MONTHS` months past it; events are spread over the same span. Nothing leaves
any party: these helpers only draw local synthetic records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import synth
from features.metrics import sigmoid

HISTORY_MONTHS = 48
FUTURE_MONTHS = 6
COVERAGE = synth.COVERAGE


def month_ends() -> pd.DatetimeIndex:
    as_of = pd.Timestamp(str(synth.AS_OF))
    end = as_of + pd.offsets.MonthEnd(FUTURE_MONTHS)
    return pd.date_range(end=end, periods=HISTORY_MONTHS + FUTURE_MONTHS, freq="ME")


def members(pop: synth.Population, party: str, rng: np.random.Generator) -> np.ndarray:
    n = pop.uscc.shape[0]
    if party == "bank":
        return np.flatnonzero(rng.random(n) < sigmoid(0.1 + 0.5 * pop.size))
    return np.flatnonzero(rng.random(n) < COVERAGE[party])


def monthly_frame(
    pop: synth.Population, idx: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Enterprise x month grid (only months after establishment); returns the frame with
    ``uscc``/``period``, the enterprise index per row and the month number t (0 = first)."""
    months = month_ends()
    as_of = pd.Timestamp(str(synth.AS_OF))
    born = as_of - pd.to_timedelta(np.round(pop.age_years[idx] * 365.25), unit="D")
    m = len(months)
    ent = np.repeat(idx, m)
    t = np.tile(np.arange(m), idx.size)
    alive = np.asarray(months)[t] >= np.repeat(np.asarray(born), m)
    ent, t = ent[alive], t[alive]
    df = pd.DataFrame({"uscc": pop.uscc[ent], "period": months[t].strftime("%Y-%m-%d")})
    return df, ent, t


def events(
    pop: synth.Population, idx: np.ndarray, rate: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson event counts per enterprise over the record span; (enterprise, date) pairs."""
    months = month_ends()
    start, end = months[0] - pd.offsets.MonthBegin(1), months[-1]
    span = HISTORY_MONTHS + FUTURE_MONTHS
    counts = rng.poisson(rate * span / 24.0)
    ent = np.repeat(idx, counts)
    days = rng.integers(0, (end - start).days + 1, ent.size)
    dates = start + pd.to_timedelta(days, unit="D")
    as_of = pd.Timestamp(str(synth.AS_OF))
    born = as_of - pd.to_timedelta(np.round(pop.age_years[ent] * 365.25), unit="D")
    keep = np.asarray(dates) >= np.asarray(born)
    return ent[keep], np.asarray(dates.strftime("%Y-%m-%d"))[keep]


def established(pop: synth.Population, idx: np.ndarray) -> np.ndarray:
    as_of = pd.Timestamp(str(synth.AS_OF))
    born = as_of - pd.to_timedelta(np.round(pop.age_years[idx] * 365.25), unit="D")
    return np.asarray(born.strftime("%Y-%m-%d"))


def born_on(pop: synth.Population, idx: np.ndarray) -> pd.DatetimeIndex:
    """Each enterprise's establishment date."""
    as_of = pd.Timestamp(str(synth.AS_OF))
    return pd.DatetimeIndex(
        as_of - pd.to_timedelta(np.round(pop.age_years[idx] * 365.25), unit="D")
    )


def index_of(pop: synth.Population, uscc: pd.Series) -> np.ndarray:
    """Population indices of the enterprises in ``uscc``."""
    pos = pd.Series(np.arange(pop.uscc.shape[0]), index=pop.uscc)
    return pos.reindex(uscc.to_numpy()).to_numpy()


__all__ = [
    "COVERAGE",
    "FUTURE_MONTHS",
    "HISTORY_MONTHS",
    "born_on",
    "established",
    "events",
    "index_of",
    "month_ends",
    "members",
    "monthly_frame",
]
