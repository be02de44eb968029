"""The audit chain proves its own completeness, and no tamper crashes `audit verify`.

Each test acts as an attacker with database access, on SQLite and PostgreSQL, then expects
`cordwatch audit verify` to exit 1 naming what is wrong; an untouched database verifies.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import DBAPIError

from db.audit import AUDIT_HEAD, GENESIS_ACTION, create_append_only_triggers
from db.repository import AUDIT
from tests.audit.conftest import as_attacker, verify

pytestmark = pytest.mark.usefixtures("restore_triggers")


@pytest.fixture
def restore_triggers(engine: Engine) -> Iterator[None]:
    """The PostgreSQL test database outlives a test: put back what a test dropped."""
    yield
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_change ON audit_entry"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_entry"))
            conn.execute(text("DROP FUNCTION IF EXISTS audit_entry_refuse() CASCADE"))
            column = conn.execute(
                text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'audit_entry' AND column_name = 'reason'"
                )
            ).scalar_one()
            if column != "text":
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                conn.execute(text("DELETE FROM audit_entry"))
                conn.execute(
                    text("ALTER TABLE audit_entry ALTER COLUMN reason TYPE text USING NULL")
                )
                conn.execute(text("SET LOCAL session_replication_role = origin"))
            create_append_only_triggers(conn)


def test_a_fresh_database_starts_with_a_genesis_entry(engine: Engine) -> None:
    with engine.connect() as conn:
        first = conn.execute(select(AUDIT).order_by(AUDIT.c.id)).first()

    code, report = verify(engine)

    assert first is not None
    assert (first.id, first.action, first.prev_hash) == (1, GENESIS_ACTION, "0" * 64)
    assert (code, report["ok"], report["missing_triggers"]) == (0, True, [])


def test_an_emptied_trail_without_its_head_is_reported(engine: Engine, trail: int) -> None:
    with as_attacker(engine) as conn:
        conn.execute(AUDIT.delete())
        conn.execute(AUDIT_HEAD.delete())

    code, report = verify(engine)

    assert code == 1
    assert report["ok"] is False
    assert "head" in report["problem"]["explanation"]


def test_an_emptied_trail_with_its_head_reset_is_reported(engine: Engine, trail: int) -> None:
    with as_attacker(engine) as conn:
        conn.execute(AUDIT.delete())
        conn.execute(update(AUDIT_HEAD).values(last_id=0, last_hash="0" * 64))

    code, report = verify(engine)

    assert code == 1
    assert "genesis" in report["problem"]["explanation"]


def test_replacing_an_entry_is_refused(engine: Engine, trail: int) -> None:
    with engine.connect() as conn:
        row = conn.execute(select(AUDIT).where(AUDIT.c.id == 3)).one()
    values = {**row._asdict(), "reason": "rewritten"}
    columns = ", ".join(values)
    placeholders = ", ".join(f":{name}" for name in values)
    if engine.dialect.name == "sqlite":
        statement = f"INSERT OR REPLACE INTO audit_entry ({columns}) VALUES ({placeholders})"
    else:
        statement = (
            f"INSERT INTO audit_entry ({columns}) VALUES ({placeholders}) "
            "ON CONFLICT (id) DO UPDATE SET reason = EXCLUDED.reason"
        )

    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement), values)

    assert verify(engine)[0] == 0


def test_a_value_of_the_wrong_type_is_reported_not_a_crash(engine: Engine, trail: int) -> None:
    with as_attacker(engine) as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("UPDATE audit_entry SET reason = X'00ff' WHERE id = 4"))
            conn.execute(text("UPDATE audit_entry SET at = 'not a time' WHERE id = 6"))
        else:
            conn.execute(
                text("ALTER TABLE audit_entry ALTER COLUMN reason TYPE bytea USING reason::bytea")
            )
            conn.execute(text("UPDATE audit_entry SET reason = '\\x00ff'::bytea WHERE id = 4"))

    code, report = verify(engine)

    assert code == 1
    # PostgreSQL changed the column of every entry: the first with a reason is named.
    first = 4 if engine.dialect.name == "sqlite" else 1
    assert (report["problem"]["entry_id"], report["problem"]["kind"]) == (first, "changed")
    assert "reason" in report["problem"]["explanation"]


def test_a_dropped_or_disabled_trigger_is_reported(engine: Engine, trail: int) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_entry_no_delete"))
            missing = ["audit_entry_no_delete"]
        else:
            conn.execute(text("DROP TRIGGER audit_entry_no_truncate ON audit_entry"))
            conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_change"))
            missing = ["audit_entry_no_change (disabled)", "audit_entry_no_truncate"]

    code, report = verify(engine)

    assert code == 1
    assert report["missing_triggers"] == missing
    assert report["problem"] is None  # the entries themselves are intact


def test_two_swapped_entries_name_the_first_of_them(engine: Engine, trail: int) -> None:
    with as_attacker(engine) as conn:
        conn.execute(update(AUDIT).where(AUDIT.c.id == 5).values(id=-5))
        conn.execute(update(AUDIT).where(AUDIT.c.id == 6).values(id=5))
        conn.execute(update(AUDIT).where(AUDIT.c.id == -5).values(id=6))

    code, report = verify(engine)

    assert code == 1
    assert report["problem"]["entry_id"] == 5


def test_an_untouched_trail_verifies_with_every_trigger(engine: Engine, trail: int) -> None:
    code, report = verify(engine)

    assert (code, report["ok"], report["problem"], report["missing_triggers"]) == (
        0,
        True,
        None,
        [],
    )


def test_a_trail_written_before_migration_0006_still_verifies(tmp_path: Path) -> None:
    from datetime import timedelta

    from db.audit import append_audit, verify_chain
    from db.engine import make_engine
    from db.migrate import upgrade
    from tests.conftest import NOW

    engine = make_engine(f"sqlite:///{tmp_path}/before.db")
    upgrade(engine, "0005")
    with engine.begin() as conn:
        append_audit(
            conn,
            [
                {
                    "at": NOW + timedelta(seconds=n),
                    "action": "event.accepted",
                    "occurred_at": NOW - timedelta(hours=n),
                    "actor": "Sam",
                    "details": {"n": n},
                }
                for n in range(5)
            ],
        )
    with engine.connect() as conn:
        before = conn.execute(select(AUDIT.c.id, AUDIT.c.entry_hash).order_by(AUDIT.c.id)).all()

    upgrade(engine)

    with engine.connect() as conn:
        after = conn.execute(select(AUDIT.c.id, AUDIT.c.entry_hash).order_by(AUDIT.c.id)).all()
        last = conn.execute(select(AUDIT.c.action).where(AUDIT.c.id == 6)).scalar_one()
        report = verify_chain(conn)
    engine.dispose()
    assert after[:5] == before  # the entries and their hashes are untouched
    assert last == GENESIS_ACTION
    assert (report.ok, report.entries) == (True, 6)
