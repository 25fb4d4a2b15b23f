"""The hidden population behind the synthetic parties: enterprises and latent credit.

:func:`draw_population` draws the enterprises (USCC, size, age, industry, region) and the
latent financial health, operating activity and risk resilience that drive the default
label (the model is in the package docstring of ``features.synth``). The
:class:`Population` is the generator's hidden truth: it is never written to any party's
file, so nothing here is revealed to anyone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.metrics import sigmoid
from features.synth.schema import B0, INDUSTRIES
from features.uscc import REGIONS, generate_usccs, region_of


@dataclass(frozen=True)
class Population:
    """The hidden truth behind the parties' tables (never written to any party file)."""

    uscc: np.ndarray
    size: np.ndarray
    age_years: np.ndarray
    industry: np.ndarray
    region: np.ndarray
    financial: np.ndarray
    operating: np.ndarray
    resilience: np.ndarray
    default_prob: np.ndarray
    default: np.ndarray


def draw_population(n: int, seed: int) -> Population:
    """Draw ``n`` enterprises and their latent creditworthiness (deterministic in ``seed``)."""
    rng = np.random.default_rng([seed, 0])
    uscc = generate_usccs(n, rng)
    region = pd.Series(region_of(uscc)).map(REGIONS).to_numpy(dtype=object)
    codes = np.array(list(INDUSTRIES))
    shares = np.array([v[2] for v in INDUSTRIES.values()])
    industry = codes[rng.choice(len(codes), size=n, p=shares / shares.sum())]
    size = rng.standard_normal(n)
    age_years = np.clip(rng.lognormal(np.log(6.0), 0.8, n), 0.1, 45.0)
    common = rng.standard_normal(n)
    k = np.sqrt(0.75)
    financial = 0.5 * common + k * rng.standard_normal(n)
    operating = 0.5 * common + k * rng.standard_normal(n)
    resilience = 0.5 * common + k * rng.standard_normal(n)
    risk_shift = pd.Series(industry).map({c: v[3] for c, v in INDUSTRIES.items()}).to_numpy(float)
    logit = (
        B0
        - 0.9 * financial
        - 1.0 * operating
        - 1.2 * resilience
        + risk_shift
        - 0.3 * np.log(age_years / 5.0)
    )
    p = sigmoid(logit)
    default = (rng.random(n) < p).astype(np.int8)
    return Population(
        uscc, size, age_years, industry, region, financial, operating, resilience, p, default
    )


def days_before(as_of: np.datetime64, days: np.ndarray) -> np.ndarray:
    return (as_of - np.round(days).astype("timedelta64[D]")).astype(str)


def money(x: np.ndarray) -> np.ndarray:
    return np.round(x, 2)


__all__ = ["Population", "days_before", "draw_population", "money"]
