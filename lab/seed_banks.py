"""Banks that hold the same columns, and a horizontal experiment across them (tests,
benchmarks, demos).

:func:`seed_banks` fills an empty catalog with the platform (staff, coordinator node, the
算法库) and one bank per table file: its organization, node, users (``<bank>_modeler``,
``<bank>_ds``), dataset registration (schema and row count), one indicator per feature
column (``<bank>_<column>``) and a sample set over the whole table. Only metadata is stored:
the files stay where they are (each bank's own, at its node).

:func:`horizontal_experiment` takes a horizontal experiment through the lab as its people
would: the owner bank's data scientist creates it on the owner's sample and indicators with
one partner sample per other bank and submits it; each partner bank's modeler consents to
the owner's use of its indicators; platform staff approve it. The worker then runs it.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from federation.algorithms import catalog_algorithms, catalog_entry
from lab.db import session_scope
from lab.models import (
    AlgorithmCreate,
    ConsentGrantCreate,
    DatasetCreate,
    ExperimentCreate,
    FederationNodeCreate,
    IndicatorCreate,
    OrganizationCreate,
    OrgKind,
    Role,
    SampleSetCreate,
    UserCreate,
    utcnow,
)
from lab.services import catalog, consent, experiments
from lab.services.access import Principal

PURPOSE = "credit_risk_model"


@dataclass
class BankCatalog:
    """What :func:`seed_banks` filed: per bank its sample set id and indicator codes."""

    samples: dict[str, int] = field(default_factory=dict)
    indicators: dict[str, list[str]] = field(default_factory=dict)


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def _counts(path: Path, label: str) -> tuple[int, int]:
    rows = positives = 0
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            rows += 1
            positives += row.get(label) == "1"
    return rows, positives


def _login(session: Any, username: str) -> Principal:
    return catalog.authenticate(
        session=session, username=username, password=None, password_required=False
    )


def _platform(session: Any, root: Principal) -> None:
    """Staff, the coordinator's node and the 算法库 (the platform organization exists)."""
    catalog.create_user(
        session=session,
        actor=root,
        user_in=UserCreate(username="staff", role=Role.PLATFORM_STAFF, org_code="platform"),
    )
    catalog.register_node(
        session=session,
        actor=root,
        node_in=FederationNodeCreate(name="coordinator", org_code="platform"),
    )
    for name in catalog_algorithms():
        catalog.create_algorithm(
            session=session, actor=root, algorithm_in=AlgorithmCreate(**catalog_entry(name))
        )


def _bank(
    session: Any, root: Principal, code: str, path: Path, *, id_column: str, label: str
) -> tuple[int, list[str]]:
    """One bank: organization, node, users, dataset, indicators, sample (id, codes)."""
    catalog.create_organization(
        session=session,
        actor=root,
        org_in=OrganizationCreate(code=code, kind=OrgKind.BANK, name=code.replace("_", " ")),
    )
    catalog.register_node(
        session=session, actor=root, node_in=FederationNodeCreate(name=code, org_code=code)
    )
    for suffix, role in (("modeler", Role.BANK_MODELER), ("ds", Role.DATA_SCIENTIST)):
        catalog.create_user(
            session=session,
            actor=root,
            user_in=UserCreate(username=f"{code}_{suffix}", role=role, org_code=code),
        )
    columns = [c for c in _header(path) if c not in (id_column, label)]
    rows, positives = _counts(path, label)
    catalog.register_dataset(
        session=session,
        actor=root,
        dataset_in=DatasetCreate(
            name=code,
            org_code=code,
            row_count=rows,
            id_column=id_column,
            location=str(path),
            columns=[
                {"name": id_column, "dtype": "str"},
                *({"name": c, "dtype": "float"} for c in columns),
                {"name": label, "dtype": "int"},
            ],
        ),
    )
    codes = []
    for column in columns:
        ind = catalog.create_indicator(
            session=session,
            actor=root,
            indicator_in=IndicatorCreate(
                code=f"{code}_{column.lower()}",
                name=column,
                column=column,
                category="bank",
                org_code=code,
                dataset_name=code,
            ),
        )
        codes.append(ind.code)
    sample = catalog.create_sample(
        session=session,
        actor=_login(session, f"{code}_modeler"),
        sample_in=SampleSetCreate(
            name=f"{code} borrowers",
            dataset_name=code,
            id_list_location=str(path),
            label_column=label,
            n_total=rows,
            n_positive=positives,
        ),
    )
    return sample.id, codes


def seed_banks(
    engine: Engine, files: Mapping[str, Path], *, id_column: str, label: str
) -> BankCatalog:
    """An empty catalog filled with the platform and one bank per file (bank -> table)."""
    out = BankCatalog()
    with session_scope(engine) as s:
        catalog.bootstrap_admin(session=s, username="admin", password=None)
        root = _login(s, "admin")
        _platform(s, root)
        for code, path in files.items():
            sid, codes = _bank(s, root, code, Path(path), id_column=id_column, label=label)
            out.samples[code], out.indicators[code] = sid, codes
    return out


def horizontal_experiment(
    engine: Engine,
    *,
    algorithm: str,
    owner: str,
    samples: Mapping[str, int],
    indicators: Sequence[str],
    params: Mapping[str, Any] | None = None,
    authorization_required: bool = False,
    backend: str | None = None,
    name: str = "",
) -> int:
    """Create, submit, consent (every partner bank) and approve a horizontal experiment of
    ``owner`` on its ``indicators`` with every other bank's sample; its id (``backend``
    None: the algorithm's recommended one)."""
    partners = [b for b in samples if b != owner]
    with session_scope(engine) as s:
        ds = _login(s, f"{owner}_ds")
        exp = experiments.create_experiment(
            session=s,
            actor=ds,
            experiment_in=ExperimentCreate(
                name=name or f"{algorithm} across {len(samples)} banks",
                sample_id=samples[owner],
                partner_sample_ids=[samples[b] for b in partners],
                algorithm=algorithm,
                indicator_codes=list(indicators),
                params=dict(params or {}),
                authorization_required=authorization_required,
                backend=backend,
                purpose=PURPOSE,
            ),
        )
        experiments.submit_experiment(session=s, actor=ds, experiment_id=exp.id)
        for need in experiments.consents_for(session=s, actor=ds, experiment_id=exp.id):
            consent.grant_consent(
                session=s,
                actor=_login(s, f"{need.agency}_modeler"),
                consent_in=ConsentGrantCreate(
                    bank_code=owner,
                    indicator_codes=list(need.indicators),
                    purpose=PURPOSE,
                    expires_at=utcnow() + timedelta(days=30),
                ),
            )
        experiments.approve_experiment(session=s, actor=_login(s, "staff"), experiment_id=exp.id)
    return exp.id


__all__ = ["PURPOSE", "BankCatalog", "horizontal_experiment", "seed_banks"]
