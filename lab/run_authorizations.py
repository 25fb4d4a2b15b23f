"""Run authorizations the worker issues to every party of a run it starts (运行授权).

After the run's start has re-checked approval and consents (lab.services.experiment_runs),
the worker signs, for each party, a :class:`crypto.run_authorization.RunAuthorization`: the
run, the party and its role, the columns of the party's data the experiment uses (the
catalog's indicator columns of that owner; the experiment's own bank, when it names none of
its own, its whole table: ``*``), the guest's label column, the consent grants of
that owner the run rests on with their expiry, and a validity of
:data:`RUN_AUTHORIZATION_HOURS`. A bank's own job on its own data (counting its sample) is
authorized for every column (``*``). It travels in the run's setup; a party that checks
(node config ``platform-public-key``: federation.run_auth) refuses a run without one that
covers what it asks. Signed with the platform's key (``FEDLAB_AUDIT_SIGNING_KEY``); without
a key the worker issues none, and parties that check refuse its runs.

Revealed to whom: each party learns which of its own columns the run uses, the ids and
expiry of its own consent grants, and the run's name.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from crypto.run_authorization import ALL_COLUMNS, Grant, RunAuthorization, utc_text
from federation.roles import PartyRole
from lab.audit_receipts import signing_key
from lab.jobs.configs import PartyFacts
from lab.models import ConsentGrant, Experiment
from lab.services.catalog import node_for_org
from lab.services.consent import consent_needs
from lab.services.organizations import get_org

RUN_AUTHORIZATION_HOURS = 24
"""How long a run authorization is valid from its issue (a run that takes longer is
refused at its next setup, never in the middle of one)."""


def _grants_by_party(session: Session, exp: Experiment) -> dict[str, list[Grant]]:
    out: dict[str, list[Grant]] = {}
    for need in consent_needs(session, exp):
        if need.grant_id is None or need.status != "granted":
            continue
        grant = session.get(ConsentGrant, need.grant_id)
        org = get_org(session, need.agency)
        if grant is None or org.id is None:
            continue
        node = node_for_org(session, org.id)
        out.setdefault(node.name, []).append(Grant(grant.id or 0, utc_text(grant.expires_at)))
    return out


def authorize_parties(
    *,
    run: str,
    parties: Iterable[PartyFacts],
    columns: Mapping[str, Iterable[str]],
    grants: Mapping[str, list[Grant]] | None = None,
    purpose: str = "",
    now: datetime | None = None,
) -> dict[str, RunAuthorization]:
    """One signed authorization per party ({} without the platform's signing key)."""
    key = signing_key()
    if key is None:
        return {}
    at = (now or datetime.now(UTC)).replace(microsecond=0)
    out = {}
    for p in parties:
        auth = RunAuthorization(
            run=run,
            party=p.name,
            role=p.role.value,
            columns=tuple(columns.get(p.name, ())),
            issued_at=utc_text(at),
            expires_at=utc_text(at + timedelta(hours=RUN_AUTHORIZATION_HOURS)),
            label=p.label or "",
            purpose=purpose,
            grants=tuple((grants or {}).get(p.name, ())),
            nonce=secrets.token_hex(8),
        )
        out[p.name] = auth.signed(key)
    return out


def experiment_authorizations(
    session: Session,
    exp: Experiment,
    *,
    run: str,
    parties: Iterable[PartyFacts],
    features: Mapping[str, Iterable[str]],
) -> dict[str, RunAuthorization]:
    """The authorizations of an experiment's run: each party's indicator columns, its
    owner's consent grants the run rests on. The experiment's own bank, when it names none
    of its own indicators, trains on its whole table (its own data): every column."""
    parties = list(parties)
    columns = {p.name: list(features.get(p.name, ())) for p in parties}
    for p in parties:
        if p.role is PartyRole.GUEST and not columns[p.name]:
            columns[p.name] = [ALL_COLUMNS]
    return authorize_parties(
        run=run,
        parties=parties,
        columns=columns,
        grants=_grants_by_party(session, exp),
        purpose=exp.purpose,
    )


def own_data_authorization(run: str, party: PartyFacts) -> dict[str, RunAuthorization]:
    """A bank's own job on its own data (a sample count): every column."""
    return authorize_parties(run=run, parties=[party], columns={party.name: [ALL_COLUMNS]})


__all__ = [
    "RUN_AUTHORIZATION_HOURS",
    "authorize_parties",
    "experiment_authorizations",
    "own_data_authorization",
]
