"""audit guard: TRUNCATE refused, the chain head only moves forward, events carry a MAC

A database owner could empty the trail on PostgreSQL with TRUNCATE (row triggers do not
fire on it) and reset ``audit_head`` so that ``audit verify`` said ``OK: 0 events``. Now:

* PostgreSQL: statement triggers refuse TRUNCATE on ``audit_event`` and ``audit_head``
  (SQLite has no TRUNCATE; its DELETE fires the row triggers of 0002).
* ``audit_head`` (both backends): DELETE is refused; an UPDATE must advance ``last_seq`` by
  exactly one to an event that exists with that hash, so the head cannot be reset or
  pointed at a forged chain without a matching event.
* ``audit_event.mac``: an HMAC-SHA256 of the event's hash under the platform's audit key
  (``FEDLAB_AUDIT_KEY``), which the database does not hold (lab.audit); NULL where no key
  was configured. A rewrite by whoever controls the database then fails verification with
  the key, and the parties' signed receipts of the chain head (lab.audit_receipts) detect
  one without it.

Someone who owns the database can still drop these triggers; they make tampering
deliberate and visible, the MACs and receipts make it detectable.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FORWARD = (
    "NEW.id = OLD.id AND NEW.last_seq = OLD.last_seq + 1 AND EXISTS "
    "(SELECT 1 FROM audit_event e WHERE e.seq = NEW.last_seq AND e.hash = NEW.last_hash)"
)


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
            FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()
        """)
        op.execute(f"""
            CREATE FUNCTION audit_head_forward_only() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'UPDATE' THEN
                IF {_FORWARD} THEN
                  RETURN NEW;
                END IF;
              END IF;
              RAISE EXCEPTION 'audit_head only moves forward to an appended event';
            END $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER audit_head_forward BEFORE UPDATE OR DELETE ON audit_head
            FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only()
        """)
        op.execute("""
            CREATE FUNCTION audit_head_kept() RETURNS trigger AS $$
            BEGIN
              RAISE EXCEPTION 'audit_head only moves forward to an appended event';
            END $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
            FOR EACH STATEMENT EXECUTE FUNCTION audit_head_kept()
        """)
    else:
        op.execute(f"""
            CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head
            WHEN NOT ({_FORWARD})
            BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward to an appended event'); END
        """)
        op.execute("""
            CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
            BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward to an appended event'); END
        """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_head")
        op.execute("DROP FUNCTION IF EXISTS audit_head_kept()")
        op.execute("DROP TRIGGER IF EXISTS audit_head_forward ON audit_head")
        op.execute("DROP FUNCTION IF EXISTS audit_head_forward_only()")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_head_forward")
        op.execute("DROP TRIGGER IF EXISTS audit_head_no_delete")
    with op.batch_alter_table("audit_event", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("mac")
