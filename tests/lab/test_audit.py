"""The hash chain detects an edit, a deletion (inside or at the end), an insertion, a reorder."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text

from lab.audit import append_event, event_hash, verify_chain
from lab.db import session_scope
from lab.models import utcnow


def _chain(engine: Engine, n: int = 6) -> None:
    for i in range(n):
        with session_scope(engine) as s:
            append_event(
                s,
                actor=f"user{i}",
                action="create",
                object_type="sample",
                object_id=i,
                details={"n": i, "名称": "样本"},
            )
    with engine.begin() as conn:  # an attacker with database access drops the guard
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_event_no_update ON audit_event"))
        else:
            conn.execute(text("DROP TRIGGER audit_event_no_update"))
            conn.execute(text("DROP TRIGGER audit_event_no_delete"))


def _edit(conn: object) -> None:
    conn.execute(
        text("UPDATE audit_event SET details = :d WHERE seq = 3"),  # type: ignore[attr-defined]
        {"d": '{"n": 99, "名称": "样本"}'},
    )


def _delete_middle(conn: object) -> None:
    conn.execute(text("DELETE FROM audit_event WHERE seq = 3"))  # type: ignore[attr-defined]
    conn.execute(text("UPDATE audit_event SET seq = seq - 1 WHERE seq > 3"))  # type: ignore[attr-defined]


def _delete_last(conn: object) -> None:
    conn.execute(text("DELETE FROM audit_event WHERE seq = 6"))  # type: ignore[attr-defined]


def _reorder(conn: object) -> None:
    conn.execute(text("UPDATE audit_event SET seq = 100 WHERE seq = 2"))  # type: ignore[attr-defined]
    conn.execute(text("UPDATE audit_event SET seq = 2 WHERE seq = 4"))  # type: ignore[attr-defined]
    conn.execute(text("UPDATE audit_event SET seq = 4 WHERE seq = 100"))  # type: ignore[attr-defined]


def _insert(conn: object) -> None:
    """A forged event with a self-consistent hash, slotted in after event 3."""
    conn.execute(text("UPDATE audit_event SET seq = seq + 100 WHERE seq > 3"))  # type: ignore[attr-defined]
    conn.execute(text("UPDATE audit_event SET seq = seq - 99 WHERE seq > 100"))  # type: ignore[attr-defined]
    prev = conn.execute(text("SELECT hash FROM audit_event WHERE seq = 3")).scalar_one()  # type: ignore[attr-defined]
    at = utcnow()
    h = event_hash(
        seq=4,
        at=at,
        actor="mallory",
        action="approve",
        object_type="experiment",
        object_id="1",
        details={},
        prev_hash=prev,
    )
    conn.execute(
        text(
            "INSERT INTO audit_event (seq, at, actor, action, object_type, object_id, "  # type: ignore[attr-defined]
            "details, prev_hash, hash) VALUES (4, :at, 'mallory', 'approve', "
            "'experiment', '1', '{}', :p, :h)"
        ),
        {"at": at, "p": prev, "h": h},
    )


TAMPERS: dict[str, tuple[Callable[[object], None], str]] = {
    "edit": (_edit, "edited"),
    "delete-middle": (_delete_middle, "prev_hash"),
    "delete-last": (_delete_last, "cut off"),
    "reorder": (_reorder, "moved"),
    "insert": (_insert, "reordered"),
}


def test_untouched_chain_verifies(engine: Engine) -> None:
    _chain(engine)
    with session_scope(engine) as s:
        report = verify_chain(s)
    assert report.ok and report.events == 6 and "OK" in str(report)


@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_tampering_is_detected(engine: Engine, kind: str) -> None:
    _chain(engine)
    tamper, words = TAMPERS[kind]
    with engine.begin() as conn:
        tamper(conn)
    with session_scope(engine) as s:
        report = verify_chain(s)
    assert not report.ok, kind
    assert words in report.problem, (kind, str(report))
    assert "BROKEN" in str(report)


def test_guard_refuses_update_and_delete(engine: Engine) -> None:
    with session_scope(engine) as s:
        append_event(s, actor="a", action="x", object_type="y")
    for stmt in ("UPDATE audit_event SET actor = 'b'", "DELETE FROM audit_event"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(stmt))
    with session_scope(engine) as s:
        assert verify_chain(s).ok
