"""Who takes part: organizations, their users and federation nodes, and the principal a
user acts as (sign-in checks the password hash, which never leaves this module).

Revealed to whom: metadata only (codes, names, roles, node addresses) to the callers the
access rules allow; password hashes stay on the table rows. A refused sign-in tells the
person signing in only that it was refused: not whether the user name exists.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func
from sqlmodel import Session, col, select

from lab.audit import append_event
from lab.errors import ConfigError, NotFoundError, SignInError
from lab.models import (
    FederationNode,
    FederationNodeCreate,
    FederationNodePublic,
    Organization,
    OrganizationCreate,
    OrganizationPublic,
    OrgKind,
    Role,
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


SIGN_IN_REFUSED = "sign-in refused: unknown user or wrong password"


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """An argon2 hash of a random password: unknown users are checked against it, so a
    refusal costs the same hash check whether or not the user name exists."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_secret(secret: str) -> str:
    """The argon2 hash a password or worker token is kept as."""
    return _hasher.hash(secret)


def secret_ok(stored: str | None, secret: str | None) -> bool:
    """One argon2 verification on every path: ``stored``, or the dummy hash when there is
    none (an unknown or inactive user, an unknown or revoked worker), so a refusal costs the
    same whatever its reason."""
    ok: bool
    try:
        ok = _hasher.verify(stored or _dummy_hash(), secret or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    return ok and bool(stored) and secret is not None


def _password_ok(user: User | None, password: str | None) -> bool:
    """:func:`secret_ok` against the user's hash (none for an unknown or inactive user)."""
    stored = user.hashed_password if user is not None and user.is_active else None
    return secret_ok(stored, password)


def authenticate(
    *, session: Session, username: str, password: str | None, password_required: bool
) -> Principal:
    """The principal for ``username``; checks the password when given or required.

    A checked sign-in fails with one :class:`SignInError` (same message, same code, one
    hash check) for an unknown or inactive user and a wrong or missing password, so it
    never tells which user names exist. Only an unchecked one (the ``local`` environment,
    no password given), where the name alone signs in, says that a name is unknown.
    """
    user = session.exec(select(User).where(User.username == username)).first()
    if password is not None or password_required:
        if not _password_ok(user, password):
            raise SignInError(SIGN_IN_REFUSED)
    elif user is None or not user.is_active:
        raise NotFoundError(
            f"no active user {username!r} in the catalog",
            hint="Ask an admin to create it (`fedlab lab seed` makes demo users).",
        )
    assert user is not None
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
        hashed_password=hash_secret(password) if password else None,
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
        hashed_password=hash_secret(user_in.password) if user_in.password else None,
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


__all__ = [
    "SIGN_IN_REFUSED",
    "authenticate",
    "bootstrap_admin",
    "create_organization",
    "create_user",
    "get_org",
    "get_user",
    "hash_secret",
    "list_nodes",
    "list_organizations",
    "list_users",
    "node_for_org",
    "principal_for",
    "register_node",
    "secret_ok",
    "worker_principal",
]
