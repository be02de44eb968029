"""No patient identifier reaches Prefect: run names, tags, parameters, artifacts, logs and events.

A simulated cohort goes through the bulk `ingest` flow, per-event `handle-event` runs and the
deadline watch; then everything the Prefect API holds is read back and searched for every
patient's NHS number (both spellings), MRN, names and date of birth.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from db.repository import INBOX
from flows.deadline_watch import deadline_watch
from flows.handle_event import handle_event
from flows.ingest import ingest_file
from pathway.simulation import simulate_cohort
from services.intake import Intake
from tests.conftest import RULES
from tests.flows.conftest import everything_prefect_holds, identifiers

pytestmark = pytest.mark.prefect

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def database(sqlite_only: Engine) -> Engine:
    """The flows' SQLite database (``tests/flows/conftest.py``)."""
    return sqlite_only


def test_no_patient_identifier_reaches_prefect(database: Engine, tmp_path: Path) -> None:
    cohort = simulate_cohort(
        patients=25, seed=77, start=NOW - timedelta(days=10), span_days=9, horizon=NOW
    )
    canaries = identifiers(cohort)
    live_refs = sorted({e["pathway"] for e in cohort})[:6]
    bulk = [e for e in cohort if e["pathway"] not in live_refs]
    live = [e for e in cohort if e["pathway"] in live_refs]
    source = tmp_path / "bulk.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in bulk), encoding="utf-8")

    asyncio.run(ingest_file(str(source), NOW))
    intake = Intake(database, new_pathway_rules=lambda: RULES, mark_processed=False)
    assert intake.ingest_lines(((None, json.dumps(e)) for e in live), now=NOW).rejected == []
    with database.connect() as conn:
        pending = (
            conn.execute(select(INBOX.c.event_id).where(INBOX.c.processed_at.is_(None)))
            .scalars()
            .all()
        )
    for event_id in pending:
        asyncio.run(handle_event(event_id))
    asyncio.run(deadline_watch(NOW + timedelta(hours=1)))
    held = asyncio.run(everything_prefect_holds())

    assert len(canaries) > 50
    # The search looks at real content: run names, artifacts, logs and events are all there.
    for expected in (
        "PW-",
        "coordinator-board",
        "-timeline",
        "cordwatch.referral.received",
        "processed",
    ):
        assert expected in held
    leaks = sorted(c for c in canaries if c in held)
    assert leaks == []
