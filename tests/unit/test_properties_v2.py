"""Invariants of the engine under ruleset version 2 over generated pathways (Hypothesis).

As ``test_properties.py`` does for version 1: valid version-2 pathways (every finding, the
specialist events, consultant upgrades, SINS, boards, outcomes), then the same invariants: any
arrival order gives the same clocks, admitting one by one reproduces evaluate, refused events
resent end as if in order, a closed pathway changes only through what it still accepts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathway.clocks import ClockStatus
from pathway.engine import PathwayView, admit, evaluate, sort_key
from pathway.errors import EventRejected
from pathway.events import EVENT_TYPES, PathwayEvent
from tests.factories import RULES_V2, event, parse, referral_json
from tests.unit.strategies import (
    CATEGORIES,
    CLOSING_REASONS,
    NEURO,
    PAIN,
    PLANS,
    _one,
    gaps,
    minutes,
)

YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)

LESIONS = (
    "mscc",
    "spinal_metastases",
    "suspected_primary_bone_tumour",
    "suspected_haematological_malignancy",
    "indeterminate_lesion",
)
FINDINGS = (*LESIONS, "no_malignant_spinal_lesion")
SERVICES = ("bone_sarcoma_centre", "haematology", "spinal_surgery")
ADVICE = (None, "not_primary_bone_tumour", "not_haematological_malignancy", "other")
HISTOLOGIES = (None, "chordoma", "lymphoma", "giant_cell_tumour")


def _report_data(draw: st.DrawFn) -> dict[str, object]:
    finding = draw(st.sampled_from(FINDINGS))
    data: dict[str, object] = {"finding": finding}
    if finding not in ("mscc", "no_malignant_spinal_lesion"):
        data["cord_compression"] = draw(st.booleans())
    histology = draw(st.sampled_from(HISTOLOGIES))
    if histology is not None and finding != "no_malignant_spinal_lesion":
        data["suspected_histology"] = histology
    if draw(st.booleans()):
        data["sins"] = draw(st.integers(0, 18))
    return data


def _closing(ordered: list[PathwayEvent]) -> PathwayEvent | None:
    """The event that closes the pathway: a closure, or a no-lesion report before any lesion."""
    lesion_seen = False
    for e in ordered:
        if e.type == "pathway.closed":
            return e
        finding = getattr(e.data, "finding", None) if e.type == "imaging.reported" else None
        if finding == "no_malignant_spinal_lesion" and not lesion_seen:
            return e
        if finding is not None and finding != "no_malignant_spinal_lesion":
            lesion_seen = True
    return None


@st.composite
def pathway_events(draw: st.DrawFn, *, must_close: bool = False) -> list[PathwayEvent]:
    """One valid version-2 pathway's events, in clinical order."""
    referred = YEAR_START + timedelta(minutes=draw(st.integers(0, 360 * 24 * 60)))
    raw = referral_json(
        at=referred,
        cancer_status=draw(st.sampled_from(("known", "suspected", "none"))),
        neuro=draw(st.lists(st.sampled_from(NEURO), unique=True, max_size=2)),
        pain=draw(st.lists(st.sampled_from(PAIN), unique=True, max_size=2)),
    )
    events: list[PathwayEvent] = [parse(raw)]
    counter = iter(range(1000))

    def add(type_: str, offset: int, data: dict[str, object]) -> int:
        at = referred + timedelta(minutes=offset)
        events.append(event(type_, at, dict(data), event_id=f"{type_}#{next(counter)}"))
        return offset

    def maybe() -> bool:
        return draw(st.booleans())

    for _ in range(draw(st.integers(0, 2))):
        add(
            "triage.overridden",
            draw(minutes),
            {"category": draw(st.sampled_from(CATEGORIES)), "reason": "review"},
        )
    if maybe():
        add("neuro.deteriorated", draw(minutes), {"neuro_features": [draw(st.sampled_from(NEURO))]})
    if maybe():
        add("coordinator.contacted", draw(minutes), {"coordinator": "C"})
    if maybe():
        add("steroids.started", draw(minutes), {"drug": "dexamethasone", "dose_mg": 16})
    if maybe():
        performed = add("imaging.performed", draw(minutes), {"modality": "mri_whole_spine"})
        for _ in range(draw(st.integers(0, 3))):
            add("imaging.reported", performed + draw(gaps), _report_data(draw))
    for _ in range(draw(st.integers(0, 2))):
        add("specialist.referred", draw(minutes), {"service": draw(st.sampled_from(SERVICES))})
    for _ in range(draw(st.integers(0, 2))):
        data: dict[str, object] = {"service": draw(st.sampled_from(SERVICES)), "mode": "mdt"}
        advice = draw(st.sampled_from(ADVICE))
        if advice is not None:
            data["advice"] = advice
        add("specialist.reviewed", draw(minutes), data)
    if maybe():
        data = {"site_agreed_with_treating_centre": True} if maybe() else {}
        add("biopsy.requested", draw(minutes), data)
    if maybe():
        add("biopsy.performed", draw(minutes), {})
    if maybe():
        add("cwt.upgraded", draw(minutes), {"by": "Dr C"})
    if maybe():
        add(
            "mdt.listed",
            draw(minutes),
            {
                "meeting_at": referred.isoformat(),
                "board": draw(st.sampled_from(("emergency_virtual", "spinal", "site_specific"))),
            },
        )
    decided: int | None = None
    for _ in range(draw(st.integers(0, 2))):
        decided = add(
            "mdt.decided",
            draw(minutes),
            {"plan": draw(st.sampled_from(PLANS)), "decision_to_treat": draw(st.booleans())},
        )
    if decided is not None:
        for _ in range(draw(st.integers(0, 2))):
            add(
                "treatment.started",
                decided + draw(gaps),
                {"modality": draw(st.sampled_from(("surgery", "radiotherapy")))},
            )
    if must_close or maybe():
        add("pathway.closed", draw(minutes), {"reason": draw(st.sampled_from(CLOSING_REASONS))})
    if maybe():
        add(
            "outcome.recorded",
            draw(minutes),
            {"ambulatory_status": "with_aid", "at": "post_treatment"},
        )

    ordered = sorted(events, key=sort_key)
    closing = _closing(ordered)
    after_closing = RULES_V2.ruleset.accepted_after_closing
    if closing is None:
        return ordered
    return [e for e in ordered if sort_key(e) <= sort_key(closing) or e.type in after_closing]


