"""The heartbeat of a deadline watch that never completed a sweep, against real local receivers.

A watch misconfigured from the first day has no last sweep to be late after; it is dead once
accepted events have waited 3 watch intervals (60 s each here) for it. A new, empty install is
not: there is nothing yet to miss.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cordwatch.cli import app
from db.alerts import ALERT
from db.repository import OUTBOX
from tests.alerts.conftest import Receivers, refer, watch
from tests.factories import INTAKE_T0 as T0

M = timedelta(minutes=1)
D = timedelta(days=1)
RECEIVED = T0 + 30 * M
IDENTIFIERS = ("Canary", "Testpatient", "9434765919", "943 476 5919", "1951-02-03", "REF-H1")


def _check(at: datetime) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["alerts", "check", "--json", "--as-of", at.isoformat()])
    return result.exit_code, json.loads(result.output)


def _heartbeats(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(ALERT.c.key).where(ALERT.c.level == "heartbeat")).scalars())


def test_a_watch_that_never_swept_tells_ops_once_when_events_waited_3_intervals(
    alert_engine: Engine, receivers: Receivers
) -> None:
    pathway_id = refer(alert_engine, "REF-H1", "h1", now=RECEIVED)[1]

    early = _check(RECEIVED + 3 * M)  # exactly 3 intervals: not yet
    down = _check(T0 + D)
    still_down = _check(T0 + D + 5 * M)
    watch(alert_engine, T0 + D + 10 * M)  # the watch is mended
    back = _check(T0 + D + 11 * M)

    assert [code for code, _ in (early, down, still_down, back)] == [0, 1, 1, 0]
    assert early[1]["watch_down"] is False
    assert down[1]["last_sweep_at"] is None
    assert down[1]["first_event_received_at"] == RECEIVED.isoformat()
    assert down[1]["queued"] is not None
    assert still_down[1]["queued"] is None
    [heartbeat] = receivers.ok.bodies("ops")
    assert heartbeat["title"] == "HEARTBEAT cordwatch deadline watch stopped"
    assert heartbeat["message"].startswith(
        "No deadline watch sweep since the first event was received Fri 20 Nov 08:30 GMT "
        "(3 intervals of 60 s missed): clocks are not being watched."
    )
    text = json.dumps(heartbeat)
    assert [i for i in (*IDENTIFIERS, pathway_id, "PW-") if i.lower() in text.lower()] == []
    assert _heartbeats(alert_engine) == ["alert:heartbeat:never"]


def test_an_empty_install_whose_watch_never_ran_alerts_nobody(
    alert_engine: Engine, receivers: Receivers
) -> None:
    code, summary = _check(T0 + 30 * D)

    assert code == 0
    assert summary["watch_down"] is False
    assert summary["queued"] is None
    assert receivers.ok.bodies() == []
    with alert_engine.connect() as conn:
        assert conn.execute(select(OUTBOX.c.key)).all() == []


def test_old_events_and_a_recent_sweep_alert_nobody(
    alert_engine: Engine, receivers: Receivers
) -> None:
    refer(alert_engine, "REF-H1", "h1", now=RECEIVED)
    watch(alert_engine, T0 + 30 * D)

    code, summary = _check(T0 + 30 * D + 2 * M)

    assert code == 0
    assert summary["watch_down"] is False
    assert summary["last_sweep_at"] == (T0 + 30 * D).isoformat()
    assert receivers.ok.bodies("ops") == []
    assert _heartbeats(alert_engine) == []


def test_the_coordinator_board_says_when_the_watch_is_down(
    alert_engine: Engine, receivers: Receivers
) -> None:
    refer(alert_engine, "REF-H2", "h2", now=RECEIVED)
    watch(alert_engine, T0 + D)

    alive = CliRunner().invoke(app, ["board", "--json", "--as-of", (T0 + D + M).isoformat()])
    down = CliRunner().invoke(app, ["board", "--json", "--as-of", (T0 + D + 4 * M).isoformat()])
    text = CliRunner().invoke(app, ["board", "--as-of", (T0 + D + 4 * M).isoformat()])

    assert json.loads(alive.stdout)["watch"] == {
        "down": False,
        "last_sweep_at": (T0 + D).isoformat(),
    }
    assert json.loads(down.stdout)["watch"]["down"] is True
    assert "DEADLINE WATCH DOWN: no sweep since Sat 21 Nov 08:00" in text.stdout
    assert "nobody is being alerted" in text.stdout
