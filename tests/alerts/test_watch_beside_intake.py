"""A deadline watch running beside an intake is safe: no crash on a key both decide, and no BREACH
page for a clock that a later batch of a back-dated file stopped on time or excluded."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from db.alerts import ALERT
from db.engine import make_engine
from db.repository import AUDIT, OUTBOX, PATHWAY
from flows.deadline_watch import deliver_owed
from pathway.letters import breach_report_key
from services.intake import Intake
from services.watch import run_watch
from tests.alerts.conftest import Receivers, refer, watch
from tests.conftest import RULES
from tests.factories import INTAKE_T0 as T0
from tests.factories import envelope, pathway_lines

BREACHED = T0 + timedelta(hours=4, minutes=1)
"""STEROID-MSCC (4 h from the referral at T0) has breached: a breach alert is owed."""

STOPS: dict[str, tuple[str, dict[str, Any], timedelta]] = {
    "met": ("steroids.started", {"drug": "dexamethasone", "dose_mg": 16}, timedelta(hours=1)),
    "excluded": ("steroids.withheld", {"reason": "suspected lymphoma"}, timedelta(hours=1)),
    "late": ("steroids.started", {"drug": "dexamethasone", "dose_mg": 16}, timedelta(hours=5)),
}
"""How a pathway's STEROID-MSCC clock ends: on time, excluded, or late (breached)."""


def _alert_id(body: dict[str, str]) -> str:
    return body["message"].rsplit("ack ", 1)[1].split()[0]


@pytest.mark.parametrize("ending", ["met", "excluded"])
def test_a_breach_alert_whose_clock_stopped_before_delivery_is_cancelled_and_audited(
    alert_engine: Engine, receivers: Receivers, ending: str
) -> None:
    intake, pathway_id = refer(alert_engine)
    run_watch(alert_engine, as_of=BREACHED)  # the watch sees the clock running late
    type_, data, after = STOPS[ending]
    stop = envelope("a1-3", "REF-A1", type_, T0 + after, data)
    intake.ingest_lines([(3, stop)], now=BREACHED + timedelta(seconds=30))  # back-dated

    asyncio.run(deliver_owed(BREACHED + timedelta(minutes=1)))

    assert receivers.ok.bodies("coordinator") == []
    with alert_engine.connect() as conn:
        statuses = dict(
            conn.execute(select(OUTBOX.c.key, OUTBOX.c.status).where(OUTBOX.c.kind == "alert"))
            .tuples()
            .all()
        )
        report = conn.execute(
            select(OUTBOX.c.status).where(OUTBOX.c.key.startswith("letter:breach_report:"))
        ).scalar_one()
        cancelled = conn.execute(
            select(AUDIT.c.reason).where(AUDIT.c.action == "alert.cancelled")
        ).scalar_one()
    assert list(statuses.values()) == ["cancelled"]
    assert cancelled == "the clock has stopped"
    assert report == "cancelled"  # no breach report letter for a clock that did not breach
    assert pathway_id


def test_a_sweep_and_an_intake_deciding_the_same_breach_report_at_once_do_not_crash(
    alert_engine: Engine, receivers: Receivers, database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite: BEGIN IMMEDIATE serializes the sweep and the intake")
    _, pathway_id = refer(alert_engine)
    type_, data, _ = STOPS["late"]
    late_stop = envelope("a1-3", "REF-A1", type_, T0 + timedelta(hours=4, seconds=30), data)
    other = make_engine(database_url)
    racing = Intake(other, new_pathway_rules=lambda: RULES)
    raced: list[Any] = []

    def intake_commits_first(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The sweep has read the clock running late and checked the keys: the intake now
        # stops it late and commits its own breach report, with the same key.
        if statement.startswith("INSERT INTO outbox") and not raced:
            raced.append(racing.ingest_lines([(3, late_stop)], now=BREACHED))

    event.listen(alert_engine, "before_cursor_execute", intake_commits_first)
    try:
        report = run_watch(alert_engine, as_of=BREACHED)
    finally:
        event.remove(alert_engine, "before_cursor_execute", intake_commits_first)
        other.dispose()

    assert raced[0].accepted == 1
    assert [alert.level for alert in report.sweep.queued] == ["breach"]
    with alert_engine.connect() as conn:
        keys = list(conn.execute(select(OUTBOX.c.key).where(OUTBOX.c.kind == "letter")).scalars())
    assert keys.count(breach_report_key(pathway_id, "STEROID-MSCC", T0)) == 1


def _cohort(count: int) -> tuple[list[str], dict[str, str]]:
    """A back-dated file in time order: every referral first, the steroid events later."""
    firsts: list[str] = []
    stops: list[str] = []
    endings: dict[str, str] = {}
    for n in range(count):
        ending = ("met", "excluded", "late")[n % 3]
        ref = f"REF-B{n}"
        endings[ref] = ending
        firsts.extend(pathway_lines(ref, T0, f"b{n}")[:2])
        type_, data, after = STOPS[ending]
        stops.append(envelope(f"b{n}-3", ref, type_, T0 + after, data))
    return firsts + stops, endings


def test_a_watch_beside_a_back_dated_bulk_ingest_never_crashes_nor_pages_a_false_breach(
    alert_engine: Engine, receivers: Receivers, database_url: str
) -> None:
    lines, endings = _cohort(30)
    now = T0 + timedelta(days=1)
    sweeps = threading.Semaphore(0)
    done = threading.Event()
    errors: list[BaseException] = []
    watch_engine = make_engine(database_url)

    def watch_loop() -> None:
        while not done.is_set():
            try:
                run_watch(watch_engine, as_of=now)
            except BaseException as error:  # the test asserts none
                errors.append(error)
                return
            finally:
                sweeps.release()

    def after_batch(_: int) -> None:
        sweeps.acquire(timeout=30)  # let at least one sweep run between batches

    watcher = threading.Thread(target=watch_loop)
    watcher.start()
    try:
        intake = Intake(alert_engine, new_pathway_rules=lambda: RULES)
        result = intake.ingest_lines(
            enumerate(lines, 1), now=now, batch_size=10, progress=after_batch
        )
    finally:
        done.set()
        watcher.join(timeout=60)
        watch_engine.dispose()
    watch(alert_engine, now + timedelta(minutes=1))

    assert errors == []
    assert result.rejected == []
    with alert_engine.connect() as conn:
        alerts = {
            row.id: row
            for row in conn.execute(
                select(ALERT.c.id, ALERT.c.level, ALERT.c.clock_id, ALERT.c.pathway_id)
            )
        }
        references = dict(conn.execute(select(PATHWAY.c.id, PATHWAY.c.reference)).tuples().all())
    queued_for_stopped = [
        a for a in alerts.values() if a.clock_id == "STEROID-MSCC" and a.level == "breach"
    ]
    assert queued_for_stopped  # the watch did see clocks running late between batches
    false_breaches = [
        alerts[_alert_id(body)].pathway_id
        for body in receivers.ok.bodies("coordinator")
        if alerts[_alert_id(body)].level == "breach"
        and alerts[_alert_id(body)].clock_id == "STEROID-MSCC"
        and endings[references[alerts[_alert_id(body)].pathway_id]] in ("met", "excluded")
    ]
    assert false_breaches == []
