"""Catalog tables of the access layer: worker credentials and the lab server's API tokens.

Re-exported by :mod:`lab.models` (import them from there). Only hashes of secrets are
stored: a worker's token as argon2, an API token as SHA-256 (lab.services.workers,
lab.services.tokens).

Revealed to whom: ids, names and dates in the public models; hashes to no one.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from lab.clock import utcnow


# ---------------------------------------------------------------- API token
class ApiToken(SQLModel, table=True):
    """A user's bearer token for the lab server: only its SHA-256 is kept (lab.services.tokens)."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str = Field(max_length=120)
    kind: str = Field(default="api", max_length=16)  # api (minted) | session (sign-in)
    token_hash: str = Field(max_length=64, unique=True, index=True, repr=False)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None


class ApiTokenPublic(SQLModel):
    id: int
    user_id: int
    name: str
    kind: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


# ---------------------------------------------------------------- worker credential
class WorkerCredential(SQLModel, table=True):
    """A lab worker's service credential, issued by an admin: only its argon2 hash is kept."""

    __tablename__ = "worker_credential"
    id: int | None = Field(default=None, primary_key=True)
    worker_id: str = Field(max_length=64, unique=True, index=True)
    token_hash: str = Field(repr=False)
    issued_by: int = Field(foreign_key="user.id")
    issued_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class WorkerCredentialPublic(SQLModel):
    id: int
    worker_id: str
    issued_by: int
    issued_at: datetime
    revoked_at: datetime | None = None


__all__ = ["ApiToken", "ApiTokenPublic", "WorkerCredential", "WorkerCredentialPublic"]
