"""A watch killed while it sends pages nobody twice, and the next watch a minute later finishes
its work: what it cannot confirm (sent, never answered) goes to ``fallback`` for a human.

Real processes: ``cordwatch watch --once`` (the console script) is killed with SIGKILL while a
real local receiver holds most of its requests unanswered.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from db.alerts import ALERT
from db.repository import OUTBOX
from services.watch import run_watch
from tasks.alerts import deliver_pending_alerts
from tests.alerts.conftest import Receivers, refer
from tests.alerts.receivers import JsonReceiver, wait_until
from tests.factories import INTAKE_T0 as T0

ROOT = Path(__file__).resolve().parents[2]
CORDWATCH = ROOT / ".venv" / "bin" / "cordwatch"
PATHWAYS = 15
AS_OF = T0 + timedelta(hours=4, minutes=1)  # STEROID-MSCC breached on every pathway


def _alert_id(body: dict[str, str]) -> str:
    return body["message"].rsplit("ack ", 1)[1].split()[0]


def _watch(database_url: str, tmp_path: Path, as_of: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CORDWATCH_DATABASE_URL": database_url,
        "CORDWATCH_ALERT_CONCURRENCY": "8",
        "CORDWATCH_ALERT_TIMEOUT_SECONDS": "20",  # lease 50 s: the next watch takes over
    }
    return subprocess.Popen(
        [str(CORDWATCH), "watch", "--once", "--as-of", as_of],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow  # two real watch processes; the second renders 15 breach report PDFs
def test_a_watch_killed_while_sending_doubles_no_page_and_reports_what_it_cannot_confirm(
    alert_engine: Engine, receivers: Receivers, database_url: str, tmp_path: Path
) -> None:
    # One request in three answered at once, the others held: the kill finds some services
    # done, some in flight and some alerts not started.
    slow = JsonReceiver(delay=lambda n: 0 if n % 3 == 0 else 120)
    receivers.write_config(
        {
            "coordinator": [slow.url("coordinator")],
            "oncall-consultant": [slow.url("oncall-consultant")],
            "fallback": [receivers.ok.url("fallback")],
        }
    )
    for n in range(PATHWAYS):
        refer(alert_engine, f"REF-K{n}", f"k{n}")

    try:
        killed = _watch(database_url, tmp_path, AS_OF.isoformat())
        in_flight = wait_until(lambda: len(slow.bodies()) >= 10, timeout=120)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        slow.delay = 0.0  # the receiver is quick again for the next watch
        after = _watch(database_url, tmp_path, (AS_OF + timedelta(minutes=1)).isoformat())
        _, errors = after.communicate(timeout=300)
    finally:
        slow.close()

    assert in_flight
    assert killed.returncode == -signal.SIGKILL
    assert after.returncode == 0, errors.decode()[-2000:]
    with alert_engine.connect() as conn:
        rows = conn.execute(
            select(ALERT.c.id, OUTBOX.c.status, OUTBOX.c.result).join(
                OUTBOX, OUTBOX.c.key == ALERT.c.key
            )
        ).all()
    ids = {row.id for row in rows}
    assert len(ids) == PATHWAYS
    assert {row.status for row in rows} <= {"sent", "unconfirmed"}
    unconfirmed = {
        (row.id, service)
        for row in rows
        for service, outcome in json.loads(row.result)["services"].items()
        if outcome["state"] == "unconfirmed"
    }
    for path in ("coordinator", "oncall-consultant"):
        pages = Counter(_alert_id(body) for body in slow.bodies(path))
        assert [alert for alert, copies in pages.items() if copies > 1] == []
        # Every alert reached the service, or is reported (it may have died before the send).
        reported = {alert for alert, service in unconfirmed if service == f"{path}#1 JSON"}
        assert set(pages) | reported == ids
    reports = Counter(
        body["message"].split(" not confirmed")[0] for body in receivers.ok.bodies("fallback")
    )
    assert unconfirmed  # the kill did catch services in flight
    assert reports == {f"delivery of {alert} to {service}": 1 for alert, service in unconfirmed}


def test_a_service_left_in_flight_by_a_dead_watch_is_not_paged_again_and_fallback_is_told_once(
    alert_engine: Engine, receivers: Receivers
) -> None:
    refer(alert_engine)
    run_watch(alert_engine, as_of=AS_OF)
    in_flight = {"state": "sending", "ok": False, "attempt": 1, "at": AS_OF.isoformat()}
    with alert_engine.begin() as conn:  # what a watch killed mid-send leaves
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.kind == "alert")
            .values(
                status="sending",
                updated_at=AS_OF,
                result=json.dumps({"services": {"coordinator#1 JSON": in_flight}}),
            )
        )

    within_lease = asyncio.run(deliver_pending_alerts(AS_OF + timedelta(seconds=30)))
    next_watch = asyncio.run(deliver_pending_alerts(AS_OF + timedelta(minutes=1)))
    later = asyncio.run(deliver_pending_alerts(AS_OF + timedelta(minutes=2)))

    assert (within_lease, next_watch, later) == ({}, {"unconfirmed": 1}, {})
    assert receivers.ok.bodies("coordinator") == []
    assert len(receivers.ok.bodies("oncall-consultant")) == 1
    [note] = receivers.ok.bodies("fallback")
    assert note["title"].startswith("NOT CONFIRMED AL-")
    assert (
        " to coordinator#1 JSON not confirmed: the watch stopped while sending" in (note["message"])
    )
    with alert_engine.connect() as conn:
        result = json.loads(
            conn.execute(select(OUTBOX.c.result).where(OUTBOX.c.kind == "alert")).scalar_one()
        )
    assert result["services"]["coordinator#1 JSON"]["state"] == "unconfirmed"
    assert result["services"]["coordinator#1 JSON"]["reported"] is True
