"""Who may do what: the lab's access rules in one place.

Rules (``admin`` may do everything ``platform_staff`` may, plus manage organizations and
users; the ``worker`` service account reads metadata and records runs, nothing else):

- A bank's users (bank modeler, data scientist) see and create only their own bank's
  datasets, samples (and counts of them at the bank), experiments, authorizations and
  models. Only the bank modeler publishes or retires the bank's models and imports its
  authorizations.
- Agency officers see their agency's datasets and consents, and experiments that use
  their agency's indicators once submitted (the requests they must consent to); only an
  agency officer of the owning agency grants or revokes consent for its indicators, and
  only a bank modeler of the owning bank for a bank's (a partner bank of a horizontal
  experiment).
- Platform staff see all metadata, approve or reject experiments, register algorithms,
  nodes, datasets and indicators, publish models and read/verify the audit trail.
- Everyone reads organizations, nodes, indicators and algorithms (the public catalog).
- Nobody gets raw records: the lab stores none.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from enum import Enum

from lab.errors import AccessDeniedError
from lab.models import Role


class Resource(str, Enum):
    ORGANIZATION = "organization"
    USER = "user"
    NODE = "node"
    DATASET = "dataset"
    INDICATOR = "indicator"
    SAMPLE = "sample"
    ALGORITHM = "algorithm"
    EXPERIMENT = "experiment"
    CONSENT = "consent"
    AUTHORIZATION = "authorization"
    MODEL = "model"
    AUDIT = "audit"


class Action(str, Enum):
    READ = "read"
    CREATE = "create"
    SUBMIT = "submit"
    CANCEL = "cancel"
    APPROVE = "approve"  # approve or reject
    RUN = "run"  # claim, progress, finish (worker)
    GRANT = "grant"  # grant or revoke consent
    PUBLISH = "publish"  # publish or retire a model version
    VERIFY = "verify"


ACTIONS: dict[Resource, tuple[Action, ...]] = {
    Resource.ORGANIZATION: (Action.READ, Action.CREATE),
    Resource.USER: (Action.READ, Action.CREATE),
    Resource.NODE: (Action.READ, Action.CREATE),
    Resource.DATASET: (Action.READ, Action.CREATE),
    Resource.INDICATOR: (Action.READ, Action.CREATE),
    Resource.SAMPLE: (Action.READ, Action.CREATE, Action.RUN),  # RUN: count at the bank
    Resource.ALGORITHM: (Action.READ, Action.CREATE),
    Resource.EXPERIMENT: (
        Action.READ,
        Action.CREATE,
        Action.SUBMIT,
        Action.CANCEL,
        Action.APPROVE,
        Action.RUN,
    ),
    Resource.CONSENT: (Action.READ, Action.GRANT),
    Resource.AUTHORIZATION: (Action.READ, Action.CREATE),
    Resource.MODEL: (Action.READ, Action.PUBLISH),
    Resource.AUDIT: (Action.READ, Action.VERIFY),
}

STAFF = frozenset({Role.PLATFORM_STAFF, Role.ADMIN})
BANK_USERS = frozenset({Role.BANK_MODELER, Role.DATA_SCIENTIST})
METADATA_READERS = STAFF | {Role.WORKER}
#: who grants consent for their own organization's indicators (agency; partner bank)
GRANTERS = frozenset({Role.AGENCY_OFFICER, Role.BANK_MODELER})


@dataclass(frozen=True)
class Principal:
    """The acting user: identity, role and organization. Carries no secret."""

    username: str
    role: Role
    org_id: int | None
    org_code: str = ""
    user_id: int | None = None

    @property
    def label(self) -> str:
        return self.username

    def describe(self) -> str:
        return f"user {self.username!r} ({Role(self.role).value} at {self.org_code or '-'})"

    @property
    def member_of(self) -> int:
        """The id of the actor's organization; :class:`AccessDeniedError` for a service
        identity that belongs to none (the worker)."""
        if self.org_id is None:
            raise AccessDeniedError(f"{self.describe()} belongs to no organization")
        return self.org_id

    @property
    def stored_user_id(self) -> int:
        """The actor's user id in the catalog; :class:`AccessDeniedError` for a service
        identity that is not a stored user (the worker)."""
        if self.user_id is None:
            raise AccessDeniedError(f"{self.describe()} is not a stored user")
        return self.user_id


@dataclass(frozen=True)
class Scope:
    """Facts about the object an action touches, for ownership rules."""

    owner_org_id: int | None = None  # bank/agency that owns the object
    counterpart_org_id: int | None = None  # consent: the bank it is granted to
    indicator_owner_ids: frozenset[int] = field(default_factory=frozenset)
    submitted: bool = False  # experiment: past draft (a request agencies may see)
    user_id: int | None = None  # user: whose record


def allowed(p: Principal, resource: Resource, action: Action, scope: Scope | None = None) -> bool:
    """True when ``p`` may perform ``action`` on ``resource`` (an object described by scope)."""
    s = scope or Scope()
    role = Role(p.role)
    own = p.org_id is not None and s.owner_org_id == p.org_id
    R, A = Resource, Action
    if action not in ACTIONS[resource]:
        return False
    if resource in (R.ORGANIZATION, R.USER) and action is A.CREATE:
        return role is Role.ADMIN
    if resource is R.ORGANIZATION:
        return True
    if resource is R.USER:
        return role in STAFF or (p.user_id is not None and p.user_id == s.user_id)
    if resource in (R.NODE, R.ALGORITHM):
        return action is A.READ or role in STAFF
    if resource is R.INDICATOR:
        if action is A.READ:
            return True
        return role in STAFF or (own and role in {Role.BANK_MODELER, Role.AGENCY_OFFICER})
    if resource is R.DATASET:
        if action is A.READ and role in METADATA_READERS:
            return True
        return role in STAFF or (own and role in BANK_USERS | {Role.AGENCY_OFFICER})
    if resource is R.SAMPLE:
        if action is A.READ and role in METADATA_READERS:
            return True
        if action is A.RUN:
            return role is Role.WORKER
        return own and role in BANK_USERS
    if resource is R.EXPERIMENT:
        if action is A.READ:
            agency_request = (
                role is Role.AGENCY_OFFICER and s.submitted and p.org_id in s.indicator_owner_ids
            )
            return role in METADATA_READERS or (own and role in BANK_USERS) or agency_request
        if action in (A.CREATE, A.SUBMIT):
            return own and role in BANK_USERS
        if action is A.CANCEL:
            return role in STAFF or (own and role in BANK_USERS)
        if action is A.APPROVE:
            return role in STAFF
        return role is Role.WORKER  # RUN
    if resource is R.CONSENT:
        granting_owner = own and role in GRANTERS
        if action is A.GRANT:
            return granting_owner
        receiving_bank = (
            p.org_id is not None and s.counterpart_org_id == p.org_id and role in BANK_USERS
        )
        return role in METADATA_READERS or granting_owner or receiving_bank
    if resource is R.AUTHORIZATION:
        if action is A.READ:
            return role in METADATA_READERS or (own and role in BANK_USERS)
        return role in STAFF or (own and role is Role.BANK_MODELER)
    if resource is R.MODEL:
        if action is A.READ:
            return role in STAFF or (own and role in BANK_USERS)
        return role in STAFF or (own and role is Role.BANK_MODELER)
    if resource is R.AUDIT:
        return role in STAFF
    return False  # pragma: no cover - every resource is handled above


def require(
    p: Principal, resource: Resource, action: Action, scope: Scope | None = None, *, what: str = ""
) -> None:
    """Raise :class:`AccessDeniedError` unless :func:`allowed`."""
    if not allowed(p, resource, action, scope):
        target = what or resource.value
        raise AccessDeniedError(f"{p.describe()} may not {action.value} {target}")


def owner_ids(ids: Collection[int]) -> frozenset[int]:
    return frozenset(int(i) for i in ids)


__all__ = ["ACTIONS", "Action", "Principal", "Resource", "Scope", "allowed", "owner_ids", "require"]
