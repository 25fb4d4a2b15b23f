"""The catalog's entities: one family per entity (``XBase`` → ``XCreate``, ``X(table=True)``,
``XPublic``), after the full-stack FastAPI template.

What leaves the lab (CLI, SDK, sandbox) is only ever a ``*Public`` model or an aggregate:
password hashes, data locations at a party and enterprise IDs exist on table models only.
The catalog holds metadata, never raw records: a dataset registration is a schema and a
row count; a sample set is a label definition, an ID-list location at the bank and counts
(declared, or counted at the bank: totals and histograms, every cell >= k enterprises).
"""

from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from federation.default_rule import RuleDict, rule_dict
from lab.clock import utcnow
from lab.errors import CatalogError
from lab.statuses import (
    CountsSource,
    CountStatus,
    Decision,
    ExperimentStatus,
    ModelStatus,
    OrgKind,
    Role,
)


def row_id(row: SQLModel) -> int:
    """The primary key of a catalog row that has been read or flushed (a table model's
    ``id`` is None only before its first flush, when nothing may refer to it yet)."""
    value = getattr(row, "id", None)
    if value is None:
        raise CatalogError(f"{type(row).__name__} has no id yet; flush it before referring to it")
    return int(value)


def _enum(length: int = 32) -> Any:
    return String(length)


# ---------------------------------------------------------------- organization
class OrganizationBase(SQLModel):
    code: str = Field(min_length=1, max_length=64, regex=r"^[a-z0-9_\-]+$")
    name: str = Field(min_length=1, max_length=200)
    kind: OrgKind = Field(sa_type=_enum())


class OrganizationCreate(OrganizationBase):
    pass


