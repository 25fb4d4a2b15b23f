"""The SDK's governance sections: consents (授权) and the enterprise authorizations a bank
imports, and the audit trail.

What it reveals, to whom: consent grants and authorization counts (never an enterprise)
to the officers and banks they concern, the audit trail to those who may read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from lab.client.base import Part, Table
from lab.errors import ConfigError
from lab.models import (
    AuthorizationSummary,
    ConsentGrantCreate,
    ConsentGrantPublic,
    utcnow,
)
from lab.services import audit as audit_svc
from lab.services import consent


class Consents(Part):
    def grant(
        self,
        *,
        bank: str,
        indicators: Iterable[str],
        days: int = 365,
        expires_at: datetime | None = None,
        purpose: str = "credit_risk_model",
    ) -> ConsentGrantPublic:
        """Agency officers: let ``bank`` use these indicators for ``purpose`` until expiry."""
        return self.lab.call(
            consent.grant_consent,
            consent_in=ConsentGrantCreate(
                bank_code=bank,
                indicator_codes=list(indicators),
                purpose=purpose,
                expires_at=expires_at or utcnow() + timedelta(days=days),
            ),
        )

    def list(self) -> Table[ConsentGrantPublic]:
        return Table(self.lab.call(consent.list_consents))

    def revoke(self, consent_id: int, reason: str) -> ConsentGrantPublic:
        """Agency officers: withdraw a grant; experiments relying on it stop at the next check."""
        return self.lab.call(consent.revoke_consent, consent_id=consent_id, reason=reason)

    def authorizations(self, bank: str, as_of: date | None = None) -> AuthorizationSummary:
        """Counts of enterprise authorizations for a bank (never the enterprises)."""
        return self.lab.call(consent.authorization_summary, bank_code=bank, as_of=as_of)

    def import_authorizations(
        self, path: str | Path, *, bank: str, batch: str = ""
    ) -> AuthorizationSummary:
        """Import a bank's enterprise authorizations (查询授权) from a CSV with columns
        uscc, granted_on, expires_on (and optionally bank: other banks' rows are skipped).
        Returns counts only."""
        if not Path(path).is_file():
            raise ConfigError(
                f"authorization file {str(path)!r} does not exist",
                hint="Pass the CSV the bank exported (uscc, granted_on, expires_on).",
            )
        rows = consent.read_authorization_csv(path, bank=bank)
        return self.lab.call(
            consent.import_authorizations, bank_code=bank, rows=rows, batch=batch or Path(path).name
        )


class Audit(Part):
    def verify(self, receipts: str | None = None) -> Any:
        """The chain, the catalog state and (``receipts``: a folder of the parties'
        ``*.receipt.json``) what the parties were told; ``.ok`` and ``str()``."""
        return self.lab.call(audit_svc.verify, receipts=receipts)

    def log(self, limit: int = 50) -> Table[Any]:
        return Table(self.lab.call(audit_svc.list_events, limit=limit))


__all__ = [
    "Audit",
    "Consents",
]
