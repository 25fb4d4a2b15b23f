"""Lab workers as principals: credentials an admin issues, checked when a worker starts.

:func:`register_worker` (admins only) issues a worker id a random token, shown once; the
catalog keeps only its argon2 hash. :func:`authenticate_worker` turns (worker id, token)
into the worker's principal: outside ``FEDLAB_ENVIRONMENT=local`` a worker needs a valid,
unrevoked credential, and a wrong or revoked token is refused everywhere; every refusal is
the same :class:`~lab.errors.SignInError`, whatever the reason, so it tells an attacker
nothing about which ids exist. :func:`revoke_worker` stops a credential: the worker's next
start is refused, and a running one keeps only the lease it already holds.

Revealed to whom: worker ids, who issued them and when, to staff and admins; the token to
the admin who issued it, once; its hash to no one.
"""

from __future__ import annotations

import secrets

from sqlmodel import Session, col, select

from lab.audit import append_event
from lab.errors import ConfigError, NotFoundError, SignInError
from lab.models import WorkerCredential, WorkerCredentialPublic, utcnow
from lab.services.access import STAFF, Action, Principal, Resource, require
from lab.services.organizations import hash_secret, secret_ok, worker_principal

WORKER_SIGN_IN_REFUSED = "worker sign-in refused: unknown worker id or wrong token"
TOKEN_BYTES = 32
"""Random bytes in a worker token (256 bits: not guessable, no rate limit needed)."""


def _row(session: Session, worker_id: str) -> WorkerCredential | None:
    return session.exec(
        select(WorkerCredential).where(WorkerCredential.worker_id == worker_id)
    ).first()


def register_worker(
    *, session: Session, actor: Principal, worker_id: str
) -> tuple[WorkerCredentialPublic, str]:
    """A new credential for ``worker_id`` (admins only): the public row and the token."""
    require(actor, Resource.USER, Action.CREATE, what="worker credentials")
    if not worker_id or len(worker_id) > 64:
        raise ConfigError("a worker id is 1 to 64 characters")
    if _row(session, worker_id) is not None:
        raise ConfigError(
            f"worker {worker_id!r} is already registered",
            hint="Revoke it first (`fedlab lab workers revoke`), or pick another id.",
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = WorkerCredential(
        worker_id=worker_id, token_hash=hash_secret(token), issued_by=actor.user_id or 0
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="worker.register",
        object_type="worker",
        object_id=worker_id,
    )
    return WorkerCredentialPublic.model_validate(row), token


def revoke_worker(
    *, session: Session, actor: Principal, worker_id: str, reason: str
) -> WorkerCredentialPublic:
    require(actor, Resource.USER, Action.CREATE, what="worker credentials")
    row = _row(session, worker_id)
    if row is None:
        raise NotFoundError(f"no registered worker {worker_id!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        append_event(
            session,
            actor=actor.label,
            action="worker.revoke",
            object_type="worker",
            object_id=worker_id,
            details={"reason": reason},
        )
    return WorkerCredentialPublic.model_validate(row)


def list_workers(*, session: Session, actor: Principal) -> list[WorkerCredentialPublic]:
    if actor.role not in STAFF:
        require(actor, Resource.USER, Action.CREATE, what="worker credentials")
    rows = session.exec(select(WorkerCredential).order_by(col(WorkerCredential.id))).all()
    return [WorkerCredentialPublic.model_validate(r) for r in rows]


def authenticate_worker(
    session: Session, worker_id: str, token: str | None, *, required: bool
) -> Principal:
    """The worker's principal, or :class:`SignInError`: a token must match an unrevoked
    credential; with ``required`` (outside the local environment) a token is needed."""
    if token is None and not required:
        return worker_principal(worker_id)
    row = _row(session, worker_id)
    stored = row.token_hash if row is not None and row.revoked_at is None else None
    if not secret_ok(stored, token):
        raise SignInError(
            WORKER_SIGN_IN_REFUSED,
            hint="An admin issues a worker its credential: `fedlab lab workers register "
            "--id ID`; the worker reads it from FEDLAB_WORKER_TOKEN.",
        )
    return worker_principal(worker_id)


__all__ = [
    "WORKER_SIGN_IN_REFUSED",
    "authenticate_worker",
    "list_workers",
    "register_worker",
    "revoke_worker",
]
