"""The facts the report is built from, as the database queries load them (SQLite and PostgreSQL).

The milestone facts of each pathway (ambulatory status, MRIs, MSCC found) are aggregated in
SQL; here they are checked against rows written by hand and, on a simulated cohort, against a
plain reading of every milestone in Python.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, insert, select

from db.reports import load_clock_facts, load_pathway_facts
from db.repository import CLOCK, INBOX, MILESTONE, PATHWAY, PATIENT
from pathway.report import ClockFact, PathwayFact
from pathway.simulation import simulate_cohort
from services.audit_report import performance_report, period_bounds
from services.intake import Intake

MSCC = "suspected_mscc"
METS = "suspected_spinal_metastases"
_EVENT_NUMBERS = count(1)
BEGIN, END = period_bounds(date(2026, 11, 2), date(2026, 11, 8), ZoneInfo("Europe/London"))


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


def add_pathway(conn: Connection, pathway_id: str, referred: datetime, category: str) -> None:
    conn.execute(
        insert(PATIENT).values(
            id=f"PT-{pathway_id}",
            given_name="Synthetic",
            family_name="Person",
            date_of_birth=date(1950, 1, 1),
            created_at=referred,
        )
    )
    conn.execute(
        insert(PATHWAY).values(
            id=pathway_id,
            reference=f"REF-{pathway_id}",
            patient_id=f"PT-{pathway_id}",
            category=category,
            stage="closed",
            status="closed",
            referred_at=referred,
            ruleset="nice-ng234-2023.v1",
            rules="{}",
            version=1,
            updated_at=referred,
        )
    )


def add_milestone(
    conn: Connection, pathway_id: str, type_: str, moment: datetime, details: dict[str, Any]
) -> None:
    """A milestone with its inbox row; stored in call order (the milestone id grows)."""
    event_id = f"{pathway_id}-{next(_EVENT_NUMBERS)}"
    conn.execute(
        insert(INBOX).values(
            event_id=event_id,
            pathway_id=pathway_id,
            type=type_,
            occurred_at=moment,
            received_at=moment,
            content_hash="x",
            payload="{}",
        )
    )
    conn.execute(
        insert(MILESTONE).values(
            pathway_id=pathway_id,
            event_id=event_id,
            type=type_,
            occurred_at=moment,
            details=json.dumps(details),
        )
    )


def test_milestone_facts_are_counted_per_pathway(engine: Engine) -> None:
    with engine.begin() as conn:
        # A: walking with an aid at referral; an MRI requested (not a scan), two MRIs and a CT
        # performed (2 MRIs); one report of MSCC and a later one without (MSCC found).
        # Radiotherapy on 6 Nov; every outcome is after it. Outcomes: 20 Nov independent,
        # then 10 Nov non-ambulatory stored later (earlier in time: not the latest), then
        # 20 Nov with aid (same time as the first, stored last: it stands).
        add_pathway(conn, "PW-A", at(3, 9), MSCC)
        add_milestone(
            conn,
            "PW-A",
            "referral.received",
            at(3, 9),
            {"ambulatory_status": "with_aid", "cancer_status": "known"},
        )
        add_milestone(conn, "PW-A", "imaging.requested", at(3, 10), {"modality": "mri_whole_spine"})
        add_milestone(conn, "PW-A", "imaging.performed", at(3, 12), {"modality": "mri_whole_spine"})
        add_milestone(conn, "PW-A", "imaging.performed", at(3, 13), {"modality": "ct_whole_spine"})
        add_milestone(conn, "PW-A", "imaging.reported", at(3, 14), {"finding": "mscc"})
        add_milestone(conn, "PW-A", "imaging.performed", at(5, 9), {"modality": "mri_whole_spine"})
        add_milestone(conn, "PW-A", "imaging.reported", at(5, 10), {"finding": "spinal_metastases"})
        add_milestone(conn, "PW-A", "treatment.started", at(6, 9), {"modality": "radiotherapy"})
        add_milestone(
            conn, "PW-A", "outcome.recorded", at(20, 9), {"ambulatory_status": "independent"}
        )
        add_milestone(
            conn, "PW-A", "outcome.recorded", at(10, 9), {"ambulatory_status": "non_ambulatory"}
        )
        add_milestone(
            conn, "PW-A", "outcome.recorded", at(20, 9), {"ambulatory_status": "with_aid"}
        )
        # B: status at referral recorded as null; an outcome but never treated: no status
        # after treatment.
        add_pathway(conn, "PW-B", at(4, 9), MSCC)
        add_milestone(conn, "PW-B", "referral.received", at(4, 9), {"ambulatory_status": None})
        add_milestone(
            conn, "PW-B", "outcome.recorded", at(12, 9), {"ambulatory_status": "independent"}
        )
        # C: no status key; a CT only, reported clear: no MRI, no MSCC.
        add_pathway(conn, "PW-C", at(8, 23), METS)
        add_milestone(conn, "PW-C", "referral.received", at(8, 23), {"cancer_status": "known"})
        add_milestone(conn, "PW-C", "imaging.performed", at(9, 9), {"modality": "ct_whole_spine"})
        add_milestone(
            conn, "PW-C", "imaging.reported", at(9, 10), {"finding": "no_spinal_metastases"}
        )
        # D: referred the Sunday before the period, and E on the Monday after (00:00 GMT).
        add_pathway(conn, "PW-D", at(1, 23), MSCC)
        add_milestone(conn, "PW-D", "imaging.performed", at(2, 9), {"modality": "mri_whole_spine"})
        add_pathway(conn, "PW-E", at(9, 0), MSCC)
        # F: independent at referral; its only outcome (non-ambulatory, 5 Nov) is recorded
        # before its treatment (7 Nov): no status after treatment.
        add_pathway(conn, "PW-F", at(5, 9), MSCC)
        add_milestone(
            conn, "PW-F", "referral.received", at(5, 9), {"ambulatory_status": "independent"}
        )
        add_milestone(
            conn, "PW-F", "outcome.recorded", at(5, 12), {"ambulatory_status": "non_ambulatory"}
        )
        add_milestone(conn, "PW-F", "treatment.started", at(7, 9), {"modality": "radiotherapy"})
        # G: non-ambulatory at referral; surgery on 6 Nov 09:00, radiotherapy on 8 Nov 09:00.
        # Outcomes: 5 Nov independent (before any treatment: not counted, though stored
        # last), 6 Nov 09:00 with aid (at the first treatment: counts, though before the
        # second): after treatment with aid.
        add_pathway(conn, "PW-G", at(5, 10), METS)
        add_milestone(
            conn, "PW-G", "referral.received", at(5, 10), {"ambulatory_status": "non_ambulatory"}
        )
        add_milestone(conn, "PW-G", "treatment.started", at(6, 9), {"modality": "surgery"})
        add_milestone(conn, "PW-G", "treatment.started", at(8, 9), {"modality": "radiotherapy"})
        add_milestone(conn, "PW-G", "outcome.recorded", at(6, 9), {"ambulatory_status": "with_aid"})
        add_milestone(
            conn, "PW-G", "outcome.recorded", at(5, 11), {"ambulatory_status": "independent"}
        )

    with engine.connect() as conn:
        facts = sorted(load_pathway_facts(conn, BEGIN, END))
        report = performance_report(
            conn,
            start=date(2026, 11, 2),
            end=date(2026, 11, 8),
            as_of=at(21, 12),
            timezone="Europe/London",
        )

    assert facts == [
        PathwayFact("PW-A", MSCC, at(3, 9), "with_aid", "with_aid", 2, True),
        PathwayFact("PW-B", MSCC, at(4, 9), None, None, 0, False),
        PathwayFact("PW-C", METS, at(8, 23), None, None, 0, False),
        PathwayFact("PW-F", MSCC, at(5, 9), "independent", None, 0, False),
        PathwayFact("PW-G", METS, at(5, 10), "non_ambulatory", "with_aid", 0, False),
    ]
    assert {f.referred_at.tzinfo for f in facts} == {UTC}
    # K10 pairs a status at referral with one after treatment: A (with aid -> with aid:
    # unchanged) and G (non-ambulatory -> with aid: improved) = 2. B has neither, C no
    # status, F none after treatment (its only outcome came before it). Ambulatory at
    # referral among the paired: A = 1; after treatment: A and G = 2. After treatment, per
    # pathway referred: A with aid, G with aid, B, C and F not recorded.
    k10 = report.ambulatory
    assert (k10.paired, k10.ambulatory_at_referral, k10.ambulatory_after_treatment) == (2, 1, 2)
    assert (k10.improved, k10.unchanged, k10.worse) == (1, 1, 0)
    assert k10.after_treatment == {"not recorded": 3, "with_aid": 2}


def test_clock_facts_are_those_started_in_the_period(engine: Engine) -> None:
    with engine.begin() as conn:
        add_pathway(conn, "PW-A", at(3, 9), MSCC)
        for clock_id, starts, stopped, status in (
            ("MRI-MSCC", at(3, 9), at(3, 20), "met"),
            ("PLAN-MSCC", at(3, 22), None, "running"),
            ("CWT-FDS", at(9, 0), None, "running"),  # starts after the period
        ):
            conn.execute(
                insert(CLOCK).values(
                    pathway_id="PW-A",
                    clock_id=clock_id,
                    kind="hour",
                    limit="24 h",
                    local=False,
                    starts_at=starts,
                    due_at=starts + timedelta(hours=24),
                    warn_at=starts + timedelta(hours=12),
                    warnings="[]",
                    stopped_at=stopped,
                    status=status,
                    reason=None,
                )
            )

    with engine.connect() as conn:
        facts = sorted(load_clock_facts(conn, BEGIN, END), key=lambda c: c.starts_at)

    assert facts == [
        ClockFact("PW-A", MSCC, "MRI-MSCC", "hour", at(3, 9), at(4, 9), at(3, 20), "met", None),
        ClockFact("PW-A", MSCC, "PLAN-MSCC", "hour", at(3, 22), at(4, 22), None, "running", None),
    ]
    assert {c.starts_at.tzinfo for c in facts} == {c.due_at.tzinfo for c in facts} == {UTC}


def _plain_reading(conn: Connection, begin: datetime, end: datetime) -> list[PathwayFact]:
    """The pathway facts from every milestone row, one at a time, in Python."""
    facts: dict[str, dict[str, Any]] = {
        row.id: {
            "category": row.category,
            "referred_at": row.referred_at,
            "referral": None,
            "after": None,
            "scans": 0,
            "mscc": False,
        }
        for row in conn.execute(
            select(PATHWAY).where(PATHWAY.c.referred_at >= begin, PATHWAY.c.referred_at < end)
        )
    }
    milestones = conn.execute(
        select(MILESTONE).order_by(MILESTONE.c.occurred_at, MILESTONE.c.id)
    ).all()
    treated: dict[str, datetime] = {}  # the first treatment of each pathway
    for row in milestones:
        if row.type == "treatment.started":
            treated.setdefault(row.pathway_id, row.occurred_at)
    for row in milestones:
        fact = facts.get(row.pathway_id)
        details = json.loads(row.details)
        if fact is None:
            continue
        if row.type == "referral.received":
            fact["referral"] = details.get("ambulatory_status")
        elif row.type == "imaging.performed":
            fact["scans"] += details.get("modality") == "mri_whole_spine"
        elif row.type == "imaging.reported":
            fact["mscc"] = fact["mscc"] or details.get("finding") == "mscc"
        elif row.type == "outcome.recorded":
            first_treatment = treated.get(row.pathway_id)
            if first_treatment is not None and row.occurred_at >= first_treatment:
                fact["after"] = details.get("ambulatory_status")
    return sorted(
        PathwayFact(
            key,
            f["category"],
            f["referred_at"],
            f["referral"],
            f["after"],
            f["scans"],
            f["mscc"],
        )
        for key, f in facts.items()
    )


def test_a_simulated_cohort_gives_the_facts_of_a_plain_reading(
    engine: Engine, intake: Intake
) -> None:
    start = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    horizon = start + timedelta(days=80)
    events = simulate_cohort(patients=150, seed=11, start=start, span_days=40, horizon=horizon)
    intake.ingest_lines(((n, json.dumps(e)) for n, e in enumerate(events, 1)), now=horizon)
    begin, end = period_bounds(date(2026, 9, 7), date(2026, 10, 4), ZoneInfo("Europe/London"))

    with engine.connect() as conn:
        facts = sorted(load_pathway_facts(conn, begin, end))
        expected = _plain_reading(conn, begin, end)

    assert facts == expected
    # The cohort exercises the facts: statuses after treatment recorded, MSCC found.
    assert any(f.ambulatory_after_treatment for f in facts)
    assert any(f.mscc_confirmed for f in facts)
