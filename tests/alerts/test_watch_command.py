"""`cordwatch watch --once` for a service without Prefect (run from cron): it queues and then
delivers, like the scheduled `deadline-watch`, to real local receivers, once, with the
escalation interval the service configured."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cordwatch.cli import app
from db.repository import OUTBOX
from services.settings import get_settings
from tests.alerts.conftest import Receivers, refer
from tests.factories import INTAKE_T0 as T0

H = timedelta(hours=1)
M = timedelta(minutes=1)


def _watch(at: datetime, *options: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        app, ["watch", "--once", "--json", "--as-of", at.isoformat(), *options]
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.output)
    return report


def _titles(receivers: Receivers, path: str) -> list[str]:
    return [body["title"] for body in receivers.ok.bodies(path)]


def test_watch_once_delivers_what_it_queued_and_never_twice(
    alert_engine: Engine, receivers: Receivers
) -> None:
    pathway_id = refer(alert_engine, "REF-C1", "c1")[1]

    first = _watch(T0 + 2 * H + M)
    again = _watch(T0 + 2 * H + 2 * M)

    assert [a["level"] for a in first["queued"]] == ["at_risk"]
    # The referral's two letters (acknowledgement, patient information) were owed too.
    assert first["delivered"] == {"alert sent": 1, "letter sent": 2}
    assert _titles(receivers, "coordinator") == [f"AT RISK {pathway_id} Steroids within 4 h"]
    assert again["queued"] == []
    assert again["delivered"] == {}
    assert len(receivers.ok.bodies()) == 1


def test_no_deliver_only_queues_and_the_next_watch_sends(
    alert_engine: Engine, receivers: Receivers
) -> None:
    refer(alert_engine, "REF-C1", "c1")

    queued = _watch(T0 + 2 * H + M, "--no-deliver")

    assert len(queued["queued"]) == 1
    assert queued["delivered"] == {}
    assert receivers.ok.bodies() == []
    with alert_engine.connect() as conn:
        statuses = list(conn.execute(select(OUTBOX.c.status).where(OUTBOX.c.kind == "alert")))
    assert [status for (status,) in statuses] == ["pending"]
    assert _watch(T0 + 2 * H + 2 * M)["delivered"] == {"alert sent": 1, "letter sent": 2}
    assert len(receivers.ok.bodies("coordinator")) == 1


def test_watch_once_escalates_at_the_configured_interval(
    alert_engine: Engine, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ruleset escalates an unacknowledged hour-clock breach after 30 min; this service
    # set 15 min. Breach alert raised at 4 h 1 min, so escalation step 1 is owed at 4 h 16 min.
    monkeypatch.setenv("CORDWATCH_ESCALATION_MINUTES_HOUR_CLOCKS", "15")
    get_settings.cache_clear()
    pathway_id = refer(alert_engine, "REF-C1", "c1")[1]

    _watch(T0 + 4 * H + M)
    escalated = _watch(T0 + 4 * H + 17 * M)

    assert [(a["level"], a["step"]) for a in escalated["queued"]] == [("escalation", 1)]
    assert _titles(receivers, "service-lead") == [f"ESCALATION 1 {pathway_id} Steroids within 4 h"]
