"""A deadline watch asked about the future only previews: it queues nothing not yet due, and
it never tells the heartbeat that the watch is alive.

Before this, one `cordwatch watch --once --as-of 2030-...` queued breaches years early and
recorded a sweep "in 2030", so the heartbeat check saw a live watch until then.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select
from typer.testing import CliRunner

from cordwatch.cli import app
from db.alerts import ALERT
from db.repository import OUTBOX
from db.watch import WATCH_RUN
from services.alerts import queue_heartbeat
from services.watch import run_watch
from tests.alerts.conftest import Receivers, refer
from tests.factories import INTAKE_T0 as T0

H = timedelta(hours=1)
FUTURE = datetime(2099, 1, 4, 9, 0, tzinfo=UTC)
"""Later than any real moment these tests run at (the CLI reads the real clock)."""


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(OUTBOX)).scalar_one(),
            conn.execute(select(func.count()).select_from(ALERT)).scalar_one(),
            conn.execute(select(func.count()).select_from(WATCH_RUN)).scalar_one(),
        )


def test_a_watch_as_of_the_future_previews_what_would_be_owed_and_changes_nothing(
    alert_engine: Engine, receivers: Receivers
) -> None:
    refer(alert_engine, "REF-F1", "f1")
    before = _counts(alert_engine)

    result = CliRunner().invoke(app, ["watch", "--once", "--json", "--as-of", FUTURE.isoformat()])

    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["preview"] is True
    assert {a["level"] for a in report["queued"]} == {"breach"}  # what would be owed then
    assert report["delivered"] == {}
    assert _counts(alert_engine) == before  # no alert, no breach report, no sweep recorded
    assert receivers.ok.bodies() == []


def test_a_watch_in_the_past_or_present_is_no_preview(alert_engine: Engine) -> None:
    refer(alert_engine, "REF-F2", "f2")

    report = run_watch(alert_engine, as_of=T0 + 5 * H, now=T0 + 5 * H)

    assert report.preview is False
    assert [a.level for a in report.sweep.queued] == ["breach"]
    assert _counts(alert_engine)[2] == 1


def test_a_sweep_recorded_for_a_later_moment_does_not_silence_the_heartbeat(
    alert_engine: Engine, receivers: Receivers
) -> None:
    """Rows written before previews existed, or by a clock far ahead, are no sign of life."""
    refer(alert_engine, "REF-F3", "f3")
    run_watch(alert_engine, as_of=T0 + H)
    with alert_engine.begin() as conn:
        conn.execute(insert(WATCH_RUN).values(as_of=FUTURE, queued=0, redriven=0))

    queued = queue_heartbeat(alert_engine, now=T0 + 2 * H, interval=timedelta(seconds=60))

    assert queued is not None
    assert queued.key == "alert:heartbeat:20261120T090000Z"  # the last sweep up to the check
