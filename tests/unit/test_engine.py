"""The pathway view beyond single clocks: stages, restarts, clock changes, closing and queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pathway.clocks import ClockStatus
from pathway.engine import PathwayView, Stage, clock_statuses, evaluate
from pathway.errors import EventRejected
from pathway.events import CancerStatus, Category, PathwayEvent
from tests.factories import (
    RULES,
    T0,
    D,
    H,
    biopsy_performed,
    biopsy_requested,
    closed,
    coordinator_contacted,
    diagnosis_communicated,
    histology_reported,
    imaging_performed,
    imaging_reported,
    mdt_decided,
    mdt_listed,
    mets_referral,
    mscc_referral,
    neuro_deteriorated,
    overridden,
    referral,
    review_referral,
    steroids_started,
    treatment_started,
    view_of,
)

LONDON = ZoneInfo("Europe/London")
M = timedelta(minutes=1)


def _instances(view: PathwayView, clock_id: str) -> list[tuple[ClockStatus, datetime, str | None]]:
    return [
        (c.status_at(T0 + 30 * D), c.starts_at, c.reason) for c in view.clocks if c.id == clock_id
    ]


@pytest.mark.parametrize(
    ("events", "stage"),
    [
        pytest.param([review_referral()], Stage.NEEDS_REVIEW, id="needs_review"),
        pytest.param([mscc_referral()], Stage.AWAITING_IMAGING, id="referred"),
        pytest.param(
            [mscc_referral(), imaging_performed(T0 + H)], Stage.AWAITING_REPORT, id="scanned"
        ),
        pytest.param(
            [mscc_referral(), imaging_performed(T0 + H), imaging_reported(T0 + 2 * H)],
            Stage.AWAITING_DECISION,
            id="reported",
        ),
        pytest.param(
            [mscc_referral(), mdt_decided(T0 + H)], Stage.AWAITING_TREATMENT, id="decided to treat"
        ),
        pytest.param(
            [mscc_referral(), mdt_decided(T0 + H, "best_supportive_care", decision_to_treat=False)],
            Stage.NO_TREATMENT_PLANNED,
            id="decided not to treat",
        ),
        pytest.param(
            [mscc_referral(), mdt_decided(T0 + H), treatment_started(T0 + 2 * H)],
            Stage.IN_TREATMENT,
            id="treated",
        ),
        pytest.param([mscc_referral(), closed(T0 + H)], Stage.CLOSED, id="closed"),
    ],
)
def test_the_stage_is_derived_from_the_milestones(events: list[PathwayEvent], stage: Stage) -> None:
    assert view_of(events).stage is stage


def test_a_later_decision_to_treat_outranks_an_earlier_decision_not_to() -> None:
    events = [
        mscc_referral(),
        mdt_decided(T0 + H, "best_supportive_care", decision_to_treat=False),
        mdt_decided(T0 + 2 * H, "radiotherapy"),
        mdt_decided(T0 + 3 * H, "best_supportive_care", decision_to_treat=False),
    ]

    assert view_of(events).stage is Stage.AWAITING_TREATMENT


def test_an_override_down_then_up_starts_a_second_instance_of_each_mscc_clock() -> None:
    events = [
        mscc_referral(),
        overridden(T0 + 30 * M, Category.SUSPECTED_SPINAL_METASTASES.value),
        overridden(T0 + 2 * H, Category.SUSPECTED_MSCC.value),
    ]

    view = view_of(events)

    assert _instances(view, "STEROID-MSCC") == [
        (ClockStatus.EXCLUDED, T0, "triage_overridden"),
        (ClockStatus.BREACHED, T0 + 2 * H, None),
    ]


def test_a_neurological_upgrade_restarts_the_24h_mri_clock_from_the_deterioration() -> None:
    """MRI-MSCC: a suspected metastases pathway that deteriorates gets 24 h from then."""
    view = view_of([mets_referral(), neuro_deteriorated(T0 + 3 * D)])

    mri = next(c for c in view.clocks if c.id == "MRI-MSCC")

    assert view.category is Category.SUSPECTED_MSCC
    assert (mri.starts_at, mri.due_at) == (T0 + 3 * D, T0 + 4 * D)


def test_deterioration_without_cancer_stays_in_review() -> None:
    view = view_of([review_referral(), neuro_deteriorated(T0 + H)])

    assert view.category is Category.NEEDS_REVIEW
    assert view.clocks == ()


def test_an_override_to_the_same_category_changes_nothing() -> None:
    plain = view_of([mscc_referral()])

    same = view_of([mscc_referral(), overridden(T0 + H, Category.SUSPECTED_MSCC.value)])

    assert same.clocks == plain.clocks


def test_an_override_down_to_needs_review_stops_every_clock_including_the_cwt_clocks() -> None:
    events = [
        mscc_referral(cancer_status="suspected"),
        imaging_performed(T0 + H),
        imaging_reported(T0 + 2 * H),
        overridden(T0 + 3 * H, Category.NEEDS_REVIEW.value),
    ]

    view = view_of(events)

    assert view.stage is Stage.NEEDS_REVIEW
    assert all(c.stopped_at is not None for c in view.clocks)
    assert {c.id for c in view.clocks if c.reason == "triage_overridden"} == {
        "COORD-MSCC",
        "STEROID-MSCC",
        "PLAN-MSCC",
        "CWT-FDS",
        "CWT-62",
    }


def test_the_hour_clock_counts_24_elapsed_hours_across_the_october_change() -> None:
    """MRI-MSCC: 13:00 BST on 24 October is due 12:00 GMT on the 25th, not 13:00."""
    referred = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)

    mri = next(c for c in view_of([mscc_referral(at=referred)]).clocks if c.id == "MRI-MSCC")

    assert mri.due_at - mri.starts_at == timedelta(hours=24)
    assert mri.starts_at.astimezone(LONDON).hour == 13
    assert mri.due_at.astimezone(LONDON).hour == 12


def test_the_day_clock_due_instant_is_local_midnight_across_the_march_change() -> None:
    """MRI-METS, the spec's example: due date 1 April, first late instant 00:00 BST on 2 April."""
    referred = datetime(2026, 3, 25, 23, 30, tzinfo=UTC)

    mri = next(c for c in view_of([mets_referral(at=referred)]).clocks if c.id == "MRI-METS")

    assert mri.due_at == datetime(2026, 4, 1, 23, 0, tzinfo=UTC)
    assert mri.due_at == datetime(2026, 4, 2, tzinfo=LONDON)
    assert mri.due_at.astimezone(LONDON).utcoffset() == timedelta(hours=1)


