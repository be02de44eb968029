"""The tumour-board form is an outbox effect of `mdt.listed`: whichever run delivers the pathway's
effects (handle-event, or the next deadline watch) opens it, once, and without Prefect it waits."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import Pause
from prefect.flow_engine import run_flow_async
from prefect.types.entrypoint import EntrypointType
from sqlalchemy import Engine, select

import tasks.board_forms
from db.repository import AUDIT, OUTBOX
from flows.board_decision import board_decision
from flows.deadline_watch import deadline_watch
from flows.handle_event import handle_event
from flows.ingest import ingest_file
from tasks.effects import run_pending_effects
from tests.conftest import NOW
from tests.factories import board_forms, ingest_all, listed_pathway, pathway_id_of

pytestmark = pytest.mark.prefect


@pytest.fixture(scope="module")
def board_deployment(_prefect_harness: None) -> str:
    """The `board-decision` deployment `cordwatch serve` registers, on the test harness."""
    deployment = RunnerDeployment.from_flow(
        board_decision, name="board-decision", entrypoint_type=EntrypointType.MODULE_PATH
    )
    return str(asyncio.run(deployment.aapply()))


async def _form_runs(pathway_id: str) -> list[FlowRun]:
    async with get_client() as client:
        return await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=[f"{pathway_id} board decision"])
            )
        )


def test_a_bulk_ingested_listing_gets_one_suspended_form_at_the_next_watch(
    sqlite_only: Engine, board_deployment: str, tmp_path: Path
) -> None:
    source = tmp_path / "cohort.jsonl"
    source.write_text("\n".join(listed_pathway("REF-B1", "b1")) + "\n", encoding="utf-8")
    asyncio.run(ingest_file(str(source), as_of=NOW))
    pathway_id = pathway_id_of(sqlite_only, "b1-6")

    first = asyncio.run(deadline_watch(NOW + timedelta(minutes=5)))
    second = asyncio.run(deadline_watch(NOW + timedelta(minutes=6)))
    (run,) = asyncio.run(_form_runs(pathway_id))
    # cast: mypy cannot match an async flow's return type to run_flow_async's generic one
    form_flow = cast(Any, board_decision)
    with pytest.raises(Pause):  # what a served run does: it suspends and its process exits
        asyncio.run(run_flow_async(form_flow, flow_run=run, parameters=run.parameters))
    (suspended,) = asyncio.run(_form_runs(pathway_id))

    assert first["redriven"] == []  # the ingest flow processed the listing itself
    assert second["effects"].get("sent", 0) == 0
    assert str(run.deployment_id) == board_deployment
    assert run.parameters == {"pathway_id": pathway_id, "listed_event_id": "b1-6"}
    assert set(run.tags) == {f"pathway:{pathway_id}", "board-decision"}
    assert suspended.state_type is StateType.PAUSED  # waiting for the board's form
    (form,) = board_forms(sqlite_only)
    assert form["key"] == "board-form:b1-6"
    assert form["status"] == "sent"
    assert json.loads(form["result"]) == {"flow_run_id": str(run.id)}
    with sqlite_only.connect() as conn:
        audited = conn.execute(
            select(AUDIT.c.pathway_id, AUDIT.c.event_id, AUDIT.c.run_id).where(
                AUDIT.c.action == "board_form.created"
            )
        ).all()
    assert [(a.pathway_id, a.event_id) for a in audited] == [(pathway_id, "b1-6")]
    assert audited[0].run_id is not None  # the watch run that opened the form


def test_a_backfilled_history_owes_no_letter_but_its_listing_still_owes_its_form(
    sqlite_only: Engine, tmp_path: Path
) -> None:
    source = tmp_path / "history.jsonl"
    source.write_text("\n".join(listed_pathway("REF-BF1", "bf1")) + "\n", encoding="utf-8")

    result = asyncio.run(ingest_file(str(source), as_of=NOW, backfill=True))

    assert result["accepted"] == 6
    with sqlite_only.connect() as conn:
        kinds = sorted(conn.execute(select(OUTBOX.c.kind)).scalars())
        audited = conn.execute(
            select(AUDIT.c.details).where(AUDIT.c.action == "ingest.backfill")
        ).scalar_one()
    assert kinds == ["board_form"]  # every event is history: no letter, the form is still owed
    assert json.loads(audited)["history"] == 6


def test_a_lost_listing_re_driven_by_the_watch_gets_its_form_and_handle_event_none_more(
    sqlite_only: Engine, board_deployment: str
) -> None:
    ingest_all(sqlite_only, listed_pathway("REF-B2", "b2"))
    pathway_id = pathway_id_of(sqlite_only, "b2-6")

    watched = asyncio.run(deadline_watch(NOW + timedelta(minutes=5)))
    late = asyncio.run(handle_event("b2-6"))  # its notification arrives after all
    runs = asyncio.run(_form_runs(pathway_id))

    assert "b2-6" in watched["redriven"]
    assert late["newly_processed"] is False
    assert len(runs) == 1
    assert [form["status"] for form in board_forms(sqlite_only)] == ["sent"]


def test_handle_event_opens_the_form_of_its_listing(
    sqlite_only: Engine, board_deployment: str
) -> None:
    ingest_all(sqlite_only, listed_pathway("REF-B3", "b3"))
    pathway_id = pathway_id_of(sqlite_only, "b3-6")

    result = asyncio.run(handle_event("b3-6"))
    (run,) = asyncio.run(_form_runs(pathway_id))

    assert result["effects"]["sent"] >= 1
    assert run.parameters == {"pathway_id": pathway_id, "listed_event_id": "b3-6"}


def test_without_the_deployment_the_form_waits_pending_and_uses_no_attempt(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks.board_forms, "BOARD_DECISION", "board-decision/not-deployed")
    ingest_all(engine, listed_pathway("REF-B5", "b5"))

    for minute in range(1, 6):
        asyncio.run(run_pending_effects(None, NOW + timedelta(minutes=minute)))

    (form,) = board_forms(engine)
    assert (form["status"], form["attempts"]) == ("pending", 0)
    assert json.loads(form["result"]) == {"waiting": "no board-decision deployment"}


def test_a_form_prefect_refuses_uses_its_attempts_then_is_undelivered_and_audited(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(pathway_id: str, listed_event_id: str) -> str:
        raise RuntimeError("refused")  # not an unreachable Prefect: an attempt is used

    monkeypatch.setattr(tasks.board_forms, "request_board_decision", refused)
    ingest_all(engine, listed_pathway("REF-B6", "b6"))

    statuses = [
        asyncio.run(run_pending_effects(None, NOW + timedelta(minutes=m))).get("undelivered", 0)
        for m in range(1, tasks.board_forms.BOARD_FORM_ATTEMPTS + 2)
    ]

    assert statuses == [0] * (tasks.board_forms.BOARD_FORM_ATTEMPTS - 1) + [1, 0]
    (form,) = board_forms(engine)
    assert (form["status"], form["attempts"]) == (
        "undelivered",
        tasks.board_forms.BOARD_FORM_ATTEMPTS,
    )
    with engine.connect() as conn:
        reasons = conn.execute(
            select(AUDIT.c.reason).where(AUDIT.c.action == "board_form.undelivered")
        ).all()
    assert [r.reason for r in reasons] == ["RuntimeError after 3 attempts"]
