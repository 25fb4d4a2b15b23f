"""Synthetic multi-party enterprise credit data, keyed by USCC.

One call draws a population of enterprises with a latent creditworthiness and writes what
each party would hold about them: the bank (guest: account flows, loans, credit lines and
the label ``default_12m``), five agencies (hosts: tax, social insurance, courts, utilities,
market regulation) and the enterprise-authorization table.

Latent model (documented in docs/data_dictionary.md)::

    c ~ N(0, 1)                               common factor
    F = 0.5 c + sqrt(0.75) e_F                financial health   (财务健康度)
    O = 0.5 c + sqrt(0.75) e_O                operating activity (运营活跃度)
    R = 0.5 c + sqrt(0.75) e_R                risk resilience    (风险抗逆力)
    s ~ N(0, 1)                               enterprise size (log scale)
    logit P(default_12m) = b0 - 0.9 F - 1.0 O - 1.2 R + industry_risk - 0.3 log(age / 5)

The bank's columns carry mostly F (noisily) and a little R; O and most of R are visible
only at the agencies, so a joint model beats a bank-only model by a clear margin.

Each party's row set differs: agencies cover 75-96 % of enterprises, each bank holds only
its customers. Same seed -> byte-identical files (one numpy Generator per concern, fixed
rounding, sorted rows, ``\\n`` line ends).

``dirty=True`` adds, deterministically and on top of the clean data: missing cells, a unit
mix-up (skew), outliers, duplicate rows and malformed IDs (see :data:`DIRT`).

Nothing leaves any party here: this package only writes local files, one per party.

Modules: :mod:`.schema` (constants and documented columns), :mod:`.population` (the
hidden population and latent model), :mod:`.tables` (each party's table), :mod:`.dirt`
(``dirty=True``), :mod:`.parties` (:func:`generate` and :func:`write`).
"""

from __future__ import annotations

from features.synth.dirt import DIRT, dirty_table
from features.synth.parties import generate, write
from features.synth.population import Population, draw_population
from features.synth.schema import (
    AGENCIES,
    AS_OF,
    AUTHORIZATION_COLUMNS,
    B0,
    BANK_COLUMNS,
    COVERAGE,
    ID,
    INDUSTRIES,
    LABEL,
    PARTY_COLUMNS,
    Column,
    ColumnKind,
    party_columns,
)

__all__ = [
    "AGENCIES",
    "AS_OF",
    "AUTHORIZATION_COLUMNS",
    "B0",
    "BANK_COLUMNS",
    "COVERAGE",
    "Column",
    "ColumnKind",
    "DIRT",
    "ID",
    "INDUSTRIES",
    "LABEL",
    "PARTY_COLUMNS",
    "Population",
    "dirty_table",
    "draw_population",
    "generate",
    "party_columns",
    "write",
]
