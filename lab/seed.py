"""Demo seeding: organizations, users, nodes, datasets, indicators, algorithms, samples,
standing consents and enterprise authorizations for a credit platform and its banks.

With ``data_dir`` holding the synthetic generator's files (``fedlab data synth``), the
registrations point at those files, carry their real row counts and label counts, and the
authorizations are imported from ``authorizations.csv``; without it, locations are
placeholders (enough for the catalog, not for a real run). Only metadata is stored.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from federation.algorithms import catalog_algorithms, catalog_entry
from lab.db import session_scope
from lab.models import (
    AlgorithmCreate,
    ConsentGrantCreate,
    DatasetCreate,
    FederationNodeCreate,
    IndicatorCreate,
    OrganizationCreate,
    OrgKind,
    Role,
    SampleSetCreate,
    UserCreate,
    utcnow,
)
from lab.services import catalog, consent

DEFAULT_BANKS = ("bank_a", "bank_b", "bank_c", "bank_d")
STANDING_CONSENTS = ("tax", "market_regulation")
PURPOSE = "credit_risk_model"
OBSERVATION_END = date(2024, 6, 30)  # the synthetic data's observation date
LABEL = "default_12m"

#: The 算法库 as the algorithm registry has it (``federation.algorithms``): one entry per
#: catalog algorithm, parameter schema generated from its parameter model.
ALGORITHMS: tuple[dict[str, Any], ...] = tuple(catalog_entry(n) for n in catalog_algorithms())


@dataclass
class SeedResult:
    banks: tuple[str, ...]
    agencies: tuple[str, ...]
    users: dict[str, str] = field(default_factory=dict)  # username -> role
    samples: dict[str, int] = field(default_factory=dict)  # bank -> sample id
    indicators: dict[str, list[str]] = field(default_factory=dict)  # org -> codes


def _kind_dtype(kind: str) -> str:
    return {
        "int": "int",
        "float": "float",
        "category": "category",
        "date": "date",
        "label": "int",
        "id": "str",
    }.get(kind, "str")


def _window(name: str) -> str:
    m = re.search(r"_(\d+)([my])(?:_|$)", name)
    return f"{m.group(1)}{m.group(2)}" if m else ""


def csv_counts(path: Path, label: str | None = None) -> tuple[int, int]:
    """Rows of a party CSV and, with ``label``, rows whose label is 1 (counts only)."""
    rows = positives = 0
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            rows += 1
            if label and row.get(label) == "1":
                positives += 1
    return rows, positives


def seed_demo(
    engine: Engine,
    *,
    banks: tuple[str, ...] = DEFAULT_BANKS,
    data_dir: str | Path | None = None,
    password: str | None = None,
    admin: str = "admin",
    standing_consents: tuple[str, ...] = STANDING_CONSENTS,
    n_placeholder_authorizations: int = 40,
    agencies: tuple[str, ...] | None = None,
    bank_indicators: bool = True,
) -> SeedResult:
    """Fill an empty catalog (one transaction); see the module docstring."""
    from features.synth import AGENCIES, BANK_COLUMNS, PARTY_COLUMNS

    data = Path(data_dir).resolve() if data_dir else None
    agencies = tuple(agencies or AGENCIES)
    result = SeedResult(banks=tuple(banks), agencies=agencies)
    with session_scope(engine) as s:
        catalog.bootstrap_admin(session=s, username=admin, password=password)
        root = catalog.authenticate(
            session=s, username=admin, password=None, password_required=False
        )
        result.users[admin] = Role.ADMIN.value

        def user(name: str, role: Role, org: str) -> None:
            catalog.create_user(
                session=s,
                actor=root,
                user_in=UserCreate(
                    username=name,
                    role=role,
                    org_code=org,
                    password=password,
                    full_name=name.replace("_", " ").title(),
                ),
            )
            result.users[name] = role.value

        user("staff", Role.PLATFORM_STAFF, "platform")
        catalog.register_node(
            session=s,
            actor=root,
            node_in=FederationNodeCreate(name="coordinator", org_code="platform"),
        )
        for algo in ALGORITHMS:
            catalog.create_algorithm(session=s, actor=root, algorithm_in=AlgorithmCreate(**algo))

        parties = [(b, OrgKind.BANK, BANK_COLUMNS) for b in banks]
        parties += [(a, OrgKind.AGENCY, PARTY_COLUMNS[a]) for a in agencies]
        for code, kind, columns in parties:
            catalog.create_organization(
                session=s,
                actor=root,
                org_in=OrganizationCreate(
                    code=code, kind=kind, name=code.replace("_", " ").title()
                ),
            )
            catalog.register_node(
                session=s, actor=root, node_in=FederationNodeCreate(name=code, org_code=code)
            )
            path = data / f"{code}.csv" if data else None
            label = LABEL if kind is OrgKind.BANK else None
            rows, positives = csv_counts(path, label) if path and path.is_file() else (0, 0)
            catalog.register_dataset(
                session=s,
                actor=root,
                dataset_in=DatasetCreate(
                    name=code,
                    org_code=code,
                    row_count=rows,
                    id_column="uscc",
                    location=str(path) if path else f"data/{code}.csv",
                    columns=[{"name": c.name, "dtype": _kind_dtype(c.kind)} for c in columns],
                    description=f"{code}'s table of enterprises (synthetic)",
                ),
            )
            codes = []
            for col in columns:
                if col.kind in ("id", "label", "date") or (
                    kind is OrgKind.BANK and not bank_indicators
                ):
                    continue
                ind_code = f"{code}_{col.name}" if kind is OrgKind.BANK else col.name
                catalog.create_indicator(
                    session=s,
                    actor=root,
                    indicator_in=IndicatorCreate(
                        code=ind_code,
                        name=col.name.replace("_", " "),
                        name_zh=col.zh,
                        description=col.meaning,
                        category=code if kind is OrgKind.AGENCY else "bank",
                        column=col.name,
                        dtype=_kind_dtype(col.kind),
                        window=_window(col.name),
                        org_code=code,
                        dataset_name=code,
                    ),
                )
                codes.append(ind_code)
            result.indicators[code] = codes
            if kind is OrgKind.BANK:
                user(f"{code}_modeler", Role.BANK_MODELER, code)
                user(f"{code}_ds", Role.DATA_SCIENTIST, code)
                modeler = catalog.authenticate(
                    session=s,
                    username=f"{code}_modeler",
                    password=password,
                    password_required=False,
                )
                sample = catalog.create_sample(
                    session=s,
                    actor=modeler,
                    sample_in=SampleSetCreate(
                        name=f"{code} customers, default within 12 months",
                        dataset_name=code,
                        id_list_location=str(path) if path else f"data/{code}.csv",
                        label_column=LABEL,
                        label_definition="90+ days past due within 12 months "
                        "after the observation date",
                        observation_start=date(2023, 7, 1),
                        observation_end=OBSERVATION_END,
                        n_total=rows,
                        n_positive=positives,
                    ),
                )
                result.samples[code] = sample.id
                _seed_authorizations(s, root, code, data, n_placeholder_authorizations)
            else:
                user(f"{code}_officer", Role.AGENCY_OFFICER, code)

        for agency in [a for a in standing_consents if a in agencies]:
            officer = catalog.authenticate(
                session=s, username=f"{agency}_officer", password=password, password_required=False
            )
            for bank in banks:
                consent.grant_consent(
                    session=s,
                    actor=officer,
                    consent_in=ConsentGrantCreate(
                        bank_code=bank,
                        indicator_codes=result.indicators[agency],
                        purpose=PURPOSE,
                        expires_at=utcnow() + timedelta(days=365),
                    ),
                )
    return result


def _seed_authorizations(s: Any, root: Any, bank: str, data: Path | None, n: int) -> None:
    path = data / "authorizations.csv" if data else None
    if path is not None and path.is_file():
        rows = consent.read_authorization_csv(path, bank=bank)
    else:
        import numpy as np

        from features.uscc import generate_usccs

        codes = generate_usccs(n, np.random.default_rng(sum(map(ord, bank))))
        rows = [(str(c), date(2023, 1, 1), date(2025, 12, 31)) for c in codes]
    consent.import_authorizations(session=s, actor=root, bank_code=bank, rows=rows, batch="seed")


__all__ = ["ALGORITHMS", "DEFAULT_BANKS", "PURPOSE", "SeedResult", "csv_counts", "seed_demo"]
