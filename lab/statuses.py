"""The catalog's enumerations: organization kinds, roles and the statuses of experiments,
models, sample counts and decisions (stored as their string values).

Nothing here is data; these are the names every layer of the lab shares (``lab.models``
re-exports them).
"""

from enum import Enum


class OrgKind(str, Enum):
    BANK = "bank"
    AGENCY = "agency"
    PLATFORM = "platform"


class Role(str, Enum):
    BANK_MODELER = "bank_modeler"
    DATA_SCIENTIST = "data_scientist"
    AGENCY_OFFICER = "agency_officer"
    PLATFORM_STAFF = "platform_staff"
    ADMIN = "admin"
    WORKER = "worker"  # the runner's service account: claims and records runs only


class ExperimentStatus(str, Enum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ModelStatus(str, Enum):
    CANDIDATE = "candidate"
    PUBLISHED = "published"
    RETIRED = "retired"


class CountsSource(str, Enum):
    NONE = "none"  # not counted yet (未计数): a new sample or a new version
    DECLARED = "declared"  # typed in by the bank
    BANK = "bank"  # counted at the bank by a sample count


class CountStatus(str, Enum):
    REQUESTED = "requested"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Decision(str, Enum):
    APPROVED = "approved"
    REJECTED = "rejected"


__all__ = [
    "CountStatus",
    "CountsSource",
    "Decision",
    "ExperimentStatus",
    "ModelStatus",
    "OrgKind",
    "Role",
]