class Organization(OrganizationBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class OrganizationPublic(OrganizationBase):
    id: int


# ---------------------------------------------------------------- user
class UserBase(SQLModel):
    username: str = Field(min_length=1, max_length=64, regex=r"^[A-Za-z0-9_.\-]+$")
    full_name: str = Field(default="", max_length=200)
    role: Role = Field(sa_type=_enum())
    is_active: bool = True


class UserCreate(UserBase):
    org_code: str
    password: str | None = Field(default=None, min_length=8, max_length=128, repr=False)


class User(UserBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    hashed_password: str | None = Field(default=None, repr=False)
    created_at: datetime = Field(default_factory=utcnow)


class UserPublic(UserBase):
    id: int
    org_id: int


# ---------------------------------------------------------------- federation node
class FederationNodeBase(SQLModel):
    name: str = Field(min_length=1, max_length=64, regex=r"^[A-Za-z0-9_\-]+$")
    address: str | None = Field(default=None, max_length=300)
    public_key_fingerprint: str | None = Field(default=None, max_length=200)


class FederationNodeCreate(FederationNodeBase):
    org_code: str


class FederationNode(FederationNodeBase, table=True):
    __tablename__ = "federation_node"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, index=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class FederationNodePublic(FederationNodeBase):
    id: int
    org_id: int


# ---------------------------------------------------------------- dataset registration
class DatasetBase(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    kind: str = Field(
        default="table",
        max_length=16,
        regex=r"^(table|records)$",
        description="table: one row per enterprise; records: a folder of the party's raw "
        "records (records_<table>.csv) from which it computes registry indicators",
    )
    id_column: str = Field(default="uscc", max_length=64)
    columns: list[dict[str, str]] = Field(default_factory=list, sa_type=JSON)
    row_count: int = Field(ge=0)
    description: str = ""


class DatasetCreate(DatasetBase):
    org_code: str
    location: str = Field(min_length=1, description="where the file lives at the party")


class DatasetRegistration(DatasetBase, table=True):
    __tablename__ = "dataset_registration"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    location: str  # at the party; never in a public view
    registered_at: datetime = Field(default_factory=utcnow)


class DatasetPublic(DatasetBase):
    id: int
    org_id: int


# ---------------------------------------------------------------- indicator (指标库)
class IndicatorBase(SQLModel):
    code: str = Field(
        min_length=1,
        max_length=64,
        regex=r"^[A-Za-z0-9_.]+$",
        description="letters, digits, '_' and '.' (registry codes such as TX_PAID_12M, "
        "a bank's copy as bank_a.BK_INFLOW_AVG_12M, columns such as taxes_paid_12m)",
    )
    name: str = Field(min_length=1, max_length=200, description="English name")
    name_zh: str = Field(default="", max_length=200)
    description: str = Field(default="", description="中文说明 (the formula in words)")
    description_en: str = Field(default="", description="English description")
    category: str = Field(default="", max_length=64)
    family: str = Field(
        default="aggregated",
        max_length=16,
        description="registry: computed from raw records as of the observation date; "
        "aggregated: a pre-aggregated column of the owner's registered dataset",
    )
    dimension: str = Field(default="", max_length=32, description="financial_health | ...")
    sub_dimension: str = Field(default="", max_length=32)
    column: str = Field(min_length=1, max_length=64, description="column in the owner's data")
    dtype: str = Field(default="float", max_length=16)
    unit: str = Field(default="", max_length=32)
    window: str = Field(default="", max_length=32, description="observation window, e.g. 12m")
    pit_rule: str = Field(default="", description="point-in-time rule (中文 / English)")
    source_tables: list[str] = Field(
        default_factory=list, sa_type=JSON, description="raw-record table: columns it reads"
    )
    sensitivity: str = Field(default="", max_length=4)


class IndicatorCreate(IndicatorBase):
    org_code: str
    dataset_name: str | None = None


class Indicator(IndicatorBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    owner_org_id: int = Field(foreign_key="organization.id", index=True)
    dataset_id: int | None = Field(default=None, foreign_key="dataset_registration.id")
    created_at: datetime = Field(default_factory=utcnow)


class IndicatorPublic(IndicatorBase):
    id: int
    owner_org_id: int
    owner_code: str = ""
    #: whether its owner registered the data it is computed from (a table or a record folder)
    computable: bool = False
    dimension_zh: str = ""
    sub_dimension_zh: str = ""
    family_zh: str = ""


# ---------------------------------------------------------------- sample set (样本库)
class SampleSetBase(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    label_column: str = Field(min_length=1, max_length=64)
    label_definition: str = Field(default="", description="e.g. 90+ days past due in 12 months")
    observation_start: date | None = None
    observation_end: date | None = None
    n_total: int = Field(default=0, ge=0)
    n_positive: int = Field(default=0, ge=0)
    label_horizon_months: int | None = Field(default=None, ge=1, le=120)  # performance window
    date_column: str = Field(default="observation_date", min_length=1, max_length=64)
    validation_start: date | None = None  # out of time: rows observed from it validate
    #: what counts as default (逾期定义) in ``label_column``, applied at the bank
    #: (federation.default_rule): label_is_binary | days_past_due >= N | status_in {codes}
    default_rule: RuleDict = Field(default_factory=lambda: rule_dict(None), sa_type=JSON)


class SampleSetCreate(SampleSetBase):
    dataset_name: str
    id_list_location: str = Field(min_length=1)


class SampleSet(SampleSetBase, table=True):
    __tablename__ = "sample_set"
    __table_args__ = (UniqueConstraint("owner_org_id", "name"),)  # old versions: "name (vN)"
    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(default=1, ge=1)  # an edit files a new row; the old one stays, renamed
    previous_id: int | None = None  # the sample_set id of the version this one replaces
    current: bool = True
    owner_org_id: int = Field(foreign_key="organization.id", index=True)
    dataset_id: int = Field(foreign_key="dataset_registration.id")
    id_list_location: str  # at the bank; never in a public view
    created_by: int = Field(foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    # "declared": n_total / n_positive as typed by the bank; "bank": counted at the bank
    counts_source: CountsSource = Field(default=CountsSource.DECLARED, sa_type=_enum(16))
    counted_at: datetime | None = None
    count_requested_by: str | None = Field(default=None, max_length=64)
    profile: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # aggregates >= k


class SampleSetEdit(SQLModel):
    """What an edit changes (None: kept); it files a new version, not counted yet."""

    id_list_location: str | None = Field(default=None, min_length=1)
    label_column: str | None = Field(default=None, min_length=1, max_length=64)
    label_definition: str | None = None
    label_horizon_months: int | None = Field(default=None, ge=1, le=120)
    observation_start: date | None = None
    observation_end: date | None = None
    date_column: str | None = Field(default=None, min_length=1, max_length=64)
    validation_start: date | None = None
    default_rule: RuleDict | None = None  # a new rule: the counts start over


class SampleSetPublic(SampleSetBase):
    id: int
    version: int = 1
    previous_id: int | None = None
    current: bool = True
    owner_org_id: int
    dataset_id: int
    created_by: int
    counts_source: CountsSource = CountsSource.DECLARED
    counted_at: datetime | None = None
    count_requested_by: str | None = None
    profile: dict[str, Any] = Field(default_factory=dict)


class SampleCount(SQLModel, table=True):
    """A request to count a sample set at its bank (the worker runs it): who asked, when,
    with which parameters (histogram columns, k), and what came back (aggregates >= k)."""

    __tablename__ = "sample_count"
    id: int | None = Field(default=None, primary_key=True)
    sample_id: int = Field(foreign_key="sample_set.id", index=True)
    owner_org_id: int = Field(foreign_key="organization.id", index=True)
    status: CountStatus = Field(default=CountStatus.REQUESTED, sa_type=_enum(), index=True)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    requested_by: int = Field(foreign_key="user.id")
    requested_by_name: str = Field(max_length=64)
    requested_at: datetime = Field(default_factory=utcnow)
    row_version: int = Field(default=1)
    claimed_by: str | None = Field(default=None, max_length=120)
    lease_owner: str | None = Field(default=None, max_length=120)
    lease_token: str | None = Field(default=None, max_length=32)
    lease_expires_at: datetime | None = None
    attempts: int = Field(default=0)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    failure_reason: str | None = None
    profile: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class SampleCountPublic(SQLModel):
    id: int
    sample_id: int
    owner_org_id: int
    status: CountStatus
    params: dict[str, Any]
    requested_by_name: str
    requested_at: datetime
    claimed_by: str | None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    attempts: int = 0
    started_at: datetime | None
    finished_at: datetime | None
    failure_reason: str | None
    profile: dict[str, Any]


# ---------------------------------------------------------------- algorithm (算法库)
class AlgorithmBase(SQLModel):
    name: str = Field(min_length=1, max_length=64)
    version: str = Field(default="1", max_length=32)
    kind: str = Field(default="vertical", max_length=16)  # vertical | horizontal
    description: str = ""
    # {"epochs": {"type": "int", "default": 10, "min": 1, "max": 200}, ...}
    param_schema: dict[str, dict[str, Any]] = Field(default_factory=dict, sa_type=JSON)


class AlgorithmCreate(AlgorithmBase):
    pass


class Algorithm(AlgorithmBase, table=True):
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)


class AlgorithmPublic(AlgorithmBase):
    id: int


# ---------------------------------------------------------------- experiment
class ExperimentBase(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    indicator_codes: list[str] = Field(default_factory=list, sa_type=JSON)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    purpose: str = Field(default="credit_risk_model", max_length=64)
    backend: str = Field(default="paillier", max_length=16)
    authorization_required: bool = True
    #: a horizontal experiment's other banks: one sample set of each, in that bank's 样本库
    #: (the owner's is ``sample_id``); empty for a vertical experiment
    partner_sample_ids: list[int] = Field(default_factory=list, sa_type=JSON)


class ExperimentCreate(ExperimentBase):
    sample_id: int
    algorithm: str
    algorithm_version: str | None = None
    #: None: the algorithm's recommended backend (the first the registry lists)
    backend: str | None = Field(default=None, max_length=16)  # type: ignore[assignment]


class Experiment(ExperimentBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    owner_org_id: int = Field(foreign_key="organization.id", index=True)
    created_by: int = Field(foreign_key="user.id")
    sample_id: int = Field(foreign_key="sample_set.id")
    algorithm_id: int = Field(foreign_key="algorithm.id")
    status: ExperimentStatus = Field(default=ExperimentStatus.DRAFT, sa_type=_enum(), index=True)
    row_version: int = Field(default=1)  # optimistic concurrency: bumped on every write
    claimed_by: str | None = Field(default=None, max_length=120)
    # the worker's lease while it is queued or running (lab.services.leases)
    lease_owner: str | None = Field(default=None, max_length=120)
    lease_token: str | None = Field(default=None, max_length=32)  # one per claim
    lease_expires_at: datetime | None = None
    attempts: int = Field(default=0)  # claims since it was last submitted
    progress: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    failure_reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ExperimentPublic(ExperimentBase):
    id: int
    owner_org_id: int
    created_by: int
    sample_id: int
    algorithm_id: int
    status: ExperimentStatus
    claimed_by: str | None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    attempts: int = 0
    progress: list[dict[str, Any]]
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class ExperimentTransition(SQLModel, table=True):
    """Who moved an experiment from which state to which, when and why."""

    __tablename__ = "experiment_transition"
    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiment.id", index=True)
    from_status: ExperimentStatus = Field(sa_type=_enum())
    to_status: ExperimentStatus = Field(sa_type=_enum())
    actor: str = Field(max_length=120)
    reason: str = ""
    at: datetime = Field(default_factory=utcnow)


class ExperimentTransitionPublic(SQLModel):
    from_status: ExperimentStatus
    to_status: ExperimentStatus
    actor: str
    reason: str
    at: datetime


# ---------------------------------------------------------------- approval
class Approval(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiment.id", index=True)
    decided_by: int = Field(foreign_key="user.id")
    decision: Decision = Field(sa_type=_enum())
    reason: str = ""
    at: datetime = Field(default_factory=utcnow)


class ApprovalPublic(SQLModel):
    id: int
    experiment_id: int
    decided_by: int
    decision: Decision
    reason: str
    at: datetime


# ---------------------------------------------------------------- consent grant (agency → bank)
class ConsentGrantBase(SQLModel):
    indicator_codes: list[str] = Field(default_factory=list, sa_type=JSON)
    purpose: str = Field(default="credit_risk_model", max_length=64)
    expires_at: datetime


class ConsentGrantCreate(ConsentGrantBase):
    bank_code: str


class ConsentGrant(ConsentGrantBase, table=True):
    __tablename__ = "consent_grant"
    id: int | None = Field(default=None, primary_key=True)
    agency_org_id: int = Field(foreign_key="organization.id", index=True)
    bank_org_id: int = Field(foreign_key="organization.id", index=True)
    granted_by: int = Field(foreign_key="user.id")
    granted_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class ConsentGrantPublic(ConsentGrantBase):
    id: int
    agency_org_id: int
    bank_org_id: int
    granted_by: int
    granted_at: datetime
    revoked_at: datetime | None


# ---------------------------------------------------------------- enterprise authorization
class EnterpriseAuthorization(SQLModel, table=True):
    """An enterprise's authorization (查询授权) for a bank: imported, shown as counts only."""

    __tablename__ = "enterprise_authorization"
    __table_args__ = (UniqueConstraint("bank_org_id", "uscc", "valid_from"),)
    id: int | None = Field(default=None, primary_key=True)
    bank_org_id: int = Field(foreign_key="organization.id", index=True)
    uscc: str = Field(max_length=18)
    valid_from: date
    valid_to: date
    batch: str = Field(default="", max_length=120)
    imported_at: datetime = Field(default_factory=utcnow)


class AuthorizationSummary(SQLModel):
    """The only public view of authorizations: counts, never enterprise IDs."""

    bank_org_id: int
    total: int
    valid: int
    as_of: date


# ---------------------------------------------------------------- model version (模型库)
class ModelVersionBase(SQLModel):
    name: str = Field(max_length=120)
    version: int = Field(ge=1)
    algorithm: str = Field(max_length=64)
    metrics: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    lineage: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    roc: dict[str, list[float]] = Field(default_factory=dict, sa_type=JSON)


class ModelVersion(ModelVersionBase, table=True):
    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiment.id", unique=True)
    owner_org_id: int = Field(foreign_key="organization.id", index=True)
    artifacts: dict[str, str] = Field(default_factory=dict, sa_type=JSON)  # party -> location
    status: ModelStatus = Field(default=ModelStatus.CANDIDATE, sa_type=_enum())
    created_at: datetime = Field(default_factory=utcnow)
    published_by: int | None = Field(default=None, foreign_key="user.id")
    published_at: datetime | None = None
    retired_at: datetime | None = None


class ModelVersionPublic(ModelVersionBase):
    id: int
    experiment_id: int
    owner_org_id: int
    parties: list[str] = Field(default_factory=list)
    status: ModelStatus
    created_at: datetime
    published_at: datetime | None
    retired_at: datetime | None


# ---------------------------------------------------------------- audit
class AuditEvent(SQLModel, table=True):
    """One append-only, hash-chained event; see lab/audit.py."""

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True, index=True)
    at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=120)
    action: str = Field(max_length=64)
    object_type: str = Field(max_length=64)
    object_id: str = Field(default="", max_length=64)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    #: HMAC-SHA256 of ``hash`` under the platform's audit key (lab.audit); None: no key
    mac: str | None = Field(default=None, max_length=64)


class AuditHead(SQLModel, table=True):
    """Single row: the chain's last sequence number and hash (the append lock)."""

    __tablename__ = "audit_head"
    id: int = Field(default=1, primary_key=True)
    last_seq: int = 0
    last_hash: str = Field(max_length=64)


class AuditEventPublic(SQLModel):
    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


# the access models (worker credentials, API tokens) live in their own module; one face here
from lab.models_access import (  # noqa: E402, F401
    ApiToken,
    ApiTokenPublic,
    WorkerCredential,
    WorkerCredentialPublic,
)

__all__ = sorted(
    name
    for name, obj in list(globals().items())
    if isinstance(obj, type)
    and issubclass(obj, SQLModel | Enum)
    and obj.__module__ in (__name__, "lab.statuses", "lab.models_access")
) + ["row_id", "utcnow"]
