"""Intake against real databases: atomic events, replays, conflicts, UTC storage and concurrency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from db.repository import AUDIT, CLOCK, INBOX, MILESTONE, PATHWAY, PATIENT
from services.intake import Intake
from tests.conftest import NOW, RULES, _empty
from tests.factories import INTAKE_T0 as T0
from tests.factories import envelope, pathway_lines
from tests.factories import referral_line as referral


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every state table, without generated ids, in a stable order."""
    with engine.connect() as conn:
        pathways = {
            r.id: r.reference for r in conn.execute(select(PATHWAY.c.id, PATHWAY.c.reference))
        }
        return {
            "pathway": sorted(
                (r.reference, r.category, r.stage, r.status, r.closed_reason, r.version)
                for r in conn.execute(select(PATHWAY))
            ),
            "patient": sorted(
                (r.nhs_number or "", r.family_name) for r in conn.execute(select(PATIENT))
            ),
            "inbox": sorted(
                (r.event_id, pathways[r.pathway_id], r.content_hash)
                for r in conn.execute(select(INBOX))
            ),
            "milestone": sorted((r.event_id, r.type) for r in conn.execute(select(MILESTONE))),
            "clock": sorted(
                (
                    pathways[r.pathway_id],
                    r.clock_id,
                    r.starts_at,
                    r.due_at,
                    r.stopped_at or r.due_at,
                    r.status,
                )
                for r in conn.execute(select(CLOCK))
            ),
        }


def test_accepted_events_store_pathway_milestones_clocks_and_audit(
    engine: Engine, intake: Intake
) -> None:
    result = intake.ingest_lines(enumerate(pathway_lines("REF-1", T0, "a"), 1), now=NOW)

    assert (result.accepted, result.duplicates, result.rejected) == (5, 0, [])
    state = snapshot(engine)
    assert state["pathway"] == [("REF-1", "suspected_mscc", "awaiting_decision", "open", None, 5)]
    assert {c[1]: c[5] for c in state["clock"]} == {
        "COORD-MSCC": "met",
        "STEROID-MSCC": "met",
        "MRI-MSCC": "met",
        "PLAN-MSCC": "running",
    }
    with engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(AUDIT.c.action).order_by(AUDIT.c.id))]
    # The genesis entry of the new database, the configuration, then each event, followed by
    # the clocks it stopped.
    assert actions == [
        "audit.genesis",
        "configuration.changed",
        "event.accepted",
        "event.accepted",
        "clock.met",
        "event.accepted",
        "clock.met",
        "event.accepted",
        "clock.met",
        "event.accepted",
    ]


def test_every_stored_time_comes_back_aware_utc(engine: Engine, intake: Intake) -> None:
    intake.ingest_lines(enumerate(pathway_lines("REF-1", T0, "a"), 1), now=NOW)

    with engine.connect() as conn:
        row = conn.execute(select(CLOCK).where(CLOCK.c.clock_id == "MRI-MSCC")).one()

    assert row.starts_at == T0
    assert row.starts_at.utcoffset() == timedelta(0)
    assert row.due_at == T0 + timedelta(hours=24)


