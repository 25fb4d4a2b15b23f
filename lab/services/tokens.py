"""Bearer tokens of the lab server (lab.server): sign-in sessions and API tokens a user
mints for a notebook.

A token is 256 random bits (``flt_…``); the catalog keeps only its SHA-256, with its owner,
name, kind, expiry and revocation. :func:`sign_in` checks a password (always: the server
never signs a name in without one) and issues a session token; :func:`mint_token` issues
an API token to the signed-in user, at most :data:`MAX_TOKEN_DAYS` days; :func:`revoke_token`
stops one (its owner, or an admin); :func:`principal_for_token` is what the server asks on
every request. Every refusal is the same :class:`~lab.errors.SignInError`.

Revealed to whom: a token once, to the user it was issued to; token names, kinds and
dates to their owner (and to admins); hashes to no one.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from lab.audit import append_event
from lab.errors import AccessDeniedError, ConfigError, NotFoundError, SignInError
from lab.models import ApiToken, ApiTokenPublic, Organization, Role, User, utcnow
from lab.services.access import Principal
from lab.services.organizations import authenticate, principal_for

PREFIX = "flt_"
SESSION_HOURS = 12
MAX_TOKEN_DAYS = 90
TOKEN_REFUSED = "sign-in refused: unknown, expired or revoked token"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _issue(
    session: Session, user_id: int, name: str, kind: str, valid: timedelta
) -> tuple[ApiTokenPublic, str]:
    token = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        user_id=user_id,
        name=name,
        kind=kind,
        token_hash=_digest(token),
        created_at=now,
        expires_at=now + valid,
    )
    session.add(row)
    session.flush()
    return ApiTokenPublic.model_validate(row), token


def sign_in(*, session: Session, username: str, password: str) -> tuple[ApiTokenPublic, str]:
    """A session token for ``username`` after its password checked (never without one)."""
    me = authenticate(session=session, username=username, password=password, password_required=True)
    tok, token = _issue(
        session, me.user_id or 0, "session", "session", timedelta(hours=SESSION_HOURS)
    )
    append_event(
        session,
        actor=me.label,
        action="user.sign_in",
        object_type="user",
        object_id=me.user_id or "",
    )
    return tok, token


def mint_token(
    *, session: Session, actor: Principal, name: str, days: int = 30
) -> tuple[ApiTokenPublic, str]:
    """An API token for the signed-in user (a notebook's), valid ``days`` (1 to 90)."""
    if actor.user_id is None:
        raise AccessDeniedError(f"{actor.describe()} is not a user and mints no tokens")
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ConfigError(f"a token is valid 1 to {MAX_TOKEN_DAYS} days, not {days}")
    if not name.strip() or len(name) > 120:
        raise ConfigError("a token needs a name of 1 to 120 characters")
    tok, token = _issue(session, actor.user_id, name.strip(), "api", timedelta(days=days))
    append_event(
        session,
        actor=actor.label,
        action="token.mint",
        object_type="api_token",
        object_id=tok.id,
        details={"name": tok.name, "days": days},
    )
    return tok, token


def list_tokens(*, session: Session, actor: Principal) -> list[ApiTokenPublic]:
    """The user's own tokens (an admin's: everyone's)."""
    stmt = select(ApiToken).order_by(col(ApiToken.id))
    if Role(actor.role) is not Role.ADMIN:
        stmt = stmt.where(ApiToken.user_id == (actor.user_id or -1))
    return [ApiTokenPublic.model_validate(t) for t in session.exec(stmt).all()]


def revoke_token(*, session: Session, actor: Principal, token_id: int) -> ApiTokenPublic:
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != actor.user_id and Role(actor.role) is not Role.ADMIN):
        raise NotFoundError(f"no token {token_id} of yours")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        append_event(
            session,
            actor=actor.label,
            action="token.revoke",
            object_type="api_token",
            object_id=token_id,
        )
    return ApiTokenPublic.model_validate(row)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def principal_for_token(session: Session, token: str | None) -> Principal:
    """The user a bearer token stands for (:class:`SignInError` for any bad token)."""
    row = None
    if token and token.startswith(PREFIX):
        row = session.exec(select(ApiToken).where(ApiToken.token_hash == _digest(token))).first()
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= utcnow():
        raise SignInError(TOKEN_REFUSED, hint="Sign in again, or mint a new API token.")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise SignInError(TOKEN_REFUSED, hint="Sign in again, or mint a new API token.")
    org = session.get(Organization, user.org_id)
    assert org is not None
    return principal_for(user, org)


__all__ = [
    "MAX_TOKEN_DAYS",
    "PREFIX",
    "SESSION_HOURS",
    "TOKEN_REFUSED",
    "list_tokens",
    "mint_token",
    "principal_for_token",
    "revoke_token",
    "sign_in",
]
