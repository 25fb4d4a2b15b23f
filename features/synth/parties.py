"""All parties' synthetic tables for one seed, and writing them one file per party.

:func:`generate` draws the population and builds the bank(s)', agencies' and
authorization tables (optionally dirty); :func:`write` saves each table as its party's
local CSV. Nothing leaves any party here: this module only writes local files, one per
party.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from crypto.atomic import atomic_open
from crypto.errors import ConfigError
from features.synth.dirt import dirty_table
from features.synth.population import draw_population
from features.synth.schema import AGENCIES, COVERAGE, ID
from features.synth.tables import AGENCY_BUILDERS, authorizations, bank_customers, bank_table

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
DATA_FILE_MODE = 0o644
"""Mode of the written party CSVs: data files for their users, not secrets."""


def generate(
    n_enterprises: int,
    seed: int,
    *,
    dirty: bool = False,
    banks: Iterable[str] = ("bank",),
) -> dict[str, pd.DataFrame]:
    """All parties' tables for ``n_enterprises`` enterprises (deterministic in ``seed``).

    Keys: each bank's name (guest tables with the label ``default_12m``), the agencies in
    :data:`AGENCIES`, and ``authorizations`` (all banks in one table, column ``bank``).
    """
    banks = tuple(banks)
    if n_enterprises < 1:
        raise ConfigError(f"--enterprises must be at least 1, got {n_enterprises}")
    if not banks:
        raise ConfigError("at least one bank is needed")
    for b in banks:
        if not _NAME.match(b) or b in AGENCIES or b == "authorizations":
            raise ConfigError(
                f"bank name {b!r} must be lower snake_case and differ from the "
                f"agency names {AGENCIES} and 'authorizations'"
            )
    if len(set(banks)) != len(banks):
        raise ConfigError(f"bank names must be unique: {banks}")
    pop = draw_population(n_enterprises, seed)
    tables: dict[str, pd.DataFrame] = {}
    auths = []
    for i, bank in enumerate(banks):
        rng = np.random.default_rng([seed, 1, i])
        customers = bank_customers(pop, i, len(banks), rng)
        tables[bank] = bank_table(pop, customers, rng)
        auths.append(authorizations(pop, bank, customers, rng))
    for j, name in enumerate(AGENCIES):
        rng = np.random.default_rng([seed, 2, j])
        covered = np.flatnonzero(rng.random(n_enterprises) < COVERAGE[name])
        tables[name] = AGENCY_BUILDERS[name](pop, covered, rng)
    tables["authorizations"] = pd.concat(auths, ignore_index=True)
    for name, df in tables.items():
        tables[name] = df.sort_values(
            [ID] + (["bank"] if name == "authorizations" else []), kind="stable"
        ).reset_index(drop=True)
    if dirty:
        for j, name in enumerate([*banks, *AGENCIES]):
            tables[name] = dirty_table(tables[name], name, np.random.default_rng([seed, 3, j]))
    return tables


def write(out_dir: str | Path, tables: Mapping[str, pd.DataFrame]) -> dict[str, Path]:
    """Write each table to ``out_dir/<name>.csv`` (UTF-8, ``\\n``); returns the paths.

    Each file is written atomically (``crypto.atomic``), so a failure leaves no
    half-written party file; files are readable by others (0644), as data files are.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, df in tables.items():
        path = out / f"{name}.csv"
        with atomic_open(path, "text", mode=DATA_FILE_MODE) as fh:
            df.to_csv(fh, index=False, lineterminator="\n")
        paths[name] = path
    return paths


__all__ = ["DATA_FILE_MODE", "generate", "write"]