def test_a_naive_datetime_is_refused_by_the_column_type(engine: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime refused"), engine.begin() as conn:
        conn.execute(
            AUDIT.insert().values(at=datetime(2026, 1, 1), action="test")  # noqa: DTZ001
        )


def test_a_replayed_stream_changes_nothing(engine: Engine, intake: Intake) -> None:
    lines = pathway_lines("REF-1", T0, "a") + pathway_lines("REF-2", T0, "b")
    intake.ingest_lines(enumerate(lines, 1), now=NOW)
    before = snapshot(engine)

    replay = Intake(engine, new_pathway_rules=lambda: RULES).ingest_lines(
        enumerate(lines, 1), now=NOW
    )

    assert (replay.accepted, replay.duplicates, replay.rejected) == (0, 10, [])
    assert snapshot(engine) == before


def test_a_changed_replay_is_a_conflict_that_changes_nothing(
    engine: Engine, intake: Intake
) -> None:
    intake.ingest_lines(enumerate(pathway_lines("REF-1", T0, "a"), 1), now=NOW)
    before = snapshot(engine)
    changed = envelope(
        "a-2", "REF-1", "coordinator.contacted", T0 + timedelta(minutes=50), {"coordinator": "Sam"}
    )

    result = intake.ingest_lines([(1, changed)], now=NOW)

    assert result.rejected[0].field == "event_id"
    assert "different content" in result.rejected[0].reason
    assert snapshot(engine) == before


def test_out_of_order_arrival_gives_the_same_clocks(engine: Engine, intake: Intake) -> None:
    lines = pathway_lines("REF-1", T0, "a")
    # A feed delivers the steroid and coordinator facts after the scan: milestones take the
    # time the event says, not the time of arrival.
    shuffled = [lines[0], lines[3], lines[4], lines[2], lines[1]]

    intake.ingest_lines(enumerate(shuffled, 1), now=NOW)
    state = snapshot(engine)

    assert {c[1]: c[5] for c in state["clock"]} == {
        "COORD-MSCC": "met",
        "STEROID-MSCC": "met",
        "MRI-MSCC": "met",
        "PLAN-MSCC": "running",
    }


def test_a_report_arriving_before_its_scan_is_refused_and_accepted_when_resent(
    engine: Engine, intake: Intake
) -> None:
    """The one arrival order the contract refuses: an event before the milestone it needs.
    The refusal names the field and what to do; the sender resends the same event id after
    the scan, and the pathway ends exactly as if the feed had been in order."""
    lines = pathway_lines("REF-1", T0, "a")

    early = intake.ingest_lines(enumerate([*lines[:3], lines[4]], 1), now=NOW)
    [refused] = early.rejected
    later = intake.ingest_lines(enumerate([lines[3], lines[4]], 1), now=NOW)

    assert (refused.event_id, refused.field) == ("a-5", "occurred_at")
    assert refused.reason == (
        "a report cannot precede the imaging.performed it reports: no imaging.performed is "
        "recorded before it (record the scan first, then send this event again)"
    )
    assert later.rejected == []
    assert len(later.accepted_event_ids) == 2
    resent = snapshot(engine)
    _empty(engine)
    intake_in_order = Intake(engine, new_pathway_rules=lambda: RULES)
    intake_in_order.ingest_lines(enumerate(lines, 1), now=NOW)
    assert {k: v for k, v in resent.items() if k != "audit"} == {
        k: v for k, v in snapshot(engine).items() if k != "audit"
    }


def _install_failure(engine: Engine, event_id: str) -> None:
    """A real database error while storing one event's milestone (a trigger that aborts)."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER boom BEFORE INSERT ON milestone "
                    f"WHEN NEW.event_id = '{event_id}' BEGIN SELECT RAISE(ABORT, 'boom'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION boom() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.event_id = '{event_id}' THEN RAISE EXCEPTION 'boom'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER boom BEFORE INSERT ON milestone FOR EACH ROW EXECUTE FUNCTION boom()"
                )
            )


def _remove_failure(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("DROP TRIGGER boom" + ("" if engine.dialect.name == "sqlite" else " ON milestone"))
        )


def test_an_event_that_fails_to_store_writes_nothing_and_spares_the_others(
    engine: Engine, intake: Intake
) -> None:
    intake.ingest_lines(enumerate(pathway_lines("REF-1", T0, "a")[:2], 1), now=NOW)
    before = snapshot(engine)
    _install_failure(engine, "a-3")
    try:
        result = intake.ingest_lines(
            enumerate([pathway_lines("REF-1", T0, "a")[2], *pathway_lines("REF-2", T0, "b")], 1),
            now=NOW,
        )
    finally:
        _remove_failure(engine)

    after = snapshot(engine)
    assert [(r.event_id, r.field) for r in result.rejected] == [("a-3", "event")]
    assert "could not be stored" in result.rejected[0].reason
    assert result.accepted == 5
    # REF-1 is exactly as before: no inbox row, milestone, clock change or version bump.
    assert [p for p in after["pathway"] if p[0] == "REF-1"] == [
        p for p in before["pathway"] if p[0] == "REF-1"
    ]
    assert [c for c in after["clock"] if c[0] == "REF-1"] == [
        c for c in before["clock"] if c[0] == "REF-1"
    ]
    assert "a-3" not in {row[0] for row in after["inbox"]}
    assert "a-3" not in {row[0] for row in after["milestone"]}


def test_the_same_nhs_number_referred_twice_is_one_patient(engine: Engine, intake: Intake) -> None:
    intake.ingest_lines(
        [(1, referral("x-1", "REF-A", T0)), (2, referral("y-1", "REF-B", T0 + timedelta(days=1)))],
        now=NOW,
    )

    with engine.connect() as conn:
        patients = conn.execute(select(PATIENT.c.id)).all()
        owners = {r.patient_id for r in conn.execute(select(PATHWAY.c.patient_id))}

    assert len(patients) == 1
    assert owners == {patients[0].id}


@pytest.mark.slow
def test_two_processes_ingesting_one_file_end_as_one_process_would(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    lines = []
    for n in range(60):
        lines += pathway_lines(f"REF-{n:03d}", T0 + timedelta(minutes=n), f"p{n}")
    source = tmp_path / "cohort.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**os.environ, "CORDWATCH_DATABASE_URL": database_url, "CORDWATCH_INTAKE_BATCH_SIZE": "7"}
    command = [
        sys.executable,
        "-m",
        "cordwatch",
        "ingest",
        str(source),
        "--json",
        "--as-of",
        NOW.isoformat(),
    ]

    workers = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [json.loads(w.communicate(timeout=300)[0]) for w in workers]

    assert [w.returncode for w in workers] == [0, 0]
    assert sum(o["accepted"] for o in outputs) == len(lines)
    assert sum(o["duplicates"] for o in outputs) == len(lines)
    concurrent = snapshot(engine)
    _empty(engine)  # audit rows can only go with the append-only triggers set aside
    Intake(engine, new_pathway_rules=lambda: RULES).ingest_lines(enumerate(lines, 1), now=NOW)
    assert snapshot(engine) == concurrent
