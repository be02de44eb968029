"""Flows under Prefect's test harness: names, tags, artifacts, once-only processing."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort
from sqlalchemy import Engine, select

from db.repository import AUDIT, INBOX, OUTBOX
from flows.deadline_watch import deadline_watch
from flows.handle_event import handle_event
from services.intake import Intake
from tests.conftest import NOW, RULES
from tests.factories import pathway_lines

pytestmark = pytest.mark.prefect

T0 = NOW - timedelta(hours=30)


def _ingest(engine: Engine, lines: list[str]) -> Intake:
    intake = Intake(engine, new_pathway_rules=lambda: RULES, mark_processed=False)
    result = intake.ingest_lines(enumerate(lines, 1), now=NOW)
    assert result.rejected == []
    return intake


async def _runs_and_artifacts(name: str) -> tuple[list[FlowRun], list[Any]]:
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])),
            limit=100,
            sort=FlowRunSort.ID_DESC,
        )
        response = await client.request(
            "POST", "/artifacts/latest/filter", json={"limit": 200, "offset": 0, "sort": "KEY_ASC"}
        )
    return runs, list(response.json())


def test_handle_event_names_tags_publishes_and_processes_once(sqlite_only: Engine) -> None:
    _ingest(sqlite_only, pathway_lines("REF-F1", T0, "f1")[:2])
    with sqlite_only.connect() as conn:
        pathway_id = str(conn.execute(select(INBOX.c.pathway_id)).scalars().first())

    first = asyncio.run(handle_event("f1-1"))
    again = asyncio.run(handle_event("f1-1"))
    runs, artifacts = asyncio.run(_runs_and_artifacts(f"{pathway_id} referral.received"))

    assert first == {
        "pathway": pathway_id,
        "type": "referral.received",
        "newly_processed": True,
        "effects": {"sent": 2},  # the referral acknowledgement and the patient's information
    }
    assert again["newly_processed"] is False
    assert len(runs) == 2
    assert set(runs[0].tags) >= {
        f"pathway:{pathway_id}",
        "category:suspected_mscc",
        "stage:awaiting_imaging",
    }
    assert runs[0].parameters == {"event_id": "f1-1"}
    keys = {a["key"] for a in artifacts}
    assert {
        f"pathway-{pathway_id.lower()}-timeline",
        f"pathway-{pathway_id.lower()}-clocks",
    } <= keys
    with sqlite_only.connect() as conn:
        processed = conn.execute(
            select(INBOX.c.processed_at).where(INBOX.c.event_id == "f1-1")
        ).scalar_one()
    assert processed is not None
    with sqlite_only.connect() as conn:
        letter_runs = set(
            conn.execute(select(AUDIT.c.run_id).where(AUDIT.c.source == "letters")).scalars()
        )
    assert letter_runs  # the audit names the flow run that produced and sent each letter
    assert letter_runs <= {str(run.id) for run in runs}


def test_deadline_watch_queues_each_alert_once_and_redrives_lost_events(
    sqlite_only: Engine,
) -> None:
    # Referred 30 h ago, coordinator contacted, nothing else: STEROID-MSCC and MRI-MSCC breached.
    _ingest(sqlite_only, pathway_lines("REF-F2", T0, "f2")[:2])
    as_of = NOW + timedelta(minutes=5)

    first = asyncio.run(deadline_watch(as_of))
    second = asyncio.run(deadline_watch(as_of + timedelta(minutes=1)))

    assert sorted((a["clock_id"], a["level"]) for a in first["queued"]) == [
        ("MRI-MSCC", "breach"),
        ("STEROID-MSCC", "breach"),
    ]
    assert second["queued"] == []
    assert sorted(first["redriven"]) == ["f2-1", "f2-2"]
    assert second["redriven"] == []
    with sqlite_only.connect() as conn:
        rows = conn.execute(select(OUTBOX.c.kind, OUTBOX.c.payload, OUTBOX.c.status)).all()
    alerts = [json.loads(r.payload) for r in rows if r.kind == "alert"]
    letters = sorted(json.loads(r.payload)["letter"] for r in rows if r.kind == "letter")
    assert len(alerts) == 2
    # The two breaches each owe clinical governance one breach report; the referral its two.
    assert letters == [
        "breach_report",
        "breach_report",
        "patient_information",
        "referral_acknowledgement",
    ]
    assert {r.status for r in rows if r.kind == "letter"} == {"sent"}
    _, artifacts = asyncio.run(_runs_and_artifacts("deadline watch"))
    assert "coordinator-board" in {a["key"] for a in artifacts}