def test_the_warnings_are_at_half_and_three_quarters_of_the_span() -> None:
    coord = next(c for c in view_of([mscc_referral()]).clocks if c.id == "COORD-MSCC")

    assert coord.warnings == (T0 + 30 * M, T0 + 45 * M)
    assert [coord.warning_level(T0 + m * M) for m in (29, 30, 45, 60, 61)] == [
        0,
        1,
        2,
        2,
        0,
    ]


def test_a_stopped_clock_has_no_warning_level() -> None:
    events = [mscc_referral(), coordinator_contacted(T0 + 40 * M)]

    coord = next(c for c in view_of(events).clocks if c.id == "COORD-MSCC")

    assert coord.warning_level(T0 + 41 * M) == 0
    assert coord.warning_level(T0 + 39 * M) == 1


def test_a_ruled_out_report_closes_the_pathway_and_flags_steroids_for_stopping() -> None:
    """D10: steroids started for suspected MSCC are flagged when imaging rules it out."""
    events = [
        mscc_referral(),
        steroids_started(T0 + H),
        imaging_performed(T0 + 2 * H),
        imaging_reported(T0 + 3 * H, "no_spinal_metastases"),
    ]

    view = view_of(events)

    assert (view.status, view.closed_reason, view.closed_at) == ("closed", "ruled_out", T0 + 3 * H)
    assert view.steroids_to_stop
    assert all(c.stopped_at is not None for c in view.clocks)


