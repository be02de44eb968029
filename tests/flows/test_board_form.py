"""The tumour-board form is an outbox effect of `mdt.listed`: whichever run delivers the pathway's
effects (handle-event, or the next deadline watch) opens it, once, and without Prefect it waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
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
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.types.entrypoint import EntrypointType
from sqlalchemy import Engine, select
from typer.testing import CliRunner

import tasks.board_forms
from cordwatch.cli import app
from db.engine import make_engine
from db.migrate import upgrade
from db.repository import AUDIT, INBOX, OUTBOX
from flows.board_decision import board_decision
from flows.deadline_watch import deadline_watch
from flows.handle_event import handle_event
from flows.ingest import ingest_file
from pathway.letters import LETTERS
from services.intake import Intake
from services.settings import get_settings
from tasks.effects import run_pending_effects
from tests.conftest import NOW, RULES
from tests.db.test_intake import envelope, pathway_lines

pytestmark = pytest.mark.prefect

T0 = NOW - timedelta(hours=30)


def listed_pathway(ref: str, prefix: str) -> list[str]:
    """Referred, imaged, MSCC reported, then listed for the spinal MDT (``<prefix>-6``)."""
    listing = {"meeting_at": (NOW + timedelta(hours=4)).isoformat(), "board": "spinal"}
    return [
        *pathway_lines(ref, T0, prefix),
        envelope(f"{prefix}-6", ref, "mdt.listed", T0 + timedelta(hours=23), listing),
    ]


@pytest.fixture
def sqlite_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Flow tests run on a SQLite file; the handler tests below run on PostgreSQL too."""
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    monkeypatch.setenv("CORDWATCH_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def board_deployment() -> str:
    """The `board-decision` deployment `cordwatch serve` registers, on the test harness."""
    deployment = RunnerDeployment.from_flow(
        board_decision, name="board-decision", entrypoint_type=EntrypointType.MODULE_PATH
    )
    return str(asyncio.run(deployment.aapply()))


def _ingest(engine: Engine, lines: list[str]) -> None:
    intake = Intake(engine, new_pathway_rules=lambda: RULES, mark_processed=False)
    assert intake.ingest_lines(enumerate(lines, 1), now=NOW).rejected == []


def _pathway_id(engine: Engine, event_id: str) -> str:
    with engine.connect() as conn:
        query = select(INBOX.c.pathway_id).where(INBOX.c.event_id == event_id)
        return str(conn.execute(query).scalar_one())


def _board_forms(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(OUTBOX).where(OUTBOX.c.kind == "board_form"))
        return [dict(row._mapping) for row in rows]


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
    pathway_id = _pathway_id(sqlite_only, "b1-6")

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
    (form,) = _board_forms(sqlite_only)
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
    _ingest(sqlite_only, listed_pathway("REF-B2", "b2"))
    pathway_id = _pathway_id(sqlite_only, "b2-6")

    watched = asyncio.run(deadline_watch(NOW + timedelta(minutes=5)))
    late = asyncio.run(handle_event("b2-6"))  # its notification arrives after all
    runs = asyncio.run(_form_runs(pathway_id))

    assert "b2-6" in watched["redriven"]
    assert late["newly_processed"] is False
    assert len(runs) == 1
    assert [form["status"] for form in _board_forms(sqlite_only)] == ["sent"]


def test_handle_event_opens_the_form_of_its_listing(
    sqlite_only: Engine, board_deployment: str
) -> None:
    _ingest(sqlite_only, listed_pathway("REF-B3", "b3"))
    pathway_id = _pathway_id(sqlite_only, "b3-6")

    result = asyncio.run(handle_event("b3-6"))
    (run,) = asyncio.run(_form_runs(pathway_id))

    assert result["effects"]["sent"] >= 1
    assert run.parameters == {"pathway_id": pathway_id, "listed_event_id": "b3-6"}


@pytest.mark.parametrize(
    "api_url",
    [
        pytest.param(None, id="no PREFECT_API_URL (cron)"),
        pytest.param("http://127.0.0.1:9/api", id="Prefect not answering"),
    ],
)
def test_without_prefect_the_form_waits_pending_and_uses_no_attempt(
    engine: Engine, api_url: str | None
) -> None:
    _ingest(engine, listed_pathway("REF-B4", "b4"))
    (queued,) = _board_forms(engine)

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        counts = [
            asyncio.run(run_pending_effects(None, NOW + timedelta(minutes=m))) for m in range(1, 6)
        ]
        as_of = (NOW + timedelta(minutes=6)).isoformat()
        watched = CliRunner().invoke(app, ["watch", "--once", "--json", "--as-of", as_of])

    assert watched.exit_code == 0, watched.output
    assert all(c.get("pending") == 1 for c in counts)
    (form,) = _board_forms(engine)
    assert (form["status"], form["attempts"], form["updated_at"]) == (
        "pending",
        0,
        queued["updated_at"],
    )
    listed = CliRunner().invoke(app, ["letters", _pathway_id(engine, "b4-6"), "--json"])
    assert listed.exit_code == 0, listed.output
    letters = json.loads(listed.output)["letters"]
    with engine.connect() as conn:
        owed = conn.execute(select(OUTBOX.c.id).where(OUTBOX.c.kind == "letter")).all()
    assert len(letters) == len(owed)  # the form is no letter
    assert {letter["letter"] for letter in letters} <= set(LETTERS)


def test_without_the_deployment_the_form_waits_pending_and_uses_no_attempt(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks.board_forms, "BOARD_DECISION", "board-decision/not-deployed")
    _ingest(engine, listed_pathway("REF-B5", "b5"))

    for minute in range(1, 6):
        asyncio.run(run_pending_effects(None, NOW + timedelta(minutes=minute)))

    (form,) = _board_forms(engine)
    assert (form["status"], form["attempts"]) == ("pending", 0)
    assert json.loads(form["result"]) == {"waiting": "no board-decision deployment"}


def test_a_form_prefect_refuses_uses_its_attempts_then_is_undelivered_and_audited(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(pathway_id: str, listed_event_id: str) -> str:
        raise RuntimeError("refused")  # not an unreachable Prefect: an attempt is used

    monkeypatch.setattr(tasks.board_forms, "request_board_decision", refused)
    _ingest(engine, listed_pathway("REF-B6", "b6"))

    statuses = [
        asyncio.run(run_pending_effects(None, NOW + timedelta(minutes=m))).get("undelivered", 0)
        for m in range(1, tasks.board_forms.BOARD_FORM_ATTEMPTS + 2)
    ]

    assert statuses == [0] * (tasks.board_forms.BOARD_FORM_ATTEMPTS - 1) + [1, 0]
    (form,) = _board_forms(engine)
    assert (form["status"], form["attempts"]) == (
        "undelivered",
        tasks.board_forms.BOARD_FORM_ATTEMPTS,
    )
    with engine.connect() as conn:
        reasons = conn.execute(
            select(AUDIT.c.reason).where(AUDIT.c.action == "board_form.undelivered")
        ).all()
    assert [r.reason for r in reasons] == ["RuntimeError after 3 attempts"]
