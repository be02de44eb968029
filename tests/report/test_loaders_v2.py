"""Version-2 report facts loaded from a real database (SQLite and PostgreSQL), through the intake.

Each pathway is a clinical case fed through :class:`Intake` under ruleset version 2, so the
rows are those the service stores; the figures are worked by hand from pathway-spec.md 9.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from db.reports import load_explanations, load_pathway_facts
from pathway.engine import evaluate
from pathway.events import parse_event
from services.audit_report import performance_report, period_bounds
from services.intake import Intake
from tests.factories import RULES_V2, T0, D, H, envelope_json, referral_json

AS_OF = T0 + 60 * D
BEGIN, END = period_bounds(date(2026, 11, 2), date(2026, 11, 8), ZoneInfo("Europe/London"))
COMMENT = "Scanner 2 down for maintenance"


def lesion(ref: str, at: datetime, finding: str, **more: Any) -> list[dict[str, Any]]:
    """Referral at ``at``, MRI 2 h later, its report 2 h after that."""
    return [
        referral_json(ref=ref, at=at, event_id=f"{ref}-referral"),
        envelope_json(
            "imaging.performed",
            at + 2 * H,
            {"modality": "mri_whole_spine"},
            ref=ref,
            event_id=f"{ref}-mri",
        ),
        envelope_json(
            "imaging.reported",
            at + 4 * H,
            {"finding": finding, "cord_compression": False, **more},
            ref=ref,
            event_id=f"{ref}-report",
        ),
    ]


def step(ref: str, name: str, type_: str, at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return envelope_json(type_, at, data, ref=ref, event_id=f"{ref}-{name}")


CENTRE = {"service": "bone_sarcoma_centre"}
REVIEW = {"service": "bone_sarcoma_centre", "mode": "mdt"}


def cohort() -> list[dict[str, Any]]:
    # A: suspected primary bone tumour, biopsied locally on day 1, referred day 2, reviewed
    #    by the centre day 5: biopsied before the review (K-SARC-1 not met).
    a = [
        *lesion("REF-A", T0, "suspected_primary_bone_tumour"),
        step("REF-A", "biopsy", "biopsy.performed", T0 + D, {"method": "CT-guided"}),
        step("REF-A", "referred", "specialist.referred", T0 + 2 * D, CENTRE),
        step("REF-A", "reviewed", "specialist.reviewed", T0 + 5 * D, REVIEW),
    ]
    # B: indeterminate lesion, chordoma suspected; biopsied on day 1 at a site agreed with
    #    the treating centre, then reviewed: on target.
    b = [
        *lesion("REF-B", T0 + H, "indeterminate_lesion", suspected_histology="chordoma"),
        step(
            "REF-B",
            "biopsy",
            "biopsy.performed",
            T0 + D,
            {"site_agreed_with_treating_centre": True},
        ),
        step("REF-B", "referred", "specialist.referred", T0 + 2 * D, CENTRE),
        step("REF-B", "reviewed", "specialist.reviewed", T0 + 4 * D, REVIEW),
    ]
    # C: indeterminate lesion, lymphoma suspected: not a bone sarcoma, not in K-SARC-1.
    c = lesion("REF-C", T0 + 2 * H, "indeterminate_lesion", suspected_histology="lymphoma")
    # D: suspected primary bone tumour, nothing since: awaiting the centre's review.
    d = lesion("REF-D", T0 + 3 * H, "suspected_primary_bone_tumour")
    # E: MSCC; MRI at 30 h (MRI-MSCC breached, explained as imaging capacity), radiotherapy
    #    on day 2; day 30 recorded on day 32 (in window) with an aid, week 8 recorded on day
    #    42 (40 days after treatment: out of 56 +/- 7) walking independently.
    treated = T0 + 2 * D
    e = [
        referral_json(
            ref="REF-E", at=T0, event_id="REF-E-referral", ambulatory_status="non_ambulatory"
        ),
        step("REF-E", "mri", "imaging.performed", T0 + 30 * H, {"modality": "mri_whole_spine"}),
        step(
            "REF-E",
            "why",
            "breach.explained",
            T0 + 31 * H,
            {
                "clock": "MRI-MSCC",
                "reason": "imaging_capacity",
                "stage": "imaging",
                "comment": COMMENT,
            },
        ),
        step("REF-E", "report", "imaging.reported", T0 + 32 * H, {"finding": "mscc"}),
        step(
            "REF-E",
            "listed",
            "mdt.listed",
            T0 + 33 * H,
            {"meeting_at": (T0 + 34 * H).isoformat(), "board": "spinal"},
        ),
        step(
            "REF-E",
            "decided",
            "mdt.decided",
            T0 + 34 * H,
            {"plan": "radiotherapy", "decision_to_treat": True},
        ),
        step("REF-E", "rt", "treatment.started", treated, {"modality": "radiotherapy"}),
        step(
            "REF-E",
            "d30",
            "outcome.recorded",
            treated + 30 * D,
            {"at": "day_30", "ambulatory_status": "with_aid"},
        ),
        step(
            "REF-E",
            "w8",
            "outcome.recorded",
            treated + 40 * D,
            {"at": "week_8", "ambulatory_status": "independent"},
        ),
    ]
    return [*a, *b, *c, *d, *e]


@pytest.fixture
def stored(engine: Engine) -> list[dict[str, Any]]:
    events = cohort()
    intake = Intake(engine, new_pathway_rules=lambda: RULES_V2)
    result = intake.ingest_lines(((n, json.dumps(e)) for n, e in enumerate(events, 1)), now=AS_OF)
    assert (result.accepted, result.rejected) == (len(events), []), result
    return events


def test_version_2_facts_of_each_pathway(engine: Engine, stored: list[dict[str, Any]]) -> None:
    with engine.connect() as conn:
        facts = {f.pathway_id: f for f in load_pathway_facts(conn, BEGIN, END)}
        explanations = load_explanations(conn, BEGIN, END)
        report = performance_report(
            conn,
            start=date(2026, 11, 2),
            end=date(2026, 11, 8),
            as_of=AS_OF,
            timezone="Europe/London",
        )

    kinds = sorted(tuple(e.kind for e in f.sarcoma_events) for f in facts.values())
    # A: suspected, biopsy, centre review; B: suspected, review (the agreed biopsy is not
    # read); D: suspected. C and E read nothing.
    assert kinds == [
        (),
        (),
        ("suspected",),
        ("suspected", "biopsy", "centre_review"),
        ("suspected", "centre_review"),
    ]
    sarcoma = report.sarcoma
    assert (sarcoma.suspected, sarcoma.reviewed_first, sarcoma.biopsied_first) == (3, 1, 1)
    assert (sarcoma.awaiting_review, sarcoma.percent) == (1, 50.0)
    k = next(k for k in report.kpis if k.id == "K-SARC-1")
    assert (k.numerator, k.denominator, k.meets_target) == (1, 2, False)
    assert len(sarcoma.biopsied_first_pathways) == 1
    assert sarcoma.biopsied_first_pathways[0].startswith("PW-")

    # K10 of E: the week-8 record is out of window; day 30 (with an aid) stands.
    e = next(f for f in facts.values() if f.ambulatory_at_referral == "non_ambulatory")
    assert (e.ambulatory_after_treatment, e.outcomes_out_of_window) == ("with_aid", 1)
    assert report.ambulatory.outcomes_out_of_window == 1
    assert report.ambulatory.improved == 1

    # The breach explanation, its coded fields only.
    assert [(x.clock_id, x.reason, x.stage, x.primary) for x in explanations] == [
        ("MRI-MSCC", "imaging_capacity", "imaging", True)
    ]
    mri = next(r for r in report.breach_reasons if r.clock_id == "MRI-MSCC")
    assert (mri.breached, mri.explained, mri.by_stage) == (1, 1, {"imaging": 1})
    assert mri.median_delay_hours_by_stage == {"imaging": 6.0}
    document = json.dumps(report.as_dict())
    assert COMMENT not in document
    assert "REF-" not in document


def test_the_report_leaves_out_what_the_engine_flags_out_of_window(
    engine: Engine, stored: list[dict[str, Any]]
) -> None:
    events = [parse_event(json.dumps(e)) for e in stored if e["pathway"] == "REF-E"]
    view = evaluate(events, RULES_V2)

    with engine.connect() as conn:
        facts = load_pathway_facts(conn, BEGIN, END)

    flagged = sum(f.outcomes_out_of_window for f in facts)
    assert flagged == len(view.outcomes_out_of_window) == 1
    assert view.outcomes_out_of_window == ("REF-E-w8",)


def test_explanations_of_pathways_without_a_clock_in_the_period_are_not_loaded(
    engine: Engine, stored: list[dict[str, Any]]
) -> None:
    later = period_bounds(date(2026, 11, 9), date(2026, 11, 15), ZoneInfo("Europe/London"))

    with engine.connect() as conn:
        assert load_explanations(conn, *later) == []


def test_an_empty_database_gives_empty_version_2_figures(engine: Engine) -> None:
    with engine.connect() as conn:
        report = performance_report(
            conn,
            start=date(2026, 11, 2),
            end=date(2026, 11, 8),
            as_of=AS_OF,
            timezone="Europe/London",
        )

    assert report.breach_reasons == []
    assert report.sarcoma.suspected == 0
    assert report.times.busiest_weekday is None