def _last(events: list[PathwayEvent]) -> datetime:
    return max(e.occurred_at for e in events)


@PROPERTY_SETTINGS
@given(st.data())
def test_clocks_are_the_same_whatever_order_the_events_arrive_in(data: st.DataObject) -> None:
    events = data.draw(pathway_events())
    arrival = data.draw(st.permutations(events))

    assert evaluate(arrival, RULES_V2) == evaluate(events, RULES_V2)


@PROPERTY_SETTINGS
@given(pathway_events())
def test_no_clock_is_due_before_it_starts(events: list[PathwayEvent]) -> None:
    view = evaluate(events, RULES_V2)

    for clock in view.clocks:
        assert clock.due_at >= clock.starts_at
        assert clock.stopped_at is None or clock.stopped_at >= clock.starts_at
        assert clock.starts_at >= view.referred_at


@PROPERTY_SETTINGS
@given(pathway_events())
def test_admitting_events_one_by_one_reproduces_evaluate(events: list[PathwayEvent]) -> None:
    now = _last(events)
    recorded: list[PathwayEvent] = []
    view: PathwayView | None = None

    for candidate in events:
        view = admit(recorded, candidate, rules=RULES_V2, now=now, current=view)
        recorded.append(candidate)

    assert view == evaluate(events, RULES_V2)


@PROPERTY_SETTINGS
@given(st.data())
def test_a_feed_that_resends_refused_events_ends_as_if_it_had_been_in_order(
    data: st.DataObject,
) -> None:
    events = data.draw(pathway_events())
    closing = _closing(events)
    tail = [e for e in events[1:] if closing is not None and sort_key(e) >= sort_key(closing)]
    arrival = data.draw(st.permutations([e for e in events[1:] if e not in tail]))
    now = _last(events)
    recorded: list[PathwayEvent] = [events[0]]
    view = evaluate(recorded, RULES_V2)

    waiting = arrival
    while waiting:
        refused = []
        for candidate in waiting:
            try:
                view = admit(recorded, candidate, rules=RULES_V2, now=now, current=view)
            except EventRejected:
                refused.append(candidate)
                continue
            recorded.append(candidate)
        assert len(refused) < len(waiting), f"refused for good: {[e.type for e in refused]}"
        waiting = refused
    for candidate in tail:
        view = admit(recorded, candidate, rules=RULES_V2, now=now, current=view)
        recorded.append(candidate)

    assert view == evaluate(events, RULES_V2)


@PROPERTY_SETTINGS
@given(pathway_events(must_close=True), st.sampled_from(EVENT_TYPES), st.integers(0, 24 * 60))
def test_a_closed_pathway_changes_only_through_what_it_still_accepts(
    events: list[PathwayEvent], type_: str, after: int
) -> None:
    before = evaluate(events, RULES_V2)
    moment = _last(events) + timedelta(minutes=after)
    candidate = (
        event("outcome.recorded", moment, {"ambulatory_status": "with_aid", "at": "presentation"})
        if type_ == "outcome.recorded"
        else _one(type_, moment)  # version 1's free-text timepoint is refused on version 2
    )
    explainable = any(
        c.id == "MRI-MSCC" and c.status_at(moment) is ClockStatus.BREACHED for c in before.clocks
    )

    if type_ == "breach.explained" and not explainable:
        with pytest.raises(EventRejected) as rejected:
            admit(events, candidate, rules=RULES_V2, now=moment)
        assert rejected.value.field == "data.clock"
    elif type_ in RULES_V2.ruleset.accepted_after_closing:
        view = admit(events, candidate, rules=RULES_V2, now=moment)
        assert view.is_closed
        assert view.clocks == before.clocks
    else:
        with pytest.raises(EventRejected) as rejected:
            admit(events, candidate, rules=RULES_V2, now=moment)
        assert rejected.value.field == "type"


@PROPERTY_SETTINGS
@given(pathway_events())
def test_a_suspected_primary_bone_tumour_is_never_closed_as_ruled_out(
    events: list[PathwayEvent],
) -> None:
    view = evaluate(events, RULES_V2)
    primary_first = next(
        (
            e
            for e in events
            if getattr(e.data, "finding", None)
            in ("suspected_primary_bone_tumour", "indeterminate_lesion")
        ),
        None,
    )

    if primary_first is not None and view.closed_at is not None:
        assert view.closed_reason != "ruled_out" or view.closed_at < primary_first.occurred_at
