"""Without Prefect the tumour-board form waits in the outbox, pending, and uses no attempt: a
service on cron (no API) or with Prefect down keeps the form owed, and the letters are unaffected.

No harness here: the API is absent or refuses the connection, which is the point of the test.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cordwatch.cli import app
from db.repository import OUTBOX
from pathway.letters import LETTERS
from tasks.effects import run_pending_effects
from tests.conftest import NOW
from tests.factories import board_forms, ingest_all, listed_pathway, pathway_id_of


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
    ingest_all(engine, listed_pathway("REF-B4", "b4"))
    (queued,) = board_forms(engine)

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        counts = [
            asyncio.run(run_pending_effects(None, NOW + timedelta(minutes=m))) for m in range(1, 6)
        ]
        as_of = (NOW + timedelta(minutes=6)).isoformat()
        watched = CliRunner().invoke(app, ["watch", "--once", "--json", "--as-of", as_of])

    assert watched.exit_code == 0, watched.output
    assert all(c.get("pending") == 1 for c in counts)
    (form,) = board_forms(engine)
    assert (form["status"], form["attempts"], form["updated_at"]) == (
        "pending",
        0,
        queued["updated_at"],
    )
    listed = CliRunner().invoke(app, ["letters", pathway_id_of(engine, "b4-6"), "--json"])
    assert listed.exit_code == 0, listed.output
    letters = json.loads(listed.output)["letters"]
    with engine.connect() as conn:
        owed = conn.execute(select(OUTBOX.c.id).where(OUTBOX.c.kind == "letter")).all()
    assert len(letters) == len(owed)  # the form is no letter
    assert {letter["letter"] for letter in letters} <= set(LETTERS)
