"""The audit trail is a hash chain the database will not let anyone edit, and tampering shows.

Tamper tests act as an attacker with database access: they set the append-only triggers aside
(SQLite: drop them; PostgreSQL: ``session_replication_role = replica``) and then edit, delete or
insert rows; ``cordwatch audit verify`` must name the first bad entry each time.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from cordwatch.cli import app
from db.audit import AUDIT_HEAD, append_audit, audit_entry, entry_hash, verify_chain
from db.engine import make_engine
from db.migrate import upgrade
from db.repository import AUDIT
from tests.audit.conftest import as_attacker, verify
from tests.conftest import NOW

runner = CliRunner()


def test_an_untouched_chain_verifies(engine: Engine, trail: int) -> None:
    code, report = verify(engine)

    assert trail == 18
    assert code == 0
    assert report["ok"] is True
    assert report["entries"] == report["head_id"] == 18


def test_a_trail_with_only_its_genesis_entry_verifies(engine: Engine) -> None:
    code, report = verify(engine)

    assert (code, report["entries"], report["problem"]) == (0, 1, None)


def test_the_database_refuses_a_plain_update(engine: Engine, trail: int) -> None:
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(update(AUDIT).where(AUDIT.c.id == 3).values(reason="nothing to see"))


def test_the_database_refuses_a_plain_delete(engine: Engine, trail: int) -> None:
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(AUDIT.delete().where(AUDIT.c.id == 3))


def test_an_edited_entry_is_named(engine: Engine, trail: int) -> None:
    with as_attacker(engine) as conn:
        conn.execute(update(AUDIT).where(AUDIT.c.id == 5).values(actor="someone else"))

    code, report = verify(engine)

    assert code == 1
    assert report["problem"]["entry_id"] == 5
    assert report["problem"]["kind"] == "changed"


def test_an_edited_entry_with_its_hash_recomputed_is_named(engine: Engine, trail: int) -> None:
    with as_attacker(engine) as conn:
        row = conn.execute(select(AUDIT).where(AUDIT.c.id == 5)).one()
        forged = {**row._asdict(), "occurred_at": row.occurred_at - timedelta(hours=3)}
        conn.execute(
            update(AUDIT)
            .where(AUDIT.c.id == 5)
            .values(
                occurred_at=forged["occurred_at"],
                entry_hash=entry_hash(row.prev_hash, forged),
            )
        )

    code, report = verify(engine)

    assert code == 1
    assert (report["problem"]["entry_id"], report["problem"]["kind"]) == (5, "changed")


def test_a_deleted_entry_is_named(engine: Engine, trail: int) -> None:
    with as_attacker(engine) as conn:
        conn.execute(AUDIT.delete().where(AUDIT.c.id == 7))

    code, report = verify(engine)

    assert code == 1
    assert (report["problem"]["entry_id"], report["problem"]["kind"]) == (7, "removed")


def test_deleted_last_entries_are_named_against_the_head(engine: Engine, trail: int) -> None:
    with as_attacker(engine) as conn:
        conn.execute(AUDIT.delete().where(AUDIT.c.id >= 16))

    code, report = verify(engine)

    assert code == 1
    assert (report["problem"]["entry_id"], report["problem"]["kind"]) == (16, "removed")


def test_an_entry_inserted_at_the_end_is_named(engine: Engine, trail: int) -> None:
    with as_attacker(engine) as conn:
        last = conn.execute(select(AUDIT).where(AUDIT.c.id == trail)).one()
        forged = audit_entry(at=NOW, action="event.accepted", actor="attacker", event_id="fake")
        conn.execute(
            insert(AUDIT).values(
                id=trail + 1,
                prev_hash=last.entry_hash,
                entry_hash=entry_hash(last.entry_hash, forged),
                **forged,
            )
        )

    code, report = verify(engine)

    assert code == 1
    assert (report["problem"]["entry_id"], report["problem"]["kind"]) == (19, "inserted")


def test_an_entry_inserted_in_the_middle_is_named(engine: Engine, trail: int) -> None:
    # Entries 9..17 move up one id; a forged entry 9, correctly chained to entry 8, goes in.
    with as_attacker(engine) as conn:
        for old_id in range(trail, 8, -1):
            conn.execute(update(AUDIT).where(AUDIT.c.id == old_id).values(id=old_id + 1))
        eighth = conn.execute(select(AUDIT).where(AUDIT.c.id == 8)).one()
        forged = audit_entry(at=NOW, action="event.accepted", actor="attacker", event_id="fake")
        conn.execute(
            insert(AUDIT).values(
                id=9,
                prev_hash=eighth.entry_hash,
                entry_hash=entry_hash(eighth.entry_hash, forged),
                **forged,
            )
        )

    code, report = verify(engine)

    assert code == 1
    assert report["problem"]["entry_id"] == 9


def test_a_plain_verify_prints_the_first_bad_entry(engine: Engine, trail: int) -> None:
    with as_attacker(engine) as conn:
        conn.execute(update(AUDIT).where(AUDIT.c.id == 2).values(reason="edited"))

    result = runner.invoke(app, ["audit", "verify"])

    assert result.exit_code == 1
    assert "entry 2" in result.stdout


def test_clock_stops_and_configuration_are_audited_with_details(engine: Engine, trail: int) -> None:
    with engine.connect() as conn:
        rows = conn.execute(select(AUDIT).order_by(AUDIT.c.id)).all()

    configuration = json.loads(rows[1].details)
    clock = next(r for r in rows if r.action == "clock.met")
    # The referral entry records the pinned configuration too.
    assert rows[0].action == "audit.genesis"
    assert rows[1].action == "configuration.changed"
    assert configuration["configuration"]["ruleset"] == "nice-ng234-2023"
    assert configuration["previous"] is None
    assert json.loads(rows[2].details)["configuration"]["timezone"] == "Europe/London"
    assert clock.field == "COORD-MSCC"
    assert json.loads(clock.details)["status"] == "met"
    assert clock.event_type == "coordinator.contacted"


def test_concurrent_appends_stay_one_chain(engine: Engine) -> None:
    def write(name: str) -> None:
        for n in range(20):
            with engine.begin() as conn:
                append_audit(conn, [{"at": NOW, "action": "test", "actor": f"{name}-{n}"}])

    threads = [threading.Thread(target=write, args=(name,)) for name in "abc"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with engine.connect() as conn:
        report = verify_chain(conn)
    assert (report.ok, report.entries, report.head_id) == (True, 61, 61)  # and the genesis


def test_the_migration_chains_entries_written_before_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    upgrade(engine, "0001")
    with engine.begin() as conn:
        for n in (3, 5, 9):  # ids with gaps, as a PostgreSQL sequence leaves them
            conn.execute(insert(AUDIT.c.id.table).values(id=n, at=NOW, action="event.accepted"))

    upgrade(engine)

    with engine.connect() as conn:
        report = verify_chain(conn)
        actions = [r.action for r in conn.execute(select(AUDIT.c.action).order_by(AUDIT.c.id))]
        head = conn.execute(select(AUDIT_HEAD)).one()
    engine.dispose()
    # Renumbered 1..3 and chained by 0002; sealed with the genesis entry by 0006.
    assert (report.ok, actions, head.last_id) == (
        True,
        ["event.accepted"] * 3 + ["audit.genesis"],
        4,
    )
