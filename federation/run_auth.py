"""A party serves only runs the platform authorized: the check at the data owner's node.

A SuperNode given the platform's public key (node config ``platform-public-key``: a PEM
file, the key ``fedlab lab audit keygen`` wrote) refuses, in the run's setup and before it
reads any of its data, a run that does not carry a :class:`crypto.run_authorization.
RunAuthorization` for this party signed by the platform, or whose authorization does not
cover what the run asks: its role, every column named in the setup (no setup that asks for
"every column" unless the authorization says ``*``), the guest's label column, the
authorization's validity window, and every consent grant it rests on still unexpired. An
authorization serves one federation run: the node remembers, in its own work dir, which run
first used it, and refuses it for any other (a captured experiment config replayed). A
node without the key serves any run (one-machine trials, tests): enforcement is the data
owner's choice, made in its own node config, not the coordinator's.

Revealed to whom: the refusal names the party and what the authorization lacks (column
names, grant ids, dates), never a value of the party's data.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from crypto.errors import RunNotAuthorizedError
from crypto.receipts import load_public_key
from crypto.run_authorization import ALL_COLUMNS, RunAuthorization, parse_utc
from federation.party import PartyContext

PLATFORM_KEY_CONFIG = "platform-public-key"
USED_DIR = "authorizations-used"


def platform_key_file(ctx: PartyContext) -> str | None:
    """The platform's public key this node checks with (None: it checks nothing)."""
    raw = ctx.node_config.get(PLATFORM_KEY_CONFIG)
    return str(raw) if raw else None


def check_run_authorization(
    ctx: PartyContext,
    text: str,
    *,
    role: str,
    columns: tuple[str, ...],
    label: str,
    run_id: str = "",
    now: datetime | None = None,
) -> RunAuthorization | None:
    """Refuse the run unless the platform authorized this party for what it asks
    (:class:`RunNotAuthorizedError`); None where this node does not check."""
    key_file = platform_key_file(ctx)
    if key_file is None:
        return None
    me = f"party {ctx.name!r}"
    if not text:
        raise RunNotAuthorizedError(
            f"{me} serves only runs the platform authorized: this run carries no signed "
            "run authorization"
        )
    auth = RunAuthorization.from_json(text, f"{me}: the run's authorization")
    if not auth.valid_under(load_public_key(key_file)):
        raise RunNotAuthorizedError(f"{me}: the run's authorization is not signed by the platform")
    if auth.party != ctx.name or auth.role != role:
        raise RunNotAuthorizedError(
            f"{me}: the run's authorization is for party {auth.party!r} as {auth.role}, "
            f"not for {ctx.name!r} as {role}"
        )
    at = now or datetime.now(UTC)
    if not parse_utc(auth.issued_at) <= at <= parse_utc(auth.expires_at):
        raise RunNotAuthorizedError(
            f"{me}: the run's authorization is valid from {auth.issued_at} to "
            f"{auth.expires_at}, not now"
        )
    lapsed = [g for g in auth.grants if parse_utc(g.expires_at) < at]
    if lapsed:
        raise RunNotAuthorizedError(
            f"{me}: consent grant(s) {[g.id for g in lapsed]} the run rests on expired "
            f"({', '.join(g.expires_at for g in lapsed)})"
        )
    if ALL_COLUMNS not in auth.columns:
        if not columns:
            raise RunNotAuthorizedError(
                f"{me}: the run asks for every column, the authorization names {list(auth.columns)}"
            )
        extra = [c for c in columns if c not in auth.columns]
        if extra:
            raise RunNotAuthorizedError(
                f"{me}: column(s) {extra} are not in the run's authorization "
                f"(authorized: {list(auth.columns)})"
            )
    if label and label != auth.label:
        raise RunNotAuthorizedError(
            f"{me}: the run asks for the label column {label!r}, the authorization names "
            f"{auth.label or 'none'!r}"
        )
    _claim(ctx, auth, run_id)
    return auth


def _claim(ctx: PartyContext, auth: RunAuthorization, run_id: str) -> None:
    """Remember the federation run that first used ``auth``; refuse it for another run."""
    if ctx.home is None or not run_id:
        return  # no node work dir (a local run): nothing outlives the run to replay into
    digest = hashlib.sha256(bytes.fromhex(auth.signature)).hexdigest()[:32]
    path = ctx.home / USED_DIR / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as fh:
            fh.write(run_id)
        return
    except FileExistsError:
        first = path.read_text(encoding="utf-8").strip()
    if first != run_id:
        raise RunNotAuthorizedError(
            f"party {ctx.name!r}: the run's authorization for {auth.run!r} was already used "
            f"by run {first}; each authorization serves one run"
        )


__all__ = ["PLATFORM_KEY_CONFIG", "check_run_authorization", "platform_key_file"]
