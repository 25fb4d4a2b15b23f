"""Lab settings: one pydantic-settings object read from ``FEDLAB_*`` environment variables.

Nothing here leaves the machine. ``FEDLAB_AUDIT_KEY`` (at least 32 characters) keys the
audit chain's MACs, ``FEDLAB_AUDIT_SIGNING_KEY`` / ``FEDLAB_AUDIT_PUBLIC_KEY`` are the
Ed25519 PEM files that sign and check the parties' receipts of the chain head
(lab.audit_receipts); neither key is stored in the catalog. ``FEDLAB_AUDIT_UNKEYED_EVENTS``
(default 0) is how many events the trail held when the key was first configured.
``FEDLAB_LEASE_SECONDS`` (default 30) is how long a worker's claim on a job lasts without a
heartbeat, ``FEDLAB_LEASE_MAX_ATTEMPTS`` (3) how many claims a job gets before a lost lease
fails it, ``FEDLAB_DRAIN_SECONDS`` (30) how long a worker told to stop (SIGTERM, SIGINT) lets its
current job finish. ``FEDLAB_MIN_CELL`` is k, the fewest enterprises any figure the lab's
services release may aggregate: the one setting of :mod:`features.disclosure` (default and
floor :data:`~features.disclosure.DEFAULT_MIN_CELL`, 10; a lower value is refused). The
database URL may carry a password: it is a ``SecretStr`` and only
:attr:`Settings.safe_database_url` (password masked) may be logged. A value the lab cannot
use is one :class:`~lab.errors.SettingsError` that names each variable and what is wrong
with it, never the value (it may be a password).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.disclosure import DEFAULT_MIN_CELL, MIN_CELL_ENV, raise_min_cell
from lab.errors import SettingsError

DEFAULT_HOME = Path(".fedlab")
PLACEHOLDER_SECRETS = frozenset({"changethis", "change-me", "password", "admin", ""})


class Settings(BaseSettings):
    """``FEDLAB_DATABASE_URL``, ``FEDLAB_HOME``, ``FEDLAB_ENVIRONMENT`` ... (prefix ``FEDLAB_``)."""

    model_config = SettingsConfigDict(env_prefix="FEDLAB_", extra="ignore")

    environment: Literal["local", "staging", "production"] = "local"
    home: Path = DEFAULT_HOME
    database_url: SecretStr | None = None
    runs_dir: Path | None = None
    worker_poll_seconds: float = Field(default=2.0, gt=0)
    # a claimed job's lease (lab.jobs.lease): renewed every lease_seconds / 3 while it runs
    lease_seconds: float = Field(default=30.0, gt=0)
    lease_max_attempts: int = Field(default=3, ge=1)  # then a lost lease fails the job
    drain_seconds: float = Field(default=30.0, ge=0)  # SIGTERM: time to finish the job
    min_cell: int = DEFAULT_MIN_CELL  # k of lab.services.disclosure (features.disclosure)
    first_admin: str = "admin"
    first_admin_password: SecretStr = SecretStr("changethis")
    # the audit trail (lab.audit, lab.audit_receipts): a MAC key the database never holds,
    # and the Ed25519 key that signs the parties' receipts of the chain head (PEM files)
    audit_key: SecretStr | None = None
    audit_signing_key: Path | None = None
    audit_public_key: Path | None = None
    # events appended before the key was configured (they carry no MAC); recorded here, out
    # of the database, so that stripping MACs is not mistaken for an old unkeyed prefix
    audit_unkeyed_events: int = Field(default=0, ge=0)

    @field_validator("audit_key")
    @classmethod
    def _long_audit_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and 0 < len(value.get_secret_value()) < 32:
            raise ValueError("FEDLAB_AUDIT_KEY must be at least 32 characters")
        return value

    @field_validator("min_cell", mode="before")
    @classmethod
    def _k_only_raised(cls, value: object) -> int:
        return raise_min_cell(DEFAULT_MIN_CELL, value, source=MIN_CELL_ENV)

    @model_validator(mode="after")
    def _no_placeholder_secrets_outside_local(self) -> Settings:
        if self.environment != "local" and (
            self.first_admin_password.get_secret_value() in PLACEHOLDER_SECRETS
        ):
            raise ValueError(
                "FEDLAB_FIRST_ADMIN_PASSWORD is a placeholder; set a real password "
                f"when FEDLAB_ENVIRONMENT={self.environment}"
            )
        return self

    @property
    def database_url_value(self) -> str:
        """The URL to connect with (default: a SQLite file under ``FEDLAB_HOME``)."""
        if self.database_url is not None and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.home / 'lab.db'}"

    @property
    def safe_database_url(self) -> str:
        """The URL with any password masked: the only form that may be printed or logged."""
        from sqlalchemy.engine import make_url

        return make_url(self.database_url_value).render_as_string(hide_password=True)

    @property
    def runs_path(self) -> Path:
        return self.runs_dir if self.runs_dir is not None else self.home / "runs"

    @property
    def passwords_required(self) -> bool:
        """Outside ``local``, connecting as a user needs that user's password."""
        return self.environment != "local"


ENV_PREFIX = "FEDLAB_"


def settings_error(exc: ValidationError) -> SettingsError:
    """One error naming every bad ``FEDLAB_*`` variable and the reason, without its value."""
    problems = []
    for e in exc.errors(include_url=False, include_input=False, include_context=False):
        names = [str(p) for p in e["loc"]]
        where = ENV_PREFIX + "_".join(names).upper() + ": " if names else ""
        problems.append(where + str(e["msg"]).removeprefix("Value error, "))
    return SettingsError("bad lab settings: " + "; ".join(problems))


def load_settings() -> Settings:
    """The settings read now (:class:`SettingsError` when a value cannot be used)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise settings_error(exc) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, read once per process (:func:`load_settings`)."""
    return load_settings()


__all__ = ["ENV_PREFIX", "Settings", "get_settings", "load_settings", "settings_error"]
