"""The acknowledgement event id is ``ack-<alert id>`` byte for byte (issue 13's must-not-change
list): a retried `ack` or Prefect form is then a replay the inbox already holds, never a second
acknowledgement; another id would record the same acknowledgement twice after a deploy."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cordwatch.cli import app
from db.alerts import ALERT
from db.repository import INBOX
from services.watch import run_watch
from tests.alerts.conftest import refer
from tests.factories import INTAKE_T0 as T0

H = timedelta(hours=1)
M = timedelta(minutes=1)


def test_an_acknowledgement_is_recorded_as_event_ack_and_the_alert_id(
    alert_engine: Engine,
) -> None:
    _, pathway_id = refer(alert_engine)
    run_watch(alert_engine, as_of=T0 + 4 * H + M)  # STEROID-MSCC breached: a breach alert
    with alert_engine.connect() as conn:
        (alert_id,) = conn.execute(select(ALERT.c.id).where(ALERT.c.level == "breach")).scalars()

    result = CliRunner().invoke(
        app, ["ack", alert_id, "--by", "Dr Lead", "--json", "--as-of", (T0 + 5 * H).isoformat()]
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["event_id"] == "ack-" + alert_id
    with alert_engine.connect() as conn:
        stored = conn.execute(
            select(INBOX.c.event_id, INBOX.c.type).where(INBOX.c.pathway_id == pathway_id)
        ).all()
    assert ("ack-" + alert_id, "alert.acknowledged") in [tuple(row) for row in stored]
