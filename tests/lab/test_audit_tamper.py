"""Audit that survives a database owner (issue: trust boundary, item 3), replayed as attacks.

On both backends the catalog refuses to empty the trail (TRUNCATE on PostgreSQL, DELETE
on both) and to reset or redirect the chain head. An attacker who owns the database drops
those guards and rewrites the chain with every hash recomputed: the unkeyed chain then
verifies, the keyed one does not (its MACs need FEDLAB_AUDIT_KEY, which the database never
holds), and the receipts the parties kept detect the rewrite, the truncation and the reset
head even without the key. A state set by SQL past the services (an experiment approved, a
model published) is flagged by `audit verify`. A worker's run leaves each party a signed
receipt on its own disk, and `fedlab lab audit verify --receipts` checks the catalog
against them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import World
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text
from sqlmodel import select

from crypto.receipts import Receipt, private_pem, public_pem
from lab.audit import GENESIS_HASH, append_event, event_hash, verify_chain
from lab.audit_receipts import check_receipts, issue_receipts
from lab.audit_state import check_state
from lab.db import session_scope
from lab.models import AuditEvent
from lab.services import audit as audit_svc
from lab.settings import get_settings

KEY = "k" * 40


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The platform's audit key and receipt-signing key pair (the public key's path)."""
    key = Ed25519PrivateKey.generate()
    (tmp_path / "sign.pem").write_bytes(private_pem(key))
    (tmp_path / "pub.pem").write_bytes(public_pem(key.public_key()))
    monkeypatch.setenv("FEDLAB_AUDIT_KEY", KEY)
    monkeypatch.setenv("FEDLAB_AUDIT_SIGNING_KEY", str(tmp_path / "sign.pem"))
    get_settings.cache_clear()
    yield tmp_path / "pub.pem"
    get_settings.cache_clear()


def _events(engine: Engine, n: int = 5) -> None:
    for i in range(n):
        with session_scope(engine) as s:
            append_event(s, actor=f"u{i}", action="create", object_type="sample", object_id=i)


def _drop_guards(conn: object) -> None:
    """What a database owner can do: drop every trigger of the trail."""
    pg = conn.engine.dialect.name == "postgresql"  # type: ignore[attr-defined]
    triggers = [
        ("audit_event_no_update", "audit_event"),
        ("audit_event_no_delete", "audit_event"),
        ("audit_event_no_truncate", "audit_event"),
        ("audit_head_forward", "audit_head"),
        ("audit_head_no_delete", "audit_head"),
        ("audit_head_no_truncate", "audit_head"),
    ]
    for name, table in triggers:
        conn.execute(  # type: ignore[attr-defined]
            text(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if pg else ""))
        )


def _rewrite_all(conn: object, actor: str = "mallory") -> None:
    """Rewrite every event's actor and recompute the whole chain (and the head)."""
    rows = conn.execute(  # type: ignore[attr-defined]
        text("SELECT seq, at, action, object_type, object_id FROM audit_event ORDER BY seq")
    ).all()
    prev = GENESIS_HASH
    for seq, at, action, otype, oid in rows:
        at = datetime.fromisoformat(at) if isinstance(at, str) else at  # SQLite gives text
        h = event_hash(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            object_type=otype,
            object_id=oid,
            details={},
            prev_hash=prev,
        )
        conn.execute(  # type: ignore[attr-defined]
            text(
                "UPDATE audit_event SET actor = :a, details = '{}', prev_hash = :p, hash = :h, "
                "mac = NULL WHERE seq = :s"
            ),
            {"a": actor, "p": prev, "h": h, "s": seq},
        )
        prev = h
    conn.execute(  # type: ignore[attr-defined]
        text("UPDATE audit_head SET last_seq = :n, last_hash = :h"), {"n": len(rows), "h": prev}
    )


