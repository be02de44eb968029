"""One Prefect test harness for the whole flow suite (it takes 10-15 s to start).

Only tests marked ``prefect`` start it: the unmarked tests here (form answers, artifact markdown,
deployment declarations) run in the fast suite and need no API, so they must not pay for one,
nor pass only because one happens to be running.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness
from sqlalchemy import Engine

from db.engine import make_engine
from db.migrate import upgrade
from pathway.nhs_number import format_nhs_number
from services.settings import get_settings


@pytest.fixture(scope="session")
def _prefect_harness() -> Iterator[None]:
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def _harness_for_prefect_tests(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("prefect") is not None:
        request.getfixturevalue("_prefect_harness")


@pytest.fixture
def sqlite_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Flow tests run on a SQLite file (the settings point at it); the db suite covers PostgreSQL."""
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    monkeypatch.setenv("CORDWATCH_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


def identifiers(events: list[dict[str, Any]]) -> set[str]:
    """Every patient identifier in the cohort, in the spellings a leak could take."""
    found: set[str] = set()
    for event in events:
        if event["type"] != "referral.received":
            continue
        patient = event["data"]["patient"]
        found |= {patient["given_name"], patient["family_name"], patient["date_of_birth"]}
        if patient.get("nhs_number"):
            digits = patient["nhs_number"].replace(" ", "")
            found |= {digits, format_nhs_number(digits)}
        if patient.get("mrn"):
            found.add(patient["mrn"])
    return found


async def everything_prefect_holds() -> str:
    """Flow runs, artifacts, logs and events from the Prefect API, as one text."""
    texts: list[str] = []
    api = str(PREFECT_API_URL.value())
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        for path, body in [
            ("/flow_runs/filter", {"limit": 200, "offset": 0, "sort": "ID_DESC"}),
            ("/task_runs/filter", {"limit": 200, "offset": 0, "sort": "ID_DESC"}),
            ("/artifacts/filter", {"limit": 200, "offset": 0, "sort": "ID_DESC"}),
            ("/logs/filter", {"limit": 200, "offset": 0, "sort": "TIMESTAMP_ASC"}),
        ]:
            offset = 0
            while True:
                page = (await client.post(path, json={**body, "offset": offset})).json()
                texts.append(json.dumps(page))
                if len(page) < 200:
                    break
                offset += 200
        events = (await client.post("/events/filter", json={"limit": 50})).json()
        texts.append(json.dumps(events))
        while events.get("next_page"):
            events = (await client.get(events["next_page"])).json()
            texts.append(json.dumps(events))
    return "\n".join(texts)
