"""Consent grants (data owner → bank, for named indicators, a purpose and an expiry) and
enterprise authorizations (查询授权, imported; visible as counts only).

A data owner is an agency, or a bank whose indicators another bank's experiment uses (a
partner bank of a horizontal experiment, lab.services.horizontal). Its consent is its
decision alone: only an agency officer of the owning agency, or a bank modeler of the
owning bank, grants or revokes it. Enterprise IDs of authorizations stay in the catalog for
the runner (which hands them to each bank's own party process); every public view is a
count.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, col, select

from lab.audit import append_event
from lab.errors import (
    AccessDeniedError,
    AuthorizationError,
    ConfigError,
    ConsentError,
    DataValidationError,
    NotFoundError,
)
from lab.models import (
    AuthorizationSummary,
    ConsentGrant,
    ConsentGrantCreate,
    ConsentGrantPublic,
    EnterpriseAuthorization,
    Experiment,
    Indicator,
    Organization,
    OrgKind,
    row_id,
    utcnow,
)
from lab.services.access import Action, Principal, Resource, Scope, allowed, require
from lab.services.catalog import get_indicators, get_org
from lab.services.horizontal import partner_indicators


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


# ------------------------------------------------------------------ consent grants
def grant_consent(
    *, session: Session, actor: Principal, consent_in: ConsentGrantCreate
) -> ConsentGrantPublic:
    """The actor's agency (or bank) lets ``bank_code`` use the listed indicators for
    ``purpose``."""
    require(
        actor,
        Resource.CONSENT,
        Action.GRANT,
        Scope(owner_org_id=actor.org_id),
        what="consent for indicators",
    )
    if not consent_in.indicator_codes:
        raise ConfigError("a consent grant must name at least one indicator")
    indicators = get_indicators(session, consent_in.indicator_codes)
    foreign = [i.code for i in indicators if i.owner_org_id != actor.org_id]
    if foreign:
        raise AccessDeniedError(
            f"{actor.describe()} may not grant consent for indicators of other "
            f"organizations: {foreign}"
        )
    bank = get_org(session, consent_in.bank_code)
    if bank.kind != OrgKind.BANK:
        raise ConfigError(f"consent goes to a bank; {bank.code!r} is a {bank.kind}")
    if bank.id == actor.member_of:
        raise ConfigError(f"{bank.code!r} uses its own indicators without a consent")
    expires = _aware(consent_in.expires_at)
    if expires <= utcnow():
        raise ConfigError(f"consent expiry {expires.isoformat()} is in the past")
    grant = ConsentGrant(
        indicator_codes=list(consent_in.indicator_codes),
        purpose=consent_in.purpose,
        expires_at=expires,
        agency_org_id=actor.member_of,
        bank_org_id=row_id(bank),
        granted_by=actor.stored_user_id,
    )
    session.add(grant)
    session.flush()
    append_event(
        session,
        actor=actor.label,
        action="grant",
        object_type="consent",
        object_id=grant.id or "",
        details={
            "agency": actor.org_code,
            "bank": bank.code,
            "purpose": grant.purpose,
            "indicators": grant.indicator_codes,
            "expires_at": expires.isoformat(),
        },
    )
    return ConsentGrantPublic.model_validate(grant)


def revoke_consent(
    *, session: Session, actor: Principal, consent_id: int, reason: str
) -> ConsentGrantPublic:
    grant = session.get(ConsentGrant, consent_id)
    if grant is None:
        raise NotFoundError(f"no consent grant with id {consent_id}")
    require(
        actor,
        Resource.CONSENT,
        Action.GRANT,
        Scope(owner_org_id=grant.agency_org_id),
        what=f"consent {consent_id}",
    )
    grant.revoked_at = utcnow()
    session.add(grant)
    append_event(
        session,
        actor=actor.label,
        action="revoke",
        object_type="consent",
        object_id=consent_id,
        details={"reason": reason},
    )
    return ConsentGrantPublic.model_validate(grant)


def get_consent(*, session: Session, actor: Principal, consent_id: int) -> ConsentGrantPublic:
    grant = session.get(ConsentGrant, consent_id)
    if grant is None:
        raise NotFoundError(f"no consent grant with id {consent_id}")
    require(
        actor,
        Resource.CONSENT,
        Action.READ,
        Scope(owner_org_id=grant.agency_org_id, counterpart_org_id=grant.bank_org_id),
        what=f"consent {consent_id}",
    )
    return ConsentGrantPublic.model_validate(grant)


def list_consents(*, session: Session, actor: Principal) -> list[ConsentGrantPublic]:
    rows = session.exec(select(ConsentGrant).order_by(col(ConsentGrant.id))).all()
    return [
        ConsentGrantPublic.model_validate(g)
        for g in rows
        if allowed(
            actor,
            Resource.CONSENT,
            Action.READ,
            Scope(owner_org_id=g.agency_org_id, counterpart_org_id=g.bank_org_id),
        )
    ]


@dataclass(frozen=True)
class ConsentNeed:
    """Consent one agency must give for one experiment."""

    agency: str
    indicators: tuple[str, ...]
    status: str  # granted | missing | expired | revoked
    grant_id: int | None = None
    expired_at: datetime | None = None

    def __str__(self) -> str:
        base = f"{self.agency}: {list(self.indicators)} {self.status}"
        if self.expired_at is not None:
            base += f" (expired {self.expired_at:%Y-%m-%d %H:%M} UTC)"
        return base


def consent_needs(
    session: Session, experiment: Experiment, *, at: datetime | None = None
) -> list[ConsentNeed]:
    """Per data owner whose indicators the experiment uses (agencies; the partner banks of
    a horizontal experiment): is there a valid grant covering them?"""
    now = _aware(at) if at else utcnow()
    indicators = get_indicators(session, list(experiment.indicator_codes))
    by_owner: dict[int, list[Indicator]] = {}
    for ind in indicators:
        if ind.owner_org_id != experiment.owner_org_id:
            by_owner.setdefault(ind.owner_org_id, []).append(ind)
    for bank_id, inds in partner_indicators(session, experiment).items():
        by_owner.setdefault(bank_id, []).extend(inds)
    needs: list[ConsentNeed] = []
    for owner_id, inds in sorted(by_owner.items()):
        org = session.get(Organization, owner_id)
        codes = tuple(i.code for i in inds)
        grants = session.exec(
            select(ConsentGrant).where(
                ConsentGrant.agency_org_id == owner_id,
                ConsentGrant.bank_org_id == experiment.owner_org_id,
                ConsentGrant.purpose == experiment.purpose,
            )
        ).all()
        covering = [g for g in grants if set(codes) <= set(g.indicator_codes)]
        valid = [g for g in covering if g.revoked_at is None and _aware(g.expires_at) > now]
        code = org.code if org else str(owner_id)
        if valid:
            needs.append(ConsentNeed(code, codes, "granted", valid[0].id))
        elif any(g.revoked_at is None for g in covering):
            last = max(
                (g for g in covering if g.revoked_at is None), key=lambda g: _aware(g.expires_at)
            )
            needs.append(ConsentNeed(code, codes, "expired", last.id, _aware(last.expires_at)))
        elif covering:
            needs.append(ConsentNeed(code, codes, "revoked", covering[-1].id))
        else:
            needs.append(ConsentNeed(code, codes, "missing"))
    return needs


def require_consents(
    session: Session, experiment: Experiment, *, at: datetime | None = None
) -> list[ConsentNeed]:
    """Raise :class:`ConsentError` naming every agency whose consent is not in force."""
    needs = consent_needs(session, experiment, at=at)
    bad = [n for n in needs if n.status != "granted"]
    if bad:
        bank = session.get(Organization, experiment.owner_org_id)
        raise ConsentError(
            f"experiment {experiment.id} ({experiment.name!r}) of "
            f"{bank.code if bank else experiment.owner_org_id!r} lacks consent for purpose "
            f"{experiment.purpose!r}: " + "; ".join(str(n) for n in bad)
        )
    return needs


# ------------------------------------------------------------------ enterprise authorizations
def import_authorizations(
    *,
    session: Session,
    actor: Principal,
    bank_code: str,
    rows: Iterable[tuple[str, date, date]],
    batch: str = "",
) -> AuthorizationSummary:
    """Import (uscc, valid_from, valid_to) rows for a bank; duplicates are skipped."""
    bank = get_org(session, bank_code)
    require(
        actor,
        Resource.AUTHORIZATION,
        Action.CREATE,
        Scope(owner_org_id=bank.id),
        what=f"authorizations of {bank_code!r}",
    )
    existing = set(
        session.exec(
            select(
                col(EnterpriseAuthorization.uscc), col(EnterpriseAuthorization.valid_from)
            ).where(EnterpriseAuthorization.bank_org_id == bank.id)
        ).all()
    )
    added = 0
    for n, (uscc, valid_from, valid_to) in enumerate(rows, start=1):
        uscc = uscc.strip()
        if len(uscc) != 18:
            raise DataValidationError(
                f"authorization row {n}: USCC must have 18 characters, got {len(uscc)}"
            )
        if valid_to < valid_from:
            raise DataValidationError(f"authorization row {n}: valid_to before valid_from")
        if (uscc, valid_from) in existing:
            continue
        existing.add((uscc, valid_from))
        session.add(
            EnterpriseAuthorization(
                bank_org_id=row_id(bank),
                uscc=uscc,
                valid_from=valid_from,
                valid_to=valid_to,
                batch=batch,
            )
        )
        added += 1
    session.flush()
    summary = _summary(session, bank.id or 0, date.today())
    append_event(
        session,
        actor=actor.label,
        action="import",
        object_type="authorization",
        object_id=bank.code,
        details={"added": added, "total": summary.total, "batch": batch},
    )
    return summary


def read_authorization_csv(
    path: str | Path, bank: str | None = None
) -> list[tuple[str, date, date]]:
    """Rows of an authorization table (columns uscc, bank, granted_on, expires_on; the
    synthetic generator's format), optionally only those for ``bank``."""
    path = Path(path)
    out: list[tuple[str, date, date]] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"uscc", "granted_on", "expires_on"}
        if not need <= set(reader.fieldnames or []):
            raise DataValidationError(
                f"{path}: needs columns {sorted(need)}, has {reader.fieldnames}"
            )
        for n, row in enumerate(reader, start=2):
            if bank is not None and row.get("bank", bank) != bank:
                continue
            try:
                out.append(
                    (
                        row["uscc"],
                        date.fromisoformat(row["granted_on"]),
                        date.fromisoformat(row["expires_on"]),
                    )
                )
            except ValueError:
                raise DataValidationError(
                    f"{path} line {n}: dates must be ISO (YYYY-MM-DD)"
                ) from None
    return out