def test_the_head_cannot_be_reset_or_deleted_and_the_trail_not_emptied(engine: Engine) -> None:
    _events(engine)
    attacks = [
        "UPDATE audit_head SET last_seq = 0, last_hash = '" + GENESIS_HASH + "'",
        "UPDATE audit_head SET last_seq = last_seq + 1",  # ahead of any event
        "DELETE FROM audit_head",
        "DELETE FROM audit_event",
    ]
    if engine.dialect.name == "postgresql":
        attacks += ["TRUNCATE audit_event", "TRUNCATE audit_head", "TRUNCATE audit_event CASCADE"]
    for stmt in attacks:
        with pytest.raises(Exception, match="append-only|only moves forward"):
            with engine.begin() as conn:
                conn.execute(text(stmt))
    with session_scope(engine) as s:
        report = verify_chain(s)
    assert report.ok and report.events == 5


def test_a_rewrite_from_the_start_passes_the_unkeyed_chain_but_not_the_key(
    engine: Engine, keyed: Path
) -> None:
    _events(engine)
    with session_scope(engine) as s:
        assert str(verify_chain(s, KEY.encode())).endswith("5 keyed by MAC")
    with engine.begin() as conn:
        _drop_guards(conn)
        _rewrite_all(conn)
    with session_scope(engine) as s:
        assert verify_chain(s).ok  # the unkeyed chain alone cannot tell
        report = verify_chain(s, KEY.encode())
    assert not report.ok and "audit key" in report.problem and report.seq == 1


def test_a_forged_mac_under_another_key_is_refused(engine: Engine, keyed: Path) -> None:
    _events(engine, 3)
    with engine.begin() as conn:
        _drop_guards(conn)
        conn.execute(text("UPDATE audit_event SET mac = :m WHERE seq = 2"), {"m": "0" * 64})
    with session_scope(engine) as s:
        report = verify_chain(s, KEY.encode())
    assert not report.ok and report.seq == 2 and "MAC does not match" in report.problem


@pytest.mark.parametrize("attack", ["truncate-and-reset", "rewrite"])
def test_the_parties_receipts_detect_what_the_database_owner_did(
    engine: Engine, keyed: Path, tmp_path: Path, attack: str
) -> None:
    _events(engine, 4)
    with session_scope(engine) as s:
        receipts = issue_receipts(s, run="experiment-1", parties=["bank_a", "tax"])
    kept = [(tmp_path / f"{p}.receipt.json", r) for p, r in receipts.items()]
    with session_scope(engine) as s:
        assert check_receipts(s, kept) == []
    with engine.begin() as conn:
        _drop_guards(conn)
        if attack == "rewrite":
            _rewrite_all(conn)
        else:
            conn.execute(text("DELETE FROM audit_event"))
            conn.execute(
                text("UPDATE audit_head SET last_seq = 0, last_hash = :g"), {"g": GENESIS_HASH}
            )
    with session_scope(engine) as s:
        chain = verify_chain(s)
        problems = check_receipts(s, kept)
    assert chain.ok  # without receipts (and without the key) the trail looks fine
    assert len(problems) == 2 and all("experiment-1" in p for p in problems)
    words = "rewritten" if attack == "rewrite" else "gone"
    assert all(words in p for p in problems), problems


def test_a_receipt_not_signed_by_the_platform_is_refused(
    engine: Engine, keyed: Path, tmp_path: Path
) -> None:
    _events(engine, 2)
    with session_scope(engine) as s:
        real = issue_receipts(s, run="experiment-2", parties=["tax"])["tax"]
    other = Ed25519PrivateKey.generate()
    forged = Receipt(run=real.run, party="tax", seq=1, head_hash=real.head_hash, at=real.at).signed(
        other
    )
    edited = Receipt(**{**real.__dict__, "seq": 1})  # the platform's signature, other content
    unsigned = Receipt(**{**real.__dict__, "signature": ""})
    kept = [(tmp_path / n, r) for n, r in (("f", forged), ("e", edited), ("u", unsigned))]
    with session_scope(engine) as s:
        problems = check_receipts(s, kept)
    assert len(problems) == 3
    assert "not the platform's" in problems[0] and "not the platform's" in problems[1]
    assert "unsigned" in problems[2]


