"""A watch stays within its interval: one bounded attempt per service per sweep, all at once.

A slow receiver is a real local HTTP server that answers late (``JsonReceiver(delay=...)``).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from db.repository import OUTBOX
from services.settings import get_settings
from services.watch import run_watch
from tasks.alerts import deliver_pending_alerts
from tests.alerts.conftest import Receivers, refer, watch
from tests.alerts.receivers import JsonReceiver
from tests.factories import INTAKE_T0 as T0

BREACHED = T0 + timedelta(hours=4, minutes=1)
"""STEROID-MSCC (4 h from the referral at T0) has breached: a breach alert is owed."""


def _results(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(select(OUTBOX.c.result).where(OUTBOX.c.kind == "alert")).scalars()
        return [json.loads(row) for row in rows if row]


def test_a_slow_receiver_is_paged_once_per_attempt_and_the_attempt_is_bounded(
    alert_engine: Engine, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = JsonReceiver(delay=30)
    monkeypatch.setenv("CORDWATCH_ALERT_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    receivers.write_config(
        {
            "coordinator": [slow.url("coordinator")],
            "oncall-consultant": [receivers.ok.url("oncall-consultant")],
            "fallback": [receivers.ok.url("fallback")],
        }
    )
    refer(alert_engine)

    try:
        started = time.perf_counter()
        watch(alert_engine, BREACHED)
        seconds = time.perf_counter() - started
    finally:
        slow.close()

    assert len(slow.bodies("coordinator")) == 1
    assert seconds < 5  # one timeout (1 s) and overhead, not 3 tries of Apprise's 4 s
    (result,) = _results(alert_engine)
    services = result["services"]
    assert isinstance(services, dict)
    coordinator = services["coordinator#1 JSON"]
    assert coordinator["ok"] is False
    assert 0.5 < coordinator["seconds"] < 3
    assert services["oncall-consultant#1 JSON"]["ok"] is True


def test_a_delivery_pass_takes_about_one_answer_time_whatever_the_number_of_alerts(
    alert_engine: Engine, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = JsonReceiver(delay=1.5)
    monkeypatch.setenv("CORDWATCH_ALERT_TIMEOUT_SECONDS", "10")
    get_settings.cache_clear()
    receivers.write_config(
        {
            "coordinator": [slow.url("coordinator")],
            "oncall-consultant": [slow.url("oncall-consultant")],
        }
    )
    for n in range(20):
        refer(alert_engine, f"REF-C{n}", f"c{n}")
    run_watch(alert_engine, as_of=BREACHED)

    try:
        started = time.perf_counter()
        counts = asyncio.run(deliver_pending_alerts(BREACHED))
        seconds = time.perf_counter() - started
    finally:
        slow.close()

    assert counts == {"sent": 20}
    assert len(slow.bodies()) == 40  # each of the two services once per alert
    # All 40 sends wait for the receiver at once: about 1.5 s, not 20 alerts x 2 services.
    assert seconds < 6
    results = _results(alert_engine)
    assert all(
        1.0 < service["seconds"] < 6
        for result in results
        for service in result["services"].values()  # type: ignore[attr-defined]
    )
