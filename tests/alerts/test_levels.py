"""Every alert level end to end through the deadline watch, against real local receivers.

STEROID-MSCC (4 h from referral, pathway-spec.md section 5) gives every level within hours:
at risk at 2 h (50 %) and 3 h (75 %), breach after 4 h, escalation every 30 min after that.
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cordwatch.cli import app
from db.alerts import ALERT
from db.repository import AUDIT, OUTBOX
from services.views import board
from tests.alerts.conftest import Receivers, refer, watch
from tests.alerts.receivers import wait_until
from tests.factories import INTAKE_T0 as T0
from tests.factories import envelope, pathway_lines

H = timedelta(hours=1)
M = timedelta(minutes=1)


def _titles(receivers: Receivers, path: str) -> list[str]:
    return [body["title"] for body in receivers.ok.bodies(path)]


def _alert_ids(engine: Engine, level: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(ALERT.c.id).where(ALERT.c.level == level).order_by(ALERT.c.created_at)
            ).scalars()
        )


def test_each_level_reaches_its_roles_once_across_repeated_sweeps_and_replays(
    alert_engine: Engine, receivers: Receivers
) -> None:
    intake, pathway_id = refer(alert_engine)
    moments = [T0 + 2 * H + M, T0 + 3 * H + M, T0 + 4 * H + M, T0 + 4 * H + 32 * M]

    for at in moments:
        watch(alert_engine, at)
        watch(alert_engine, at + M)  # a second sweep finds nothing new
    intake.ingest_lines(enumerate(pathway_lines("REF-A1", T0, "a1")[:2], 1), now=T0 + 5 * H)
    watch(alert_engine, T0 + 4 * H + 33 * M)  # after a replay of the events: nothing new

    coordinator = _titles(receivers, "coordinator")
    assert coordinator == [
        f"AT RISK {pathway_id} Steroids within 4 h",
        f"AT RISK {pathway_id} Steroids within 4 h",
        f"BREACH {pathway_id} Steroids within 4 h",
    ]
    assert _titles(receivers, "oncall-consultant") == [f"BREACH {pathway_id} Steroids within 4 h"]
    assert wait_until(lambda: len(receivers.smtp.messages) == 1)
    assert receivers.smtp.messages[0]["Subject"] == f"BREACH {pathway_id} Steroids within 4 h"
    assert _titles(receivers, "service-lead") == [f"ESCALATION 1 {pathway_id} Steroids within 4 h"]
    assert receivers.ok.bodies("fallback") == []
    with alert_engine.connect() as conn:
        sent = conn.execute(select(AUDIT.c.action).where(AUDIT.c.action == "alert.sent")).all()
        statuses = set(
            conn.execute(select(OUTBOX.c.status).where(OUTBOX.c.kind == "alert")).scalars()
        )
    assert len(sent) == 4
    assert statuses == {"sent"}


def test_every_message_says_what_is_due_when_and_how_to_acknowledge(
    alert_engine: Engine, receivers: Receivers
) -> None:
    _, pathway_id = refer(alert_engine)

    watch(alert_engine, T0 + 4 * H + 10 * M)

    [breach] = receivers.ok.bodies("coordinator")
    [alert_id] = _alert_ids(alert_engine, "breach")
    assert breach["title"] == f"BREACH {pathway_id} Steroids within 4 h"
    assert breach["message"] == (
        f"{pathway_id} suspected MSCC: Steroids within 4 h (STEROID-MSCC) was due "
        "Fri 20 Nov 12:00 GMT, overdue 0 h 10 min. Level: breach.\n"
        f"http://prefect.example.org/runs?tag=pathway:{pathway_id}\n"
        f"Ack: cordwatch ack {alert_id} --by NAME"
    )
    assert len(breach["title"]) + len(breach["message"]) <= 320


def test_escalation_repeats_until_acknowledged_and_stops_after(
    alert_engine: Engine, receivers: Receivers
) -> None:
    _, pathway_id = refer(alert_engine)
    watch(alert_engine, T0 + 4 * H + M)
    for minutes in (31, 61, 91):
        watch(alert_engine, T0 + 4 * H + minutes * M)
    escalations = _alert_ids(alert_engine, "escalation")

    result = CliRunner().invoke(
        app,
        ["ack", escalations[-1], "--by", "Dr Lead", "--as-of", (T0 + 5 * H + 40 * M).isoformat()],
    )
    for minutes in (121, 151, 181):
        watch(alert_engine, T0 + 4 * H + minutes * M)

    assert result.exit_code == 0, result.output
    assert _titles(receivers, "service-lead") == [
        f"ESCALATION {step} {pathway_id} Steroids within 4 h" for step in (1, 2, 3)
    ]
    with alert_engine.connect() as conn:
        audit = conn.execute(
            select(AUDIT.c.action, AUDIT.c.actor, AUDIT.c.event_type)
            .where(AUDIT.c.pathway_id == pathway_id)
            .where(AUDIT.c.actor == "Dr Lead")
        ).all()
    assert sorted(tuple(row) for row in audit) == [
        ("alert.acknowledged", "Dr Lead", "alert.acknowledged"),
        ("event.accepted", "Dr Lead", "alert.acknowledged"),
    ]
    again = CliRunner().invoke(app, ["ack", escalations[-1], "--by", "Someone Else", "--json"])
    assert json.loads(again.output)["acknowledged_by"] == "Dr Lead"


def test_an_acknowledgement_from_a_feed_also_stops_escalation(
    alert_engine: Engine, receivers: Receivers
) -> None:
    intake, _ = refer(alert_engine)
    watch(alert_engine, T0 + 4 * H + M)
    [breach] = _alert_ids(alert_engine, "breach")

    ack = envelope(
        "feed-ack-1",
        "REF-A1",
        "alert.acknowledged",
        T0 + 4 * H + 5 * M,
        {"alert_id": breach, "by": "Coordinator On Duty"},
    )
    intake.ingest_lines([(1, ack)], now=T0 + 4 * H + 6 * M)
    for minutes in (31, 61):
        watch(alert_engine, T0 + 4 * H + minutes * M)

    assert receivers.ok.bodies("service-lead") == []
    with alert_engine.connect() as conn:
        by = conn.execute(select(ALERT.c.acknowledged_by).where(ALERT.c.id == breach)).scalar()
    assert by == "Coordinator On Duty"


def test_an_acknowledgement_filed_under_another_pathway_is_refused_and_escalation_goes_on(
    alert_engine: Engine, receivers: Receivers
) -> None:
    intake, pathway_id = refer(alert_engine)
    refer(alert_engine, "REF-B2", "b2")
    watch(alert_engine, T0 + 4 * H + M)
    breach = next(
        alert_id
        for alert_id in _alert_ids(alert_engine, "breach")
        if _pathway_of(alert_engine, alert_id) == pathway_id
    )

    wrong = envelope(
        "feed-ack-2",
        "REF-B2",
        "alert.acknowledged",
        T0 + 4 * H + 5 * M,
        {"alert_id": breach, "by": "Coordinator On Duty"},
    )
    result = intake.ingest_lines([(1, wrong)], now=T0 + 4 * H + 6 * M)
    watch(alert_engine, T0 + 4 * H + 31 * M)

    [refused] = result.rejected
    assert (refused.field, refused.reason) == (
        "data.alert_id",
        "this alert is not one of this pathway's alerts",
    )
    assert f"ESCALATION 1 {pathway_id} Steroids within 4 h" in _titles(receivers, "service-lead")
    with alert_engine.connect() as conn:
        by = conn.execute(select(ALERT.c.acknowledged_by).where(ALERT.c.id == breach)).scalar()
    assert by is None


def _pathway_of(engine: Engine, alert_id: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(select(ALERT.c.pathway_id).where(ALERT.c.id == alert_id)).scalar_one()
        )


def test_a_clock_met_after_its_breach_stops_escalating(
    alert_engine: Engine, receivers: Receivers
) -> None:
    intake, _ = refer(alert_engine)
    watch(alert_engine, T0 + 4 * H + M)
    watch(alert_engine, T0 + 4 * H + 31 * M)
    steroids = pathway_lines("REF-A1", T0, "a1")[2].replace(
        (T0 + H).isoformat(), (T0 + 4 * H + 40 * M).isoformat()
    )

    intake.ingest_lines([(1, steroids)], now=T0 + 4 * H + 41 * M)
    for minutes in (61, 91, 121):
        watch(alert_engine, T0 + 4 * H + minutes * M)

    assert len(receivers.ok.bodies("service-lead")) == 1


def test_acknowledging_an_unknown_alert_is_refused(
    alert_engine: Engine, receivers: Receivers
) -> None:
    result = CliRunner().invoke(app, ["ack", "AL-NOSUCH00", "--by", "Dr Lead"])

    assert result.exit_code == 1
    assert "no alert with id" in result.output


def test_a_failing_service_is_tried_once_per_watch_then_the_alert_goes_to_fallback(
    alert_engine: Engine, receivers: Receivers
) -> None:
    receivers.write_config(
        {
            "coordinator": [receivers.ok.url("coordinator"), receivers.failing.url("coordinator")],
            "oncall-consultant": [f"json://127.0.0.1:{receivers.closed_port}/closed"],
            "fallback": [receivers.ok.url("fallback")],
        }
    )
    _, pathway_id = refer(alert_engine)

    watch(alert_engine, T0 + 4 * H + M)
    pending = CliRunner().invoke(app, ["alerts", "--pending", "--json"])
    watch(alert_engine, T0 + 4 * H + 2 * M)
    watch(alert_engine, T0 + 4 * H + 3 * M)
    watch(alert_engine, T0 + 4 * H + 4 * M)
    listed = CliRunner().invoke(app, ["alerts", "--pending", "--json", "--pathway", pathway_id])

    assert json.loads(pending.output)[0]["status"] == "pending"
    [alert] = [a for a in json.loads(listed.output) if a["level"] == "breach"]
    assert alert["status"] == "undelivered"
    assert alert["attempts"] == 3
    assert alert["services"]["coordinator#1 JSON"]["ok"] is True
    failed = alert["services"]["coordinator#2 JSON"]
    assert (failed["ok"], failed["tries"], failed["at"]) == (
        False,
        1,
        (T0 + 4 * H + 3 * M).isoformat(),
    )
    assert alert["services"]["oncall-consultant#1 JSON"]["ok"] is False
    assert alert["fallback"]["fallback#1 JSON"]["ok"] is True
    assert len(receivers.ok.bodies("coordinator")) == 1  # the working service heard it once
    assert len(receivers.failing.bodies("coordinator")) == 3  # 3 attempts, one per watch
    [fallback] = receivers.ok.bodies("fallback")
    assert fallback["title"].startswith("UNDELIVERED to coordinator,oncall-consultant: BREACH")
    with alert_engine.connect() as conn:
        [row] = [r for r in board(conn, as_of=T0 + 5 * H) if r.pathway_id == pathway_id]
    assert row.undelivered_alerts == 1


def test_the_heartbeat_tells_ops_once_when_the_watch_stops(
    alert_engine: Engine, receivers: Receivers
) -> None:
    runner = CliRunner()
    watch(alert_engine, T0)

    alive = runner.invoke(app, ["alerts", "check", "--as-of", (T0 + 2 * M).isoformat()])
    down = runner.invoke(
        app, ["alerts", "check", "--as-of", (T0 + 3 * M + 1 * timedelta(seconds=1)).isoformat()]
    )
    still_down = runner.invoke(app, ["alerts", "check", "--as-of", (T0 + 10 * M).isoformat()])
    watch(alert_engine, T0 + 11 * M)
    back = runner.invoke(app, ["alerts", "check", "--as-of", (T0 + 12 * M).isoformat()])
    down_again = runner.invoke(app, ["alerts", "check", "--as-of", (T0 + 20 * M).isoformat()])

    assert [
        alive.exit_code,
        down.exit_code,
        still_down.exit_code,
        back.exit_code,
        down_again.exit_code,
    ] == [0, 1, 1, 0, 1]
    titles = [body["title"] for body in receivers.ok.bodies("ops")]
    assert titles == ["HEARTBEAT cordwatch deadline watch stopped"] * 2
    assert "Ack: cordwatch ack AL-" in receivers.ok.bodies("ops")[0]["message"]


def test_an_acknowledgement_of_an_unknown_alert_from_a_feed_is_rejected(
    alert_engine: Engine, receivers: Receivers
) -> None:
    intake, _ = refer(alert_engine)
    ack = envelope(
        "feed-ack-x",
        "REF-A1",
        "alert.acknowledged",
        T0 + H,
        {"alert_id": "AL-NOSUCH00", "by": "Someone"},
    )

    result = intake.ingest_lines([(7, ack)], now=T0 + 2 * H)

    assert [(r.line, r.field) for r in result.rejected] == [(7, "data.alert_id")]
