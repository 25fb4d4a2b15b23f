"""Demo seeding: organizations, users, nodes, datasets, indicators, algorithms, samples,
standing consents and enterprise authorizations for a credit platform and its banks.

The 指标库 gets both families (docs/indicators.md): every indicator of the registry
(``features.indicators.registry_records()``; a bank's copy coded ``<bank>.<CODE>``), and
the pre-aggregated columns of the synthetic tables under their old codes, which the seeded
samples and experiments train on. An owner of registry indicators without a synthetic
table (the housing fund) is seeded as an agency with a node and an officer, no dataset.

With ``data_dir`` holding the synthetic generator's files (``fedlab data synth``), the
registrations point at those files and carry their real row counts and label counts (with
its raw records, ``--records``, each agency's record folder is registered too, kind
``records``, and its registry indicators name it, so experiments train on them: the agency
computes them at its node), and the authorizations are imported from
``authorizations.csv``; without it, locations are placeholders (enough for the catalog, not
for a real run). Only metadata is stored.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlmodel import Session

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
from lab.services import catalog, consent, datasets
from lab.services.access import Principal
from lab.services.indicators import SUB_DIMENSION_LABELS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from features.synth import Column

DEFAULT_BANKS = ("bank_a", "bank_b", "bank_c", "bank_d")
STANDING_CONSENTS = ("tax", "market_regulation")
PURPOSE = "credit_risk_model"
OBSERVATION_END = date(2024, 6, 30)  # the synthetic data's observation date
#: owners of registry indicators that have no synthetic table (seeded with the default
#: agencies only)
REGISTRY_ONLY_AGENCIES = ("housing_fund",)
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
    #: org -> codes of its pre-aggregated columns (family ``aggregated``, trainable)
    indicators: dict[str, list[str]] = field(default_factory=dict)
    #: org -> codes of its registry indicators (family ``registry``)
    registry: dict[str, list[str]] = field(default_factory=dict)


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
    registry_only = () if agencies else REGISTRY_ONLY_AGENCIES
    agencies = tuple(agencies or AGENCIES)
    result = SeedResult(banks=tuple(banks), agencies=(*agencies, *registry_only))
    with session_scope(engine) as s:
        catalog.bootstrap_admin(session=s, username=admin, password=password)
        root = catalog.authenticate(
            session=s, username=admin, password=None, password_required=False
        )
        result.users[admin] = Role.ADMIN.value
        seeding = _Seeding(s, root, result, data, password)
        seeding.platform()
        parties = [(b, OrgKind.BANK, BANK_COLUMNS) for b in banks]
        parties += [(a, OrgKind.AGENCY, PARTY_COLUMNS[a]) for a in agencies]
        for code, kind, columns in parties:
            seeding.party(
                code,
                kind,
                columns,
                bank_indicators=bank_indicators,
                n_placeholder_authorizations=n_placeholder_authorizations,
            )
        for code in registry_only:
            seeding.registry_agency(code)
        seeding.standing_consents([a for a in standing_consents if a in agencies])
    return result


@dataclass
class _Seeding:
    """The named steps of :func:`seed_demo`, in its one transaction (``root``: the admin)."""

    session: Session
    root: Principal
    result: SeedResult
    data: Path | None
    password: str | None

    def user(self, name: str, role: Role, org: str) -> None:
        catalog.create_user(
            session=self.session,
            actor=self.root,
            user_in=UserCreate(
                username=name,
                role=role,
                org_code=org,
                password=self.password,
                full_name=name.replace("_", " ").title(),
            ),
        )
        self.result.users[name] = role.value

    def login(self, username: str) -> Principal:
        return catalog.authenticate(
            session=self.session,
            username=username,
            password=self.password,
            password_required=False,
        )

    def platform(self) -> None:
        """Platform staff, the coordinator's node and the algorithm library."""
        s, root = self.session, self.root
        self.user("staff", Role.PLATFORM_STAFF, "platform")
        catalog.register_node(
            session=s,
            actor=root,
            node_in=FederationNodeCreate(name="coordinator", org_code="platform"),
        )
        for algo in ALGORITHMS:
            catalog.create_algorithm(session=s, actor=root, algorithm_in=AlgorithmCreate(**algo))

    def party(
        self,
        code: str,
        kind: OrgKind,
        columns: Sequence[Column],
        *,
        bank_indicators: bool,
        n_placeholder_authorizations: int,
    ) -> None:
        """One bank or agency: organization, node, dataset, indicators, users (a bank
        also its sample set and enterprise authorizations)."""
        s, root = self.session, self.root
        catalog.create_organization(
            session=s,
            actor=root,
            org_in=OrganizationCreate(code=code, kind=kind, name=code.replace("_", " ").title()),
        )
        catalog.register_node(
            session=s, actor=root, node_in=FederationNodeCreate(name=code, org_code=code)
        )
        path = self.data / f"{code}.csv" if self.data else None
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
        with_indicators = kind is not OrgKind.BANK or bank_indicators
        self.result.indicators[code] = (
            self.indicators(code, kind, columns) if with_indicators else []
        )
        self.result.registry[code] = self.registry(code, kind) if with_indicators else []
        if kind is OrgKind.BANK:
            self.bank(code, path, rows, positives, n_placeholder_authorizations)
        else:
            self.user(f"{code}_officer", Role.AGENCY_OFFICER, code)

    def indicators(self, code: str, kind: OrgKind, columns: Sequence[Column]) -> list[str]:
        """The party's pre-aggregated columns (every column but the ID, the label and
        dates), family ``aggregated``; a bank's coded ``<bank>_<column>``."""
        from features.indicators.synthetic import FAMILY_AGGREGATED, synthetic_columns

        meta = {(c.owner, c.column.name): c for c in synthetic_columns()}
        owner = "bank" if kind is OrgKind.BANK else code
        codes = []
        for col in columns:
            if col.kind in ("id", "label", "date"):
                continue
            m = meta[(owner, col.name)]
            ind_code = f"{code}_{col.name}" if kind is OrgKind.BANK else col.name
            self.create_indicator(
                IndicatorCreate(
                    code=ind_code,
                    name=col.name.replace("_", " "),
                    name_zh=col.zh,
                    description=m.description_zh,
                    description_en=col.meaning,
                    category=SUB_DIMENSION_LABELS[m.sub_dimension],
                    family=FAMILY_AGGREGATED,
                    dimension=m.dimension,
                    sub_dimension=m.sub_dimension,
                    column=col.name,
                    dtype=_kind_dtype(col.kind),
                    unit=col.unit,
                    window=_window(col.name),
                    pit_rule="截至合成数据观察日的汇总值 (aggregated as of the synthetic "
                    "data's observation date)",
                    source_tables=[f"{code}.csv: {col.name}"],
                    org_code=code,
                    dataset_name=code,
                )
            )
            codes.append(ind_code)
        return codes

    def registry(self, code: str, kind: OrgKind) -> list[str]:
        """The party's indicators of the registry (family ``registry``), computed by the
        party from its raw records; a bank's copy is coded ``<bank>.<CODE>``."""
        from features.indicators import indicators_of, registry_records
        from features.indicators.synthetic import FAMILY_REGISTRY

        mine = {i.code for i in indicators_of(code)}
        codes = []
        for r in registry_records():
            if r["code"] not in mine:
                continue
            ind_code = f"{code}.{r['code']}" if kind is OrgKind.BANK else r["code"]
            self.create_indicator(
                IndicatorCreate(
                    code=ind_code,
                    name=r["name_en"],
                    name_zh=r["name_zh"],
                    description=r["formula_zh"],
                    description_en=r["formula_en"],
                    category=r["sub_dimension_zh"],
                    family=FAMILY_REGISTRY,
                    dimension=r["dimension"],
                    sub_dimension=r["sub_dimension"],
                    column=r["code"],
                    dtype={"ratio": "float", "flag": "int"}.get(r["dtype"], r["dtype"]),
                    unit=r["unit"],
                    window=r["window"],
                    pit_rule=f"{r['pit_rule_zh']} ({r['pit_rule_en']})",
                    source_tables=[f"{r['table']}: {', '.join(r['columns'])}"],
                    sensitivity=r["sensitivity"],
                    org_code=code,
                )
            )
            codes.append(ind_code)
        if kind is OrgKind.AGENCY:
            self.record_folder(code)
        return codes

    def record_folder(self, code: str) -> None:
        """With the generator's raw records in the data folder (``fedlab data synth
        --records``), the agency's record folder registered (kind ``records``) and its
        registry indicators linked to it; else they name no data."""
        from features.indicators import tables_of

        if self.data is None:
            return
        files = {t: self.data / f"records_{t}.csv" for t in tables_of(code)}
        files = {t: f for t, f in files.items() if f.is_file()}
        if not files:
            return
        rows = 0
        for f in files.values():
            with f.open("rb") as fh:
                rows += max(sum(1 for _ in fh) - 1, 0)
        datasets.register_record_folder(
            session=self.session,
            actor=self.root,
            org_code=code,
            name=f"{code}_records",
            location=str(self.data),
            tables=list(files),
            row_count=rows,
            description=f"{code}'s raw records (synthetic), for registry indicators",
        )

    def create_indicator(self, indicator_in: IndicatorCreate) -> None:
        catalog.create_indicator(session=self.session, actor=self.root, indicator_in=indicator_in)

    def registry_agency(self, code: str) -> None:
        """An agency that owns registry indicators but no synthetic table: organization,
        node, its registry indicators and its officer."""
        from features.indicators import OWNERS

        catalog.create_organization(
            session=self.session,
            actor=self.root,
            org_in=OrganizationCreate(code=code, kind=OrgKind.AGENCY, name=OWNERS[code]),
        )
        catalog.register_node(
            session=self.session,
            actor=self.root,
            node_in=FederationNodeCreate(name=code, org_code=code),
        )
        self.result.indicators[code] = []
        self.result.registry[code] = self.registry(code, OrgKind.AGENCY)
        self.user(f"{code}_officer", Role.AGENCY_OFFICER, code)

    def bank(
        self, code: str, path: Path | None, rows: int, positives: int, n_authorizations: int
    ) -> None:
        """A bank's modeler and data scientist, its sample set and its authorizations."""
        self.user(f"{code}_modeler", Role.BANK_MODELER, code)
        self.user(f"{code}_ds", Role.DATA_SCIENTIST, code)
        sample = catalog.create_sample(
            session=self.session,
            actor=self.login(f"{code}_modeler"),
            sample_in=SampleSetCreate(
                name=f"{code} customers, default within 12 months",
                dataset_name=code,
                id_list_location=str(path) if path else f"data/{code}.csv",
                label_column=LABEL,
                label_definition="90+ days past due within 12 months after the observation date",
                observation_start=date(2023, 7, 1),
                observation_end=OBSERVATION_END,
                n_total=rows,
                n_positive=positives,
            ),
        )
        self.result.samples[code] = sample.id
        _seed_authorizations(self.session, self.root, code, self.data, n_authorizations)

    def standing_consents(self, agencies: list[str]) -> None:
        """Each agency's consent to every bank for its indicators, for a year."""
        for agency in agencies:
            officer = self.login(f"{agency}_officer")
            for bank in self.result.banks:
                consent.grant_consent(
                    session=self.session,
                    actor=officer,
                    consent_in=ConsentGrantCreate(
                        bank_code=bank,
                        indicator_codes=self.result.indicators[agency]
                        + self.result.registry[agency],
                        purpose=PURPOSE,
                        expires_at=utcnow() + timedelta(days=365),
                    ),
                )


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


__all__ = [
    "ALGORITHMS",
    "DEFAULT_BANKS",
    "PURPOSE",
    "REGISTRY_ONLY_AGENCIES",
    "SeedResult",
    "csv_counts",
    "seed_demo",
]