def test_a_state_set_by_sql_is_flagged(world: World) -> None:
    from lab.sdk import Lab

    engine = world.engine
    with session_scope(engine) as s:
        assert check_state(s) == []
    exp = Lab(engine, world.who("bank_a_ds")).experiments.create(
        name="sneaky",
        sample=world.seed.samples["bank_a"],
        algorithm="hetero_lr",
        indicators=["taxes_paid_12m"],
        params={"epochs": 1},
    )
    with engine.begin() as conn:  # bank_a approves its own experiment by SQL
        stored = conn.execute(text("SELECT status FROM experiment WHERE id = :i"), {"i": exp.id})
        draft = stored.scalar_one()
        approved = "APPROVED" if draft.isupper() else "approved"
        conn.execute(
            text("UPDATE experiment SET status = :s WHERE id = :i"), {"s": approved, "i": exp.id}
        )
    staff = world.who("staff")
    with session_scope(engine) as s:
        problems = check_state(s)
        report = audit_svc.verify(session=s, actor=staff)
    assert problems == [f"experiment {exp.id} is approved without an approval by platform staff"]
    assert not report.ok and report.chain.ok and "state BROKEN" in str(report)


def test_events_before_the_key_stand_only_before_the_first_keyed_one(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _events(engine, 2)  # no key yet
    monkeypatch.setenv("FEDLAB_AUDIT_KEY", KEY)
    get_settings.cache_clear()
    try:
        _events(engine, 2)
        with session_scope(engine) as s:
            assert "no MAC" in verify_chain(s, KEY.encode()).problem  # prefix not declared
            report = verify_chain(s, KEY.encode(), unkeyed=2)
            macs = [e.mac for e in s.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()]
        assert report.ok and report.keyed == 2 and "2 before the key" in str(report)
        assert macs[:2] == [None, None] and all(macs[2:])
        with engine.begin() as conn:
            _drop_guards(conn)
            conn.execute(text("UPDATE audit_event SET mac = NULL WHERE seq = 4"))
        with session_scope(engine) as s:
            broken = verify_chain(s, KEY.encode(), unkeyed=2)
        assert not broken.ok and broken.seq == 4 and "no MAC" in broken.problem
    finally:
        get_settings.cache_clear()


def test_a_party_keeps_a_signed_receipt_and_refuses_a_forged_one(
    engine: Engine, keyed: Path, tmp_path: Path
) -> None:
    from crypto.errors import ProtocolError
    from federation.party import PartyContext
    from federation.receipts import keep_receipt
    from federation.roles import PartyRole

    _events(engine, 3)
    with session_scope(engine) as s:
        real = issue_receipts(s, run="experiment-7", parties=["tax"])["tax"]
    node = {"platform-public-key": str(keyed)}
    ctx = PartyContext(
        name="tax",
        role=PartyRole.HOST,
        data_path=None,
        work_dir=tmp_path / "run",
        node_config=node,
        home=tmp_path / "node",
    )
    path = keep_receipt(ctx, real.to_json())
    assert path == tmp_path / "node" / "receipts" / "experiment-7.tax.receipt.json"
    assert Receipt.from_json(path.read_text()) == real
    forged = Receipt(**{**real.__dict__, "seq": 1})
    with pytest.raises(ProtocolError, match="not signed by the platform"):
        keep_receipt(ctx, forged.to_json())
    with pytest.raises(ProtocolError, match="receipt of party 'bank_a'"):
        keep_receipt(ctx, Receipt(**{**real.__dict__, "party": "bank_a"}).to_json())


def test_keygen_writes_a_private_signing_key_and_never_overwrites_it(tmp_path: Path) -> None:
    from crypto.receipts import load_private_key, load_public_key
    from lab.cli import main

    for code in (0, 2):
        with pytest.raises(SystemExit) as done:
            main(["lab", "audit", "keygen", "--out", str(tmp_path)])
        assert done.value.code == code
    private = tmp_path / "audit_signing_key.pem"
    assert private.stat().st_mode & 0o077 == 0
    key = load_private_key(private)
    assert load_public_key(tmp_path / "audit_public_key.pem").public_bytes_raw() == (
        key.public_key().public_bytes_raw()
    )
