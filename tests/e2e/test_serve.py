"""End to end: a real `prefect server start`, `cordwatch serve`, events recorded with the CLI.

Starts everything on free loopback ports, in a temporary folder; stops everything at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cordwatch.prefect_server import free_port, start_server, stop_server
from db.engine import make_engine
from db.repository import INBOX

pytestmark = [pytest.mark.slow, pytest.mark.prefect]

CORDWATCH = str(Path(sys.executable).with_name("cordwatch"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A Prefect server and `cordwatch serve` against it, sharing one SQLite database."""
    folder = tmp_path_factory.mktemp("e2e")
    port = free_port()
    server = start_server(home=folder / "prefect", port=port, log=folder / "server.log")
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(folder / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "CORDWATCH_DATABASE_URL": f"sqlite:///{folder / 'cordwatch.db'}",
    }
    log = (folder / "serve.log").open("wb")
    serving = subprocess.Popen(
        [CORDWATCH, "serve", "--no-demo"],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait(lambda: _deployments(api) >= 4, 120, "deployments to register")
        yield {"api": api, "env": env, "folder": folder}
    finally:
        os.killpg(serving.pid, 2)
        try:
            serving.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(serving.pid, 9)
        log.close()
        stop_server(server)


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _deployments(api: str) -> int:
    response = httpx.post(f"{api}/deployments/filter", json={"limit": 50, "offset": 0})
    return len(response.json()) if response.status_code == 200 else 0


def _flow_runs(api: str, name: str) -> list[dict[str, Any]]:
    body = {"limit": 50, "offset": 0, "sort": "ID_DESC", "flow_runs": {"name": {"any_": [name]}}}
    return list(httpx.post(f"{api}/flow_runs/filter", json=body).json())


def _cli(stack: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CORDWATCH, *args],
        cwd=stack["folder"],
        env=stack["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _processed(stack: dict[str, Any], event_id: str) -> bool:
    engine = make_engine(stack["env"]["CORDWATCH_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            value = conn.execute(
                select(INBOX.c.processed_at).where(INBOX.c.event_id == event_id)
            ).scalar()
    finally:
        engine.dispose()
    return value is not None


def test_recorded_events_run_as_named_flow_runs_and_change_the_database(
    stack: dict[str, Any],
) -> None:
    now = datetime.now(UTC)
    referral = {
        "event_id": "e2e-ref-1",
        "pathway": "REF-E2E-1",
        "type": "referral.received",
        "occurred_at": (now - timedelta(hours=2)).isoformat(),
        "data": {
            "patient": {
                "nhs_number": "9990001006",
                "given_name": "Eve",
                "family_name": "Endtoend",
                "date_of_birth": "1950-05-05",
            },
            "referrer": {"name": "Dr Ref", "organisation": "GP"},
            "cancer_status": "known",
            "pain_features": [],
            "neuro_features": ["limb_weakness"],
        },
    }
    source = stack["folder"] / "referral.jsonl"
    source.write_text(json.dumps(referral) + "\n", encoding="utf-8")

    ingested = _cli(stack, "ingest", str(source), "--json")
    assert ingested.returncode == 0, ingested.stderr
    shown = json.loads(_cli(stack, "show", "REF-E2E-1", "--json").stdout)
    pathway_id = shown["id"]
    _wait(lambda: _processed(stack, "e2e-ref-1"), 120, "the referral's handle-event run")

    recorded = _cli(
        stack,
        "record",
        "REF-E2E-1",
        "coordinator.contacted",
        "--at",
        now.isoformat(),
        "--by",
        "Sam",
        "--data",
        "coordinator=Sam",
    )
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    _wait(
        lambda: any(
            r["state_type"] == "COMPLETED"
            for r in _flow_runs(stack["api"], f"{pathway_id} coordinator.contacted")
        ),
        120,
        "the coordinator.contacted run",
    )

    runs = _flow_runs(stack["api"], f"{pathway_id} referral.received")
    assert runs[0]["state_type"] == "COMPLETED"
    assert f"pathway:{pathway_id}" in runs[0]["tags"]
    clocks = {
        c["id"]: c["status"]
        for c in json.loads(_cli(stack, "show", pathway_id, "--json").stdout)["clocks"]
    }
    assert (
        clocks["COORD-MSCC"] == "breached"
    )  # contacted 2 h after referral: over the 1 h local SLA


def test_an_mdt_listing_opens_a_board_decision_form_whose_answer_is_recorded(
    stack: dict[str, Any],
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import aresume_flow_run
    from prefect.settings import PREFECT_API_URL, temporary_settings

    now = datetime.now(UTC)
    events = [
        {
            "event_id": "e2e-ref-2",
            "pathway": "REF-E2E-2",
            "type": "referral.received",
            "occurred_at": (now - timedelta(hours=5)).isoformat(),
            "data": {
                "patient": {
                    "mrn": "MRN0000002",
                    "given_name": "Bo",
                    "family_name": "Board",
                    "date_of_birth": "1948-02-02",
                },
                "referrer": {"name": "Dr Ref", "organisation": "GP"},
                "cancer_status": "known",
                "pain_features": [],
                "neuro_features": ["difficulty_walking"],
            },
        },
        {
            "event_id": "e2e-mri-2",
            "pathway": "REF-E2E-2",
            "type": "imaging.performed",
            "occurred_at": (now - timedelta(hours=3)).isoformat(),
            "data": {"modality": "mri_whole_spine"},
        },
        {
            "event_id": "e2e-rep-2",
            "pathway": "REF-E2E-2",
            "type": "imaging.reported",
            "occurred_at": (now - timedelta(hours=2)).isoformat(),
            "data": {"finding": "mscc", "bilsky_grade": "2", "sins": 8},
        },
        {
            "event_id": "e2e-mdt-2",
            "pathway": "REF-E2E-2",
            "type": "mdt.listed",
            "occurred_at": (now - timedelta(hours=1)).isoformat(),
            "data": {
                "meeting_at": (now + timedelta(hours=1)).isoformat(),
                "board": "emergency_virtual",
            },
        },
    ]
    source = stack["folder"] / "mdt.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    assert _cli(stack, "ingest", str(source)).returncode == 0
    pathway_id = json.loads(_cli(stack, "show", "REF-E2E-2", "--json").stdout)["id"]
    name = f"{pathway_id} board decision"
    _wait(
        lambda: any(r["state_type"] == "PAUSED" for r in _flow_runs(stack["api"], name)),
        180,
        "the suspended form",
    )
    run = next(r for r in _flow_runs(stack["api"], name) if r["state_type"] == "PAUSED")
    decided_at = now - timedelta(minutes=30)  # entered later than the board decided

    async def resume() -> None:
        async with get_client():
            await aresume_flow_run(
                run["id"],
                run_input={
                    # The form reads in words; the event keeps the codes.
                    "decided_at": decided_at.isoformat(),
                    "plan": "Radiotherapy",
                    "decision_to_treat": True,
                    "intent": "Palliative",
                    "decided_by": "Dr Onc",
                },
            )

    with temporary_settings(updates={PREFECT_API_URL: stack["api"]}):
        asyncio.run(resume())
    _wait(lambda: _processed(stack, "board-e2e-mdt-2"), 180, "the decision's handle-event run")
    shown = json.loads(_cli(stack, "show", pathway_id, "--json").stdout)
    assert "mdt.decided" in [m["type"] for m in shown["milestones"]]
    assert "RT-24H" in [c["id"] for c in shown["clocks"]]
    decided = next(m for m in shown["milestones"] if m["type"] == "mdt.decided")
    assert datetime.fromisoformat(decided["at"]) == decided_at
