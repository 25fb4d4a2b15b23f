"""Catalog services: organizations, users, nodes, datasets, indicators (指标库), samples
(样本库) and algorithms (算法库), with parameter validation against an algorithm's schema.

Only metadata enters or leaves: schemas, counts, definitions. Data locations at a party
and password hashes stay on the table models and never appear in a returned object.
"""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, VerifyMismatchError
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from lab.audit import append_event
from lab.errors import AccessDeniedError, ConfigError, NotFoundError
from lab.models import (
    Algorithm,
    AlgorithmCreate,
    AlgorithmPublic,
    DatasetCreate,
    DatasetPublic,
    DatasetRegistration,
    FederationNode,
    FederationNodeCreate,
    FederationNodePublic,
    Indicator,
    IndicatorCreate,
    IndicatorPublic,
    Organization,
    OrganizationCreate,
    OrganizationPublic,
    OrgKind,
    Role,
    SampleSet,
    SampleSetCreate,
    SampleSetPublic,
    User,
    UserCreate,
    UserPublic,
    row_id,
)
from lab.services.access import Action, Principal, Resource, Scope, allowed, require

_hasher = PasswordHasher()
WORKER_ACCOUNT = "worker"


# ------------------------------------------------------------------ principals
def principal_for(user: User, org: Organization) -> Principal:
    return Principal(
        username=user.username,
        role=Role(user.role),
        org_id=row_id(org),
        org_code=org.code,
        user_id=user.id,
    )


def worker_principal(worker_id: str) -> Principal:
    """The runner's service identity (not a stored user)."""
    return Principal(
        username=f"{WORKER_ACCOUNT}:{worker_id}", role=Role.WORKER, org_id=None, org_code="platform"
    )


