"""The board-decision flow's keys byte for byte (issue 13's must-not-change list).

The decision is recorded as event ``board-<listing event id>``: a resumed suspended run executes
again from the top, and the fixed id makes that a duplicate, never a second decision. The form
waits under the input key ``board-decision-<listing event id>``, which a pending form in a
running Prefect server still carries across a deploy.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

import flows.board_decision
from db.repository import INBOX
from flows.board_decision import BoardDecision, PlanChoice, board_decision
from services.intake import Intake
from tests.conftest import RULES
from tests.factories import envelope, pathway_lines

pytestmark = pytest.mark.prefect


def test_a_board_decision_is_event_board_and_waits_under_its_listing_key(
    sqlite_only: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The flow reads the clock itself (the moment Submit is pressed): the pathway is recent.
    start = datetime.now(UTC) - timedelta(hours=30)
    listed_at = start + timedelta(hours=23)
    meeting = (listed_at + timedelta(hours=4)).isoformat()
    lines = [
        *pathway_lines("REF-K1", start, "k1"),
        envelope(
            "k1-6", "REF-K1", "mdt.listed", listed_at, {"meeting_at": meeting, "board": "spinal"}
        ),
    ]
    intake = Intake(sqlite_only, new_pathway_rules=lambda: RULES, mark_processed=False)
    assert intake.ingest_lines(enumerate(lines, 1), now=datetime.now(UTC)).rejected == []
    with sqlite_only.connect() as conn:
        pathway_id = conn.execute(
            select(INBOX.c.pathway_id).where(INBOX.c.event_id == "k1-6")
        ).scalar_one()
    waited: dict[str, Any] = {}
    notified: list[str] = []

    async def answered(**kwargs: Any) -> BoardDecision:
        waited.update(kwargs)
        return BoardDecision(
            decided_at=listed_at + timedelta(hours=1),
            plan=PlanChoice.RADIOTHERAPY,
            decision_to_treat=True,
            decided_by="Dr Consultant",
        )

    async def notify(entry: Any) -> str:
        notified.append(entry.event_id)
        return "run-1"

    monkeypatch.setattr(flows.board_decision, "asuspend_flow_run", answered)
    monkeypatch.setattr(flows.board_decision, "notify_event", notify)

    result = asyncio.run(board_decision(str(pathway_id), "k1-6"))

    assert waited["key"] == "board-decision-k1-6"
    assert result["event_id"] == "board-k1-6"
    assert notified == ["board-k1-6"]
    with sqlite_only.connect() as conn:
        stored = conn.execute(
            select(INBOX.c.type).where(INBOX.c.event_id == "board-k1-6")
        ).scalar_one()
    assert stored == "mdt.decided"