def test_a_ruled_out_report_without_steroids_flags_nothing() -> None:
    events = [
        mscc_referral(),
        imaging_performed(T0 + 2 * H),
        imaging_reported(T0 + 3 * H, "no_spinal_metastases"),
    ]

    assert not view_of(events).steroids_to_stop


def test_no_clock_starts_after_the_pathway_closes() -> None:
    events = [
        mscc_referral(),
        imaging_performed(T0 + H),
        imaging_reported(T0 + 2 * H, "no_spinal_metastases"),
    ]

    view = view_of(events)

    assert "PLAN-MSCC" not in {c.id for c in view.clocks}


def test_milestones_carry_coded_facts_but_never_the_patient() -> None:
    view = view_of([mscc_referral(), coordinator_contacted(T0 + H)])

    first, second = view.milestones

    assert first.details == {
        "cancer_status": "known",
        "pain_features": [],
        "neuro_features": ["limb_weakness"],
        "ambulatory_status": None,
        "primary_site": "breast",
    }
    assert second.details == {"coordinator": "MSCC coordinator"}
    assert "Example" not in repr(view)
    assert "9434765919" not in repr(view)


def test_the_view_names_the_pathway_and_its_ruleset() -> None:
    view = view_of([referral(ref="REF-2026-0042", ambulatory_status="with_aid")])

    assert view.reference == "REF-2026-0042"
    assert view.ruleset == "nice-ng234-2023.v1"
    assert view.cancer_status is CancerStatus.KNOWN
    assert view.referred_at == T0
    assert view.milestones[0].details["ambulatory_status"] == "with_aid"
    assert not view.is_closed


def test_diagnosis_may_follow_histology_without_imaging() -> None:
    events = [
        mscc_referral(),
        biopsy_requested(T0 + H),
        biopsy_performed(T0 + 2 * H),
        histology_reported(T0 + 3 * H),
        mdt_listed(T0 + 4 * H),
        diagnosis_communicated(T0 + 5 * H),
    ]

    view = view_of(events)

    assert [m.type for m in view.milestones][-1] == "diagnosis.communicated"


def test_most_urgent_is_the_started_unstopped_clock_due_first() -> None:
    view = view_of([mscc_referral(), coordinator_contacted(T0 + 30 * M)])

    before_contact = view.most_urgent(T0 + 10 * M)
    after_contact = view.most_urgent(T0 + H)

    assert before_contact is not None
    assert before_contact.id == "COORD-MSCC"
    assert after_contact is not None
    assert after_contact.id == "STEROID-MSCC"


def test_most_urgent_ignores_clocks_not_yet_started_and_is_none_when_all_stopped() -> None:
    events = [mscc_referral(), closed(T0 + H)]

    view = view_of(events)

    assert view.most_urgent(T0 - H) is None
    assert view.most_urgent(T0 + 2 * H) is None


def test_clock_statuses_lists_the_clocks_started_by_then_with_their_status() -> None:
    events = [mets_referral(), neuro_deteriorated(T0 + 5 * H)]
    view = view_of(events)

    statuses = clock_statuses(view, T0 + 5 * H - timedelta(seconds=1))

    assert {(c.id, status, risk) for c, status, risk in statuses} == {
        ("COORD-METS", ClockStatus.RUNNING, False),
        ("MRI-METS", ClockStatus.RUNNING, False),
        ("PLAN-METS", ClockStatus.RUNNING, False),
    }


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([coordinator_contacted(T0)], id="no referral at all"),
        pytest.param(
            [mscc_referral(), coordinator_contacted(T0 - H)], id="an event before the referral"
        ),
    ],
)
def test_evaluate_refuses_events_without_a_referral_before_them(
    events: list[PathwayEvent],
) -> None:
    with pytest.raises(EventRejected) as rejected:
        evaluate(events, RULES)

    assert rejected.value.field == "pathway"


def test_evaluate_refuses_a_second_referral() -> None:
    with pytest.raises(EventRejected) as rejected:
        evaluate([mscc_referral(), mets_referral(at=T0 + H)], RULES)

    assert rejected.value.field == "type"