def _summary(session: Session, bank_id: int, as_of: date) -> AuthorizationSummary:
    base = (
        select(func.count())
        .select_from(EnterpriseAuthorization)
        .where(EnterpriseAuthorization.bank_org_id == bank_id)
    )
    total = session.exec(base).one()
    valid = session.exec(
        base.where(
            EnterpriseAuthorization.valid_from <= as_of, EnterpriseAuthorization.valid_to >= as_of
        )
    ).one()
    return AuthorizationSummary(bank_org_id=bank_id, total=total, valid=valid, as_of=as_of)


def authorization_summary(
    *, session: Session, actor: Principal, bank_code: str, as_of: date | None = None
) -> AuthorizationSummary:
    bank = get_org(session, bank_code)
    require(
        actor,
        Resource.AUTHORIZATION,
        Action.READ,
        Scope(owner_org_id=bank.id),
        what=f"authorizations of {bank_code!r}",
    )
    return _summary(session, bank.id or 0, as_of or date.today())


def require_authorizations(
    session: Session, bank_org_id: int, as_of: date | None = None
) -> AuthorizationSummary:
    summary = _summary(session, bank_org_id, as_of or date.today())
    if summary.valid == 0:
        bank = session.get(Organization, bank_org_id)
        raise AuthorizationError(
            f"bank {bank.code if bank else bank_org_id!r} has no enterprise authorization valid "
            f"on {summary.as_of.isoformat()} ({summary.total} imported in all); "
            "its enterprises' data cannot be used"
        )
    return summary


def export_authorizations(session: Session, bank_org_id: int, path: Path) -> int:
    """Write the bank's authorizations to ``path`` (for its own party process only)."""
    rows = session.exec(
        select(EnterpriseAuthorization)
        .where(EnterpriseAuthorization.bank_org_id == bank_org_id)
        .order_by(col(EnterpriseAuthorization.id))
    ).all()
    bank = session.get(Organization, bank_org_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["uscc", "bank", "granted_on", "expires_on"])
        for r in rows:
            w.writerow(
                [
                    r.uscc,
                    bank.code if bank else "",
                    r.valid_from.isoformat(),
                    r.valid_to.isoformat(),
                ]
            )
    return len(rows)


__all__ = [
    "AuthorizationError",
    "ConsentNeed",
    "authorization_summary",
    "consent_needs",
    "export_authorizations",
    "get_consent",
    "grant_consent",
    "import_authorizations",
    "list_consents",
    "read_authorization_csv",
    "require_authorizations",
    "require_consents",
    "revoke_consent",
]
