"""A day clock's unacknowledged breach escalates to `service-lead` every day (pathway-spec.md 6:
the escalation interval is 1 day for day clocks), against real local receivers.

A suspected spinal metastases referral (known cancer, pain red flags, no neurology) at T0,
Friday 20 November 08:00 GMT, starts MRI-METS (7 days): due date Friday 27 November, so its
first late instant is Saturday 28 November 00:00 GMT.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from db.alerts import ALERT
from db.repository import CLOCK, PATHWAY
from services.intake import Intake
from tests.alerts.conftest import Receivers, watch
from tests.conftest import RULES
from tests.factories import INTAKE_T0 as T0
from tests.factories import envelope

M = timedelta(minutes=1)
D = timedelta(days=1)


def _refer_suspected_metastases(engine: Engine) -> str:
    referral = envelope(
        "m1-1",
        "REF-M1",
        "referral.received",
        T0,
        {
            "patient": {
                "nhs_number": "9434765919",
                "given_name": "Canary",
                "family_name": "Testpatient",
                "date_of_birth": "1951-02-03",
            },
            "referrer": {"name": "Dr Who", "organisation": "GP practice"},
            "cancer_status": "known",
            "pain_features": ["nocturnal_pain"],
            "neuro_features": [],
        },
    )
    contacted = envelope(  # stops COORD-METS (24 h): only the 7-day clocks run on
        "m1-2", "REF-M1", "coordinator.contacted", T0 + 20 * M, {"coordinator": "Sam"}
    )
    result = Intake(engine, new_pathway_rules=lambda: RULES).ingest_lines(
        [(1, referral), (2, contacted)], now=T0 + 30 * M
    )
    assert result.rejected == []
    with engine.connect() as conn:
        pathway_id = conn.execute(
            select(PATHWAY.c.id).where(PATHWAY.c.reference == "REF-M1")
        ).scalar_one()
        category = conn.execute(
            select(PATHWAY.c.category).where(PATHWAY.c.id == pathway_id)
        ).scalar_one()
    assert category == "suspected_spinal_metastases"
    return str(pathway_id)


def _mri_mets_due(engine: Engine, pathway_id: str) -> datetime:
    with engine.connect() as conn:
        due: datetime = conn.execute(
            select(CLOCK.c.due_at)
            .where(CLOCK.c.pathway_id == pathway_id)
            .where(CLOCK.c.clock_id == "MRI-METS")
        ).scalar_one()
    return due


def test_an_unacknowledged_day_clock_breach_escalates_daily_and_not_before(
    alert_engine: Engine, receivers: Receivers
) -> None:
    pathway_id = _refer_suspected_metastases(alert_engine)
    due = _mri_mets_due(alert_engine, pathway_id)
    assert due == datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
    raised = due + M  # the watch raises the breach alert at its first sweep after the due time
    sweeps = [
        raised,
        raised + 31 * M,  # past the 30 min of an hour clock: not a day clock's interval
        raised + D - M,
        raised + D,
        raised + D + M,
        raised + 2 * D - M,
        raised + 2 * D,
    ]
    escalation = f"{pathway_id} MRI within 7 days"

    heard: list[int] = []
    for at in sweeps:
        watch(alert_engine, at)
        heard.append(
            sum(body["title"].endswith(escalation) for body in receivers.ok.bodies("service-lead"))
        )

    assert heard == [0, 0, 0, 1, 1, 1, 2]
    assert [
        body["title"]
        for body in receivers.ok.bodies("service-lead")
        if body["title"].endswith(escalation)
    ] == [f"ESCALATION 1 {escalation}", f"ESCALATION 2 {escalation}"]
    assert f"BREACH {escalation}" in [body["title"] for body in receivers.ok.bodies("coordinator")]
    with alert_engine.connect() as conn:
        escalated = conn.execute(
            select(ALERT.c.step, ALERT.c.created_at)
            .where(ALERT.c.clock_id == "MRI-METS")
            .where(ALERT.c.level == "escalation")
            .order_by(ALERT.c.step)
        ).all()
    assert [tuple(row) for row in escalated] == [(1, raised + D), (2, raised + 2 * D)]