def authenticate(
    *, session: Session, username: str, password: str | None, password_required: bool
) -> Principal:
    """The principal for ``username``; checks the password when given or required."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not user.is_active:
        raise NotFoundError(
            f"no active user {username!r} in the catalog",
            hint="Ask an admin to create it (`fedlab lab seed` makes demo users).",
        )
    if password is not None or password_required:
        ok = False
        if password is not None and user.hashed_password:
            try:
                ok = _hasher.verify(user.hashed_password, password)
            except (VerifyMismatchError, VerificationError):
                ok = False
        if not ok:
            raise AccessDeniedError(
                f"wrong or missing password for user {username!r}",
                hint="Pass password=... (never put it in a notebook cell "
                "you share; read it from an environment variable).",
            )
    org = session.get(Organization, user.org_id)
    assert org is not None
    return principal_for(user, org)


def bootstrap_admin(
    *,
    session: Session,
    username: str,
    password: str | None,
    platform_code: str = "platform",
    platform_name: str = "Credit service platform",
) -> bool:
    """Create the platform organization and first admin if the catalog has no user yet."""
    if session.exec(select(func.count()).select_from(User)).one() > 0:
        return False
    org = session.exec(select(Organization).where(Organization.code == platform_code)).first()
    if org is None:
        org = Organization(code=platform_code, name=platform_name, kind=OrgKind.PLATFORM)
        session.add(org)
        session.flush()
    user = User(
        username=username,
        full_name="Administrator",
        role=Role.ADMIN,
        org_id=row_id(org),
        hashed_password=_hasher.hash(password) if password else None,
    )
    session.add(user)
    session.flush()
    append_event(
        session,
        actor="system",
        action="bootstrap",
        object_type="user",
        object_id=user.id or "",
        details={"username": username, "organization": platform_code},
    )
    return True


# ------------------------------------------------------------------ organizations, users
def get_org(session: Session, code: str) -> Organization:
    org = session.exec(select(Organization).where(Organization.code == code)).first()
    if org is None:
        known = session.exec(select(Organization.code)).all()
        raise NotFoundError(f"unknown organization {code!r}; the catalog has {sorted(known)}")
    return org


def create_organization(
    *, session: Session, actor: Principal, org_in: OrganizationCreate
) -> OrganizationPublic:
    require(actor, Resource.ORGANIZATION, Action.CREATE)
    if session.exec(select(Organization).where(Organization.code == org_in.code)).first():
        raise ConfigError(f"organization {org_in.code!r} already exists")
    org = Organization.model_validate(org_in)
    session.add(org)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="create",
        object_type="organization",
        object_id=org.id or "",
        details={"code": org.code, "kind": str(org.kind)},
    )
    return OrganizationPublic.model_validate(org)


def list_organizations(*, session: Session, actor: Principal) -> list[OrganizationPublic]:
    require(actor, Resource.ORGANIZATION, Action.READ)
    rows = session.exec(select(Organization).order_by(col(Organization.id))).all()
    return [OrganizationPublic.model_validate(o) for o in rows]


def create_user(*, session: Session, actor: Principal, user_in: UserCreate) -> UserPublic:
    require(actor, Resource.USER, Action.CREATE)
    org = get_org(session, user_in.org_code)
    if session.exec(select(User).where(User.username == user_in.username)).first():
        raise ConfigError(f"user {user_in.username!r} already exists")
    _check_role_fits_org(Role(user_in.role), OrgKind(org.kind), user_in.username, org.code)
    user = User(
        username=user_in.username,
        full_name=user_in.full_name,
        role=user_in.role,
        is_active=user_in.is_active,
        org_id=row_id(org),
        hashed_password=_hasher.hash(user_in.password) if user_in.password else None,
    )
    session.add(user)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="create",
        object_type="user",
        object_id=user.id or "",
        details={
            "username": user.username,
            "role": str(Role(user.role).value),
            "organization": org.code,
        },
    )
    return UserPublic.model_validate(user)


def _check_role_fits_org(role: Role, kind: OrgKind, username: str, org: str) -> None:
    fits = {
        Role.BANK_MODELER: OrgKind.BANK,
        Role.DATA_SCIENTIST: OrgKind.BANK,
        Role.AGENCY_OFFICER: OrgKind.AGENCY,
        Role.PLATFORM_STAFF: OrgKind.PLATFORM,
        Role.ADMIN: OrgKind.PLATFORM,
        Role.WORKER: OrgKind.PLATFORM,
    }
    if fits[role] is not kind:
        raise ConfigError(
            f"user {username!r}: role {role.value} belongs to a "
            f"{fits[role].value}, but {org!r} is a {kind.value}"
        )


def get_user(*, session: Session, actor: Principal, username: str) -> UserPublic:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFoundError(f"unknown user {username!r}")
    require(actor, Resource.USER, Action.READ, Scope(user_id=user.id), what=f"user {username!r}")
    return UserPublic.model_validate(user)


def list_users(*, session: Session, actor: Principal) -> list[UserPublic]:
    rows = session.exec(select(User).order_by(col(User.id))).all()
    return [
        UserPublic.model_validate(u)
        for u in rows
        if allowed(actor, Resource.USER, Action.READ, Scope(user_id=u.id))
    ]


# ------------------------------------------------------------------ federation nodes
def register_node(
    *, session: Session, actor: Principal, node_in: FederationNodeCreate
) -> FederationNodePublic:
    require(actor, Resource.NODE, Action.CREATE)
    org = get_org(session, node_in.org_code)
    if session.exec(select(FederationNode).where(FederationNode.name == node_in.name)).first():
        raise ConfigError(f"federation node {node_in.name!r} already exists")
    node = FederationNode(
        name=node_in.name,
        address=node_in.address,
        org_id=row_id(org),
        public_key_fingerprint=node_in.public_key_fingerprint,
    )
    session.add(node)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="register",
        object_type="node",
        object_id=node.id or "",
        details={"name": node.name, "organization": org.code},
    )
    return FederationNodePublic.model_validate(node)


def list_nodes(*, session: Session, actor: Principal) -> list[FederationNodePublic]:
    require(actor, Resource.NODE, Action.READ)
    return [
        FederationNodePublic.model_validate(n)
        for n in session.exec(select(FederationNode).order_by(col(FederationNode.id))).all()
    ]


def node_for_org(session: Session, org_id: int) -> FederationNode:
    node = session.exec(
        select(FederationNode)
        .where(FederationNode.org_id == org_id)
        .order_by(col(FederationNode.id))
    ).first()
    if node is None:
        org = session.get(Organization, org_id)
        raise NotFoundError(
            f"organization {org.code if org else org_id!r} has no federation node registered",
            hint="Register one with register_node().",
        )
    return node


# ------------------------------------------------------------------ datasets
def register_dataset(
    *, session: Session, actor: Principal, dataset_in: DatasetCreate
) -> DatasetPublic:
    org = get_org(session, dataset_in.org_code)
    require(
        actor,
        Resource.DATASET,
        Action.CREATE,
        Scope(owner_org_id=org.id),
        what=f"datasets of {org.code!r}",
    )
    exists = session.exec(
        select(DatasetRegistration).where(
            DatasetRegistration.org_id == org.id, DatasetRegistration.name == dataset_in.name
        )
    ).first()
    if exists:
        raise ConfigError(f"{org.code!r} already registered a dataset named {dataset_in.name!r}")
    ds = DatasetRegistration(
        name=dataset_in.name,
        id_column=dataset_in.id_column,
        columns=dataset_in.columns,
        row_count=dataset_in.row_count,
        description=dataset_in.description,
        org_id=row_id(org),
        location=dataset_in.location,
    )
    session.add(ds)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="register",
        object_type="dataset",
        object_id=ds.id or "",
        details={
            "name": ds.name,
            "organization": org.code,
            "row_count": ds.row_count,
            "columns": len(ds.columns),
        },
    )
    return DatasetPublic.model_validate(ds)


def list_datasets(*, session: Session, actor: Principal) -> list[DatasetPublic]:
    rows = session.exec(select(DatasetRegistration).order_by(col(DatasetRegistration.id))).all()
    return [
        DatasetPublic.model_validate(d)
        for d in rows
        if allowed(actor, Resource.DATASET, Action.READ, Scope(owner_org_id=d.org_id))
    ]


def get_dataset(*, session: Session, actor: Principal, dataset_id: int) -> DatasetPublic:
    ds = session.get(DatasetRegistration, dataset_id)
    if ds is None:
        raise NotFoundError(f"no dataset registration with id {dataset_id}")
    require(
        actor,
        Resource.DATASET,
        Action.READ,
        Scope(owner_org_id=ds.org_id),
        what=f"dataset {dataset_id}",
    )
    return DatasetPublic.model_validate(ds)


def get_dataset_row(session: Session, org_id: int, name: str) -> DatasetRegistration:
    ds = session.exec(
        select(DatasetRegistration).where(
            DatasetRegistration.org_id == org_id, DatasetRegistration.name == name
        )
    ).first()
    if ds is None:
        org = session.get(Organization, org_id)
        raise NotFoundError(
            f"organization {org.code if org else org_id!r} has no dataset named {name!r}",
            hint="Register it first (register_dataset).",
        )
    return ds


# ------------------------------------------------------------------ indicators
def create_indicator(
    *, session: Session, actor: Principal, indicator_in: IndicatorCreate
) -> IndicatorPublic:
    org = get_org(session, indicator_in.org_code)
    require(
        actor,
        Resource.INDICATOR,
        Action.CREATE,
        Scope(owner_org_id=org.id),
        what=f"indicators of {org.code!r}",
    )
    if session.exec(select(Indicator).where(Indicator.code == indicator_in.code)).first():
        raise ConfigError(f"indicator {indicator_in.code!r} already exists")
    dataset_id = None
    if indicator_in.dataset_name:
        ds = get_dataset_row(session, org.id or 0, indicator_in.dataset_name)
        cols = {c.get("name") for c in ds.columns}
        if cols and indicator_in.column not in cols:
            raise ConfigError(
                f"indicator {indicator_in.code!r}: column {indicator_in.column!r} "
                f"is not in dataset {ds.name!r} of {org.code!r} "
                f"(columns: {sorted(c for c in cols if c)})"
            )
        dataset_id = ds.id
    ind = Indicator.model_validate(
        indicator_in, update={"owner_org_id": org.id, "dataset_id": dataset_id}
    )
    session.add(ind)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="create",
        object_type="indicator",
        object_id=ind.id or "",
        details={"code": ind.code, "organization": org.code},
    )
    return _indicator_public(ind, org.code)


def _indicator_public(ind: Indicator, owner_code: str) -> IndicatorPublic:
    return IndicatorPublic.model_validate(ind, update={"owner_code": owner_code})


def search_indicators(
    *,
    session: Session,
    actor: Principal,
    query: str = "",
    category: str | None = None,
    owner: str | None = None,
    limit: int = 200,
) -> list[IndicatorPublic]:
    """Indicators whose code, name (中文 or English), description or category match."""
    require(actor, Resource.INDICATOR, Action.READ)
    stmt = select(Indicator, Organization.code).join(
        Organization, col(Organization.id) == col(Indicator.owner_org_id)
    )
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Indicator.code).like(like),
                func.lower(Indicator.name).like(like),
                col(Indicator.name_zh).like(f"%{query}%"),
                func.lower(Indicator.description).like(like),
                func.lower(Indicator.category).like(like),
            )
        )
    if category:
        stmt = stmt.where(Indicator.category == category)
    if owner:
        stmt = stmt.where(Organization.code == owner)
    rows = session.exec(stmt.order_by(Indicator.code).limit(limit)).all()
    return [_indicator_public(ind, code) for ind, code in rows]


def get_indicators(session: Session, codes: list[str]) -> list[Indicator]:
    """The named indicators, in order; :class:`NotFoundError` names every unknown code."""
    if not codes:
        return []
    rows = session.exec(select(Indicator).where(col(Indicator.code).in_(codes))).all()
    by_code = {r.code: r for r in rows}
    missing = [c for c in codes if c not in by_code]
    if missing:
        raise NotFoundError(
            f"unknown indicator(s) {missing}",
            hint="Search the indicator library: lab.indicators.search('...').",
        )
    return [by_code[c] for c in codes]


# ------------------------------------------------------------------ samples
def create_sample(
    *, session: Session, actor: Principal, sample_in: SampleSetCreate
) -> SampleSetPublic:
    require(
        actor, Resource.SAMPLE, Action.CREATE, Scope(owner_org_id=actor.org_id), what="sample sets"
    )
    assert actor.org_id is not None
    ds = get_dataset_row(session, actor.org_id, sample_in.dataset_name)
    cols = {c.get("name") for c in ds.columns}
    if cols and sample_in.label_column not in cols:
        raise ConfigError(
            f"sample {sample_in.name!r}: label column {sample_in.label_column!r} "
            f"is not in dataset {ds.name!r} (columns: {sorted(c for c in cols if c)})"
        )
    if sample_in.n_positive > sample_in.n_total:
        raise ConfigError(
            f"sample {sample_in.name!r}: n_positive={sample_in.n_positive} "
            f"exceeds n_total={sample_in.n_total}"
        )
    if (
        sample_in.observation_start
        and sample_in.observation_end
        and sample_in.observation_start > sample_in.observation_end
    ):
        raise ConfigError(f"sample {sample_in.name!r}: observation window starts after it ends")
    if session.exec(
        select(SampleSet).where(
            SampleSet.owner_org_id == actor.org_id, SampleSet.name == sample_in.name
        )
    ).first():
        raise ConfigError(f"your bank already has a sample set named {sample_in.name!r}")
    sample = SampleSet.model_validate(
        sample_in,
        update={"owner_org_id": actor.org_id, "dataset_id": ds.id, "created_by": actor.user_id},
    )
    session.add(sample)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="create",
        object_type="sample",
        object_id=sample.id or "",
        details={
            "name": sample.name,
            "organization": actor.org_code,
            "n_total": sample.n_total,
            "n_positive": sample.n_positive,
        },
    )
    return SampleSetPublic.model_validate(sample)


def _sample_row(session: Session, actor: Principal, sample_id: int) -> SampleSet:
    sample = session.get(SampleSet, sample_id)
    if sample is None:
        raise NotFoundError(f"no sample set with id {sample_id}")
    require(
        actor,
        Resource.SAMPLE,
        Action.READ,
        Scope(owner_org_id=sample.owner_org_id),
        what=f"sample set {sample_id}",
    )
    return sample


def get_sample(*, session: Session, actor: Principal, sample_id: int) -> SampleSetPublic:
    return SampleSetPublic.model_validate(_sample_row(session, actor, sample_id))


def list_samples(*, session: Session, actor: Principal) -> list[SampleSetPublic]:
    rows = session.exec(select(SampleSet).order_by(col(SampleSet.id))).all()
    return [
        SampleSetPublic.model_validate(s)
        for s in rows
        if allowed(actor, Resource.SAMPLE, Action.READ, Scope(owner_org_id=s.owner_org_id))
    ]


# ------------------------------------------------------------------ algorithms
PARAM_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _check_schema(name: str, schema: dict[str, dict[str, Any]]) -> None:
    for pname, spec in schema.items():
        ptype = spec.get("type")
        if ptype not in PARAM_TYPES:
            raise ConfigError(
                f"algorithm {name!r}: parameter {pname!r} has type {ptype!r}; "
                f"use one of {sorted(PARAM_TYPES)}"
            )
        if "default" in spec:
            validate_params(name, schema, {pname: spec["default"]}, fill_defaults=False)


def create_algorithm(
    *, session: Session, actor: Principal, algorithm_in: AlgorithmCreate
) -> AlgorithmPublic:
    require(actor, Resource.ALGORITHM, Action.CREATE)
    _check_schema(algorithm_in.name, algorithm_in.param_schema)
    if session.exec(
        select(Algorithm).where(
            Algorithm.name == algorithm_in.name, Algorithm.version == algorithm_in.version
        )
    ).first():
        raise ConfigError(
            f"algorithm {algorithm_in.name!r} version {algorithm_in.version!r} already exists"
        )
    algo = Algorithm.model_validate(algorithm_in)
    session.add(algo)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="create",
        object_type="algorithm",
        object_id=algo.id or "",
        details={"name": algo.name, "version": algo.version},
    )
    return AlgorithmPublic.model_validate(algo)


def list_algorithms(*, session: Session, actor: Principal) -> list[AlgorithmPublic]:
    require(actor, Resource.ALGORITHM, Action.READ)
    return [
        AlgorithmPublic.model_validate(a)
        for a in session.exec(select(Algorithm).order_by(Algorithm.name, col(Algorithm.id))).all()
    ]


def get_algorithm_row(session: Session, name: str, version: str | None = None) -> Algorithm:
    stmt = select(Algorithm).where(Algorithm.name == name)
    if version is not None:
        stmt = stmt.where(Algorithm.version == version)
    algo = session.exec(stmt.order_by(col(Algorithm.id).desc())).first()
    if algo is None:
        known = sorted(set(session.exec(select(Algorithm.name)).all()))
        raise NotFoundError(
            f"unknown algorithm {name!r}"
            + (f" version {version!r}" if version else "")
            + f"; the algorithm library has {known}"
        )
    return algo


def validate_params(
    algorithm: str,
    schema: dict[str, dict[str, Any]],
    params: dict[str, Any],
    *,
    fill_defaults: bool = True,
) -> dict[str, Any]:
    """Check ``params`` against ``schema`` (type, min/max, choices); return them with defaults.

    Raises :class:`ConfigError` quoting the parameter, the bad value and the allowed range.
    """
    unknown = sorted(set(params) - set(schema))
    if unknown:
        raise ConfigError(
            f"algorithm {algorithm!r} has no parameter(s) {unknown}; it takes {sorted(schema)}"
        )
    out: dict[str, Any] = {}
    for pname, spec in schema.items():
        if pname not in params:
            if fill_defaults and "default" in spec:
                out[pname] = spec["default"]
            elif fill_defaults and spec.get("required", False):
                raise ConfigError(f"algorithm {algorithm!r}: parameter {pname!r} is required")
            continue
        value = params[pname]
        ptype = spec["type"]
        if ptype == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        expected = PARAM_TYPES[ptype]
        if isinstance(value, bool) and ptype != "bool" or not isinstance(value, expected):
            raise ConfigError(
                f"algorithm {algorithm!r}: parameter {pname!r} must be {ptype}, got {value!r}"
            )
        lo, hi = spec.get("min"), spec.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(
                f"algorithm {algorithm!r}: parameter {pname!r}={value!r} is out of "
                f"bounds [{lo if lo is not None else '-inf'}, "
                f"{hi if hi is not None else 'inf'}]"
            )
        if "choices" in spec and value not in spec["choices"]:
            raise ConfigError(
                f"algorithm {algorithm!r}: parameter {pname!r}={value!r} is not "
                f"one of {spec['choices']}"
            )
        out[pname] = value
    return out


__all__ = [
    "authenticate",
    "bootstrap_admin",
    "create_algorithm",
    "create_indicator",
    "create_organization",
    "create_sample",
    "create_user",
    "get_algorithm_row",
    "get_dataset",
    "get_dataset_row",
    "get_indicators",
    "get_org",
    "get_sample",
    "get_user",
    "list_algorithms",
    "list_datasets",
    "list_nodes",
    "list_organizations",
    "list_samples",
    "list_users",
    "node_for_org",
    "principal_for",
    "register_dataset",
    "register_node",
    "search_indicators",
    "validate_params",
    "worker_principal",
]
