"""The access matrix: every role x every resource x every action, through the real services.

The expected table below is written out by hand from the rules in docs/lab.md; each cell
runs the service call as that role and asserts it either succeeds or raises
AccessDeniedError. Objects: bank_a / tax are the acting users' own organizations,
bank_b / courts belong to others.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import BACKENDS, World, make_catalog
from sqlmodel import Session, select

from lab.db import session_scope
from lab.errors import AccessDeniedError
from lab.models import (
    AlgorithmCreate,
    ConsentGrant,
    ConsentGrantCreate,
    DatasetCreate,
    DatasetRegistration,
    Experiment,
    ExperimentCreate,
    FederationNodeCreate,
    IndicatorCreate,
    ModelVersion,
    Organization,
    OrganizationCreate,
    OrgKind,
    SampleSetCreate,
    UserCreate,
    utcnow,
)
from lab.seed import seed_demo
from lab.services import audit as audit_svc
from lab.services import (
    catalog,
    consent,
    experiment_runs,
    experiments,
    models_library,
    sample_counts,
)
from lab.services.access import ACTIONS, Principal, Resource

ROLES = {
    "M": "bank_a_modeler",
    "D": "bank_a_ds",
    "O": "tax_officer",
    "S": "staff",
    "A": "admin",
    "W": "worker",
}
ALL = "MDOSAW"

# (resource, action, target): roles allowed.  Written by hand; do not derive from the code.
EXPECTED: dict[tuple[str, str, str], str] = {
    ("organization", "read", "-"): ALL,
    ("organization", "create", "-"): "A",
    ("user", "read", "bank_b_ds"): "SA",
    ("user", "create", "-"): "A",
    ("node", "read", "-"): ALL,
    ("node", "create", "-"): "SA",
    ("dataset", "read", "bank_a"): "MDSAW",
    ("dataset", "read", "tax"): "OSAW",
    ("dataset", "read", "bank_b"): "SAW",
    ("dataset", "create", "bank_a"): "MDSA",
    ("dataset", "create", "tax"): "OSA",
    ("dataset", "create", "bank_b"): "SA",
    ("indicator", "read", "-"): ALL,
    ("indicator", "create", "bank_a"): "MSA",
    ("indicator", "create", "tax"): "OSA",
    ("indicator", "create", "courts"): "SA",
    ("sample", "read", "bank_a"): "MDSAW",
    ("sample", "read", "bank_b"): "SAW",
    ("sample", "create", "own"): "MD",
    ("sample", "create", "bank_a count"): "MD",  # ask for a count at the bank
    ("sample", "create", "bank_b count"): "",
    ("sample", "read", "bank_a counts"): "MDSAW",
    ("sample", "read", "bank_b counts"): "SAW",
    ("sample", "run", "-"): "W",  # claim a count, record the bank's reply
    ("algorithm", "read", "-"): ALL,
    ("algorithm", "create", "-"): "SA",
    ("experiment", "read", "bank_a draft"): "MDSAW",
    ("experiment", "read", "bank_a submitted, tax indicators"): "MDOSAW",
    ("experiment", "read", "bank_a submitted, courts indicators"): "MDSAW",
    ("experiment", "read", "bank_b draft"): "SAW",
    ("experiment", "create", "bank_a sample"): "MD",
    ("experiment", "submit", "bank_a draft"): "MD",
    ("experiment", "submit", "bank_b draft"): "",
    ("experiment", "cancel", "bank_a draft"): "MDSA",
    ("experiment", "cancel", "bank_b draft"): "SA",
    ("experiment", "approve", "bank_a submitted"): "SA",
    ("experiment", "run", "-"): "W",
    ("consent", "read", "tax -> bank_a"): "MDOSAW",
    ("consent", "read", "tax -> bank_b"): "OSAW",
    ("consent", "grant", "tax indicators -> bank_a"): "O",
    ("authorization", "read", "bank_a"): "MDSAW",
    ("authorization", "read", "bank_b"): "SAW",
    ("authorization", "create", "bank_a"): "MSA",
    ("authorization", "create", "bank_b"): "SA",
    ("model", "read", "bank_a"): "MDSA",
    ("model", "read", "bank_b"): "SA",
    ("model", "publish", "bank_a"): "MSA",
    ("model", "publish", "bank_b"): "SA",
    ("audit", "read", "-"): "SA",
    ("audit", "verify", "-"): "SA",
}

_counter = itertools.count()


def uid() -> int:
    return next(_counter)


class Ops:
    """Fresh objects made by entitled users, then the call under test."""

    def __init__(self, world: World) -> None:
        self.w = world
        self.p = {r: world.who(u) for r, u in ROLES.items() if r != "W"}
        self.p["W"] = catalog.worker_principal("w")

    def s(self) -> Any:
        return session_scope(self.w.engine)

    def org_id(self, s: Session, code: str) -> int:
        return s.exec(select(Organization.id).where(Organization.code == code)).one()

    def draft(
        self, bank: str, indicators: tuple[str, ...] = ("taxes_paid_12m",), submit: bool = False
    ) -> int:
        ds = self.w.who(f"{bank}_ds")
        with self.s() as s:
            e = experiments.create_experiment(
                session=s,
                actor=ds,
                experiment_in=ExperimentCreate(
                    name=f"e{uid()}",
                    sample_id=self.w.seed.samples[bank],
                    algorithm="hetero_lr",
                    indicator_codes=list(indicators),
                ),
            )
            if submit:
                experiments.submit_experiment(session=s, actor=ds, experiment_id=e.id)
        return e.id

    def model(self, bank: str) -> int:
        exp_id = self.draft(bank)
        with self.s() as s:
            mv = ModelVersion(
                name=f"{bank}/m{uid()}",
                version=1,
                algorithm="hetero_lr",
                experiment_id=exp_id,
                owner_org_id=self.org_id(s, bank),
            )
            s.add(mv)
            s.flush()
            return mv.id or 0

    def grant_id(self, bank: str) -> int:
        with self.s() as s:
            return (
                s.exec(
                    select(ConsentGrant.id).where(ConsentGrant.bank_org_id == self.org_id(s, bank))
                ).first()
                or 0
            )

    def operation(self, resource: str, action: str, target: str) -> Callable[[Any, Principal], Any]:
        n = uid()
        bank = target.split()[0]
        if resource == "organization":
            if action == "read":
                return lambda s, p: catalog.list_organizations(session=s, actor=p)
            return lambda s, p: catalog.create_organization(
                session=s,
                actor=p,
                org_in=(OrganizationCreate(code=f"org{n}", name="x", kind=OrgKind.BANK)),
            )
        if resource == "user":
            if action == "read":
                return lambda s, p: catalog.get_user(session=s, actor=p, username=target)
            return lambda s, p: catalog.create_user(
                session=s,
                actor=p,
                user_in=UserCreate(username=f"u{n}", role="data_scientist", org_code="bank_a"),
            )
        if resource == "node":
            if action == "read":
                return lambda s, p: catalog.list_nodes(session=s, actor=p)
            return lambda s, p: catalog.register_node(
                session=s, actor=p, node_in=(FederationNodeCreate(name=f"n{n}", org_code="bank_a"))
            )
        if resource == "dataset":
            if action == "read":
                with self.s() as s:
                    ds_id = s.exec(
                        select(DatasetRegistration.id).where(
                            DatasetRegistration.org_id == self.org_id(s, target)
                        )
                    ).first()
                return lambda s, p: catalog.get_dataset(session=s, actor=p, dataset_id=ds_id)
            return lambda s, p: catalog.register_dataset(
                session=s,
                actor=p,
                dataset_in=(
                    DatasetCreate(name=f"d{n}", org_code=target, row_count=1, location="x.csv")
                ),
            )
        if resource == "indicator":
            if action == "read":
                return lambda s, p: catalog.search_indicators(session=s, actor=p, query="tax")
            return lambda s, p: catalog.create_indicator(
                session=s,
                actor=p,
                indicator_in=(IndicatorCreate(code=f"i{n}", name="x", column="c", org_code=target)),
            )
        if resource == "sample":
            if action == "run":
                return lambda s, p: sample_counts.claim_next_count(session=s, actor=p)
            if target.endswith("count"):
                sid = self.w.seed.samples[bank]
                return lambda s, p: sample_counts.request_count(session=s, actor=p, sample_id=sid)
            if target.endswith("counts"):
                sid = self.w.seed.samples[bank]
                return lambda s, p: sample_counts.list_counts(session=s, actor=p, sample_id=sid)
            if action == "read":
                sid = self.w.seed.samples[target]
                return lambda s, p: catalog.get_sample(session=s, actor=p, sample_id=sid)
            return lambda s, p: catalog.create_sample(
                session=s,
                actor=p,
                sample_in=(
                    SampleSetCreate(
                        name=f"s{n}",
                        dataset_name=p.org_code,
                        label_column="default_12m",
                        id_list_location="ids.csv",
                    )
                ),
            )
        if resource == "algorithm":
            if action == "read":
                return lambda s, p: catalog.list_algorithms(session=s, actor=p)
            return lambda s, p: catalog.create_algorithm(
                session=s, actor=p, algorithm_in=(AlgorithmCreate(name=f"a{n}"))
            )
        if resource == "experiment":
            if action == "run":
                return lambda s, p: experiment_runs.claim_next(session=s, actor=p)
            if action == "create":
                sid = self.w.seed.samples["bank_a"]
                return lambda s, p: experiments.create_experiment(
                    session=s,
                    actor=p,
                    experiment_in=ExperimentCreate(name="x", sample_id=sid, algorithm="hetero_lr"),
                )
            inds = ("lawsuits_defendant_24m",) if "courts" in target else ("taxes_paid_12m",)
            eid = self.draft(bank, inds, submit="submitted" in target)
            fn = {
                "read": experiments.get_experiment,
                "submit": experiments.submit_experiment,
                "approve": experiments.approve_experiment,
            }.get(action)
            if action == "cancel":
                return lambda s, p: experiments.cancel_experiment(
                    session=s, actor=p, experiment_id=eid, reason="r"
                )
            return lambda s, p: fn(session=s, actor=p, experiment_id=eid)
        if resource == "consent":
            if action == "read":
                gid = self.grant_id(target.split()[-1])
                return lambda s, p: consent.get_consent(session=s, actor=p, consent_id=gid)
            return lambda s, p: consent.grant_consent(
                session=s,
                actor=p,
                consent_in=(
                    ConsentGrantCreate(
                        bank_code="bank_a",
                        indicator_codes=["taxes_paid_12m"],
                        expires_at=utcnow() + timedelta(days=30),
                    )
                ),
            )
        if resource == "authorization":
            if action == "read":
                return lambda s, p: consent.authorization_summary(
                    session=s, actor=p, bank_code=target
                )
            return lambda s, p: consent.import_authorizations(
                session=s,
                actor=p,
                bank_code=target,
                rows=[(f"91310000{n:010d}", date(2024, 1, 1), date(2025, 1, 1))],
            )
        if resource == "model":
            mid = self.model(target)
            if action == "read":
                return lambda s, p: models_library.get_model(session=s, actor=p, model_id=mid)
            return lambda s, p: models_library.publish_model(session=s, actor=p, model_id=mid)
        if resource == "audit":
            if action == "read":
                return lambda s, p: audit_svc.list_events(session=s, actor=p, limit=5)
            return lambda s, p: audit_svc.verify(session=s, actor=p)
        raise AssertionError(f"no operation for {resource} {action}")


@pytest.fixture(scope="module", params=BACKENDS)
def ops(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ops]:
    engine = make_catalog(request.param, Path(tmp_path_factory.mktemp("access")))
    world = World(engine, seed_demo(engine, agencies=("tax", "courts"), bank_indicators=False))
    yield Ops(world)
    engine.dispose()


def test_matrix_covers_every_resource_and_action() -> None:
    covered = {(r, a) for r, a, _ in EXPECTED}
    assert covered == {(r.value, a.value) for r, acts in ACTIONS.items() for a in acts}


CASES = [
    pytest.param(key, role, id=f"{key[0]}-{key[1]}-{key[2]}-{ROLES[role]}")
    for key in EXPECTED
    for role in ROLES
]


@pytest.mark.parametrize(("case", "role"), CASES)
def test_access(ops: Ops, case: tuple[str, str, str], role: str) -> None:
    # Prepare
    op = ops.operation(*case)
    principal = ops.p[role]
    # Execute / Assert
    if role in EXPECTED[case]:
        with ops.s() as s:
            op(s, principal)
    else:
        with pytest.raises(AccessDeniedError, match=principal.username), ops.s() as s:
            op(s, principal)


def test_lists_are_scoped(ops: Ops) -> None:
    """A bank sees only its own experiments; an agency only requests for its indicators."""
    a = ops.draft("bank_a", submit=True)
    b = ops.draft("bank_b", submit=True)
    c = ops.draft("bank_b", ("lawsuits_defendant_24m",), submit=True)
    with ops.s() as s:
        seen_a = {e.id for e in experiments.list_experiments(session=s, actor=ops.p["D"])}
        seen_o = {e.id for e in experiments.list_requests(session=s, actor=ops.p["O"])}
        seen_s = {e.id for e in experiments.list_experiments(session=s, actor=ops.p["S"])}
        owners = {e.owner_org_id for e in experiments.list_experiments(session=s, actor=ops.p["D"])}
        samples = catalog.list_samples(session=s, actor=ops.p["M"])
        n_exp = len(s.exec(select(Experiment)).all())
    assert a in seen_a and b not in seen_a and c not in seen_a and len(owners) == 1
    assert {a, b} <= seen_o and c not in seen_o
    assert len(seen_s) == n_exp
    assert ops.w.seed.samples["bank_a"] in [x.id for x in samples]
    assert {x.owner_org_id for x in samples} == {ops.p["M"].org_id}


def test_public_views_carry_no_secrets_or_locations(ops: Ops) -> None:
    with ops.s() as s:
        users = catalog.list_users(session=s, actor=ops.p["A"])
        datasets = catalog.list_datasets(session=s, actor=ops.p["S"])
        summary = consent.authorization_summary(session=s, actor=ops.p["S"], bank_code="bank_a")
    assert users and all("hashed_password" not in u.model_dump() for u in users)
    assert datasets and all("location" not in d.model_dump() for d in datasets)
    assert set(summary.model_dump()) == {"bank_org_id", "total", "valid", "as_of"}
    assert Resource.AUDIT.value == "audit"
