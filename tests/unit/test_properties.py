"""Invariants of the engine over generated pathways (Hypothesis).

The generator builds valid pathways: a referral anywhere in 2026 (so across both clock changes),
then any mix of milestones whose prerequisites hold, then nothing but outcomes and
acknowledgements after the pathway closes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathway.engine import AFTER_CLOSING, PathwayView, admit, evaluate, sort_key
from pathway.errors import EventRejected
from pathway.events import EVENT_TYPES, Finding, PathwayEvent
from tests.factories import RULES, event, parse, referral_json
from tests.unit.strategies import (
    CATEGORIES,
    CLOSING_REASONS,
    FINDINGS,
    NEURO,
    PAIN,
    PLANS,
    _one,
    gaps,
    minutes,
)

YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
MSCC_CLOCKS = ("COORD-MSCC", "STEROID-MSCC", "MRI-MSCC")

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)


def _closes(e: PathwayEvent) -> bool:
    return e.type == "pathway.closed" or (
        e.type == "imaging.reported"
        and getattr(e.data, "finding", None) is Finding.NO_SPINAL_METASTASES
    )


@st.composite
def pathway_events(draw: st.DrawFn, *, must_close: bool = False) -> list[PathwayEvent]:
    """One valid pathway's events, in clinical order."""
    referred = YEAR_START + timedelta(minutes=draw(st.integers(0, 360 * 24 * 60)))
    raw = referral_json(
        at=referred,
        cancer_status=draw(st.sampled_from(("known", "suspected", "none"))),
        neuro=draw(st.lists(st.sampled_from(NEURO), unique=True, max_size=2)),
        pain=draw(st.lists(st.sampled_from(PAIN), unique=True, max_size=2)),
    )
    events: list[PathwayEvent] = [parse(raw)]
    counter = iter(range(1000))

    def at(offset: int) -> datetime:
        return referred + timedelta(minutes=offset)

    def add(type_: str, offset: int, data: dict[str, object]) -> int:
        events.append(event(type_, at(offset), dict(data), event_id=f"{type_}#{next(counter)}"))
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
        if maybe():
            add("steroids.started", draw(minutes), {"drug": "dexamethasone", "dose_mg": 16})
        else:
            add("steroids.withheld", draw(minutes), {"reason": "suspected lymphoma"})
    if maybe():
        add(
            "imaging.requested",
            draw(minutes),
            {"modality": "ct_whole_spine", "reason": "pacemaker"},
        )
    reported: int | None = None
    if maybe():
        performed = add(
            "imaging.performed",
            draw(minutes),
            {"modality": draw(st.sampled_from(("mri_whole_spine", "ct_whole_spine")))},
        )
        for _ in range(draw(st.integers(0, 2))):
            reported = add(
                "imaging.reported",
                performed + draw(gaps),
                {"finding": draw(st.sampled_from(FINDINGS))},
            )
    if maybe():
        biopsy = add("biopsy.performed", draw(minutes), {})
        if maybe():
            reported = add("histology.reported", biopsy + draw(gaps), {"malignant": True})
    if reported is not None and maybe():
        add("diagnosis.communicated", reported + draw(gaps), {})
    decided: int | None = None
    for _ in range(draw(st.integers(0, 2))):
        decided = add(
            "mdt.decided",
            draw(minutes),
            {"plan": draw(st.sampled_from(PLANS)), "decision_to_treat": draw(st.booleans())},
        )
    if decided is not None and maybe():
        add(
            "treatment.started",
            decided + draw(gaps),
            {"modality": draw(st.sampled_from(("surgery", "radiotherapy", "systemic_therapy")))},
        )
    if maybe():
        add(
            "treatment.started",
            draw(minutes),
            {"modality": "radiotherapy", "emergency_without_mdt_reason": "out of hours"},
        )
    if maybe():
        add("alert.acknowledged", draw(minutes), {"alert_id": "a-1", "by": "coordinator"})
    if must_close or maybe():
        add("pathway.closed", draw(minutes), {"reason": draw(st.sampled_from(CLOSING_REASONS))})
    if maybe():
        add("outcome.recorded", draw(minutes), {"ambulatory_status": "with_aid", "at": "6 weeks"})

    ordered = sorted(events, key=sort_key)
    closing = next((e for e in ordered if _closes(e)), None)
    if closing is None:
        return ordered
    return [e for e in ordered if sort_key(e) <= sort_key(closing) or e.type in AFTER_CLOSING]


def _last(events: list[PathwayEvent]) -> datetime:
    return max(e.occurred_at for e in events)


def _earliest_due(view: PathwayView) -> dict[str, datetime]:
    due: dict[str, datetime] = {}
    for clock in view.clocks:
        due[clock.id] = min(due.get(clock.id, clock.due_at), clock.due_at)
    return due


@PROPERTY_SETTINGS
@given(st.data())
def test_clocks_are_the_same_whatever_order_the_events_arrive_in(data: st.DataObject) -> None:
    events = data.draw(pathway_events())
    arrival = data.draw(st.permutations(events))

    assert evaluate(arrival, RULES) == evaluate(events, RULES)


@PROPERTY_SETTINGS
@given(pathway_events())
def test_no_clock_is_due_before_it_starts(events: list[PathwayEvent]) -> None:
    view = evaluate(events, RULES)

    for clock in view.clocks:
        assert clock.due_at >= clock.starts_at
        assert all(clock.starts_at <= w <= clock.due_at for w in clock.warnings)
        assert clock.stopped_at is None or clock.stopped_at >= clock.starts_at
        assert clock.starts_at >= view.referred_at


@PROPERTY_SETTINGS
@given(pathway_events())
def test_folding_the_same_events_twice_gives_the_same_view(events: list[PathwayEvent]) -> None:
    first = evaluate(events, RULES)

    again = evaluate(events, RULES)

    assert again == first


@PROPERTY_SETTINGS
@given(pathway_events())
def test_admitting_events_one_by_one_reproduces_evaluate(events: list[PathwayEvent]) -> None:
    now = _last(events)
    recorded: list[PathwayEvent] = []
    view: PathwayView | None = None

    for candidate in events:
        view = admit(recorded, candidate, rules=RULES, now=now, current=view)
        recorded.append(candidate)
        assert view == evaluate(recorded, RULES)

    assert view == evaluate(events, RULES)


@PROPERTY_SETTINGS
@given(st.data())
def test_admitting_in_any_accepted_arrival_order_reproduces_evaluate(data: st.DataObject) -> None:
    events = data.draw(pathway_events())
    referral, rest = events[0], data.draw(st.permutations(events[1:]))
    now = _last(events)
    recorded: list[PathwayEvent] = [referral]
    view = evaluate(recorded, RULES)

    for candidate in rest:
        try:
            view = admit(recorded, candidate, rules=RULES, now=now, current=view)
        except EventRejected:
            continue  # it arrived before what it follows; a feed would send it again later
        recorded.append(candidate)

    assert view == evaluate(recorded, RULES)
    if len(recorded) == len(events):
        assert view == evaluate(events, RULES)


@PROPERTY_SETTINGS
@given(st.data())
def test_a_feed_that_resends_refused_events_ends_as_if_it_had_been_in_order(
    data: st.DataObject,
) -> None:
    """DEVELOPERS.md, "Arrival order": an event refused because what it needs had not arrived
    is accepted when sent again, and the pathway ends as if the feed had been in order. Any
    arrival order of the open pathway's events, then the closing event and what follows it
    (a closed pathway refuses late events by design)."""
    events = data.draw(pathway_events())
    closing = [e for e in events[1:] if _closes(e)]
    after = [e for e in events[1:] if closing and sort_key(e) > sort_key(closing[0])]
    arrival = data.draw(st.permutations([e for e in events[1:] if e not in closing + after]))
    now = _last(events)
    recorded: list[PathwayEvent] = [events[0]]
    view = evaluate(recorded, RULES)

    waiting = arrival
    while waiting:
        refused = []
        for candidate in waiting:
            try:
                view = admit(recorded, candidate, rules=RULES, now=now, current=view)
            except EventRejected:
                refused.append(candidate)  # the feed sends it again on its next pass
                continue
            recorded.append(candidate)
        assert len(refused) < len(waiting), f"refused for good: {[e.type for e in refused]}"
        waiting = refused
    for candidate in [*closing, *after]:
        view = admit(recorded, candidate, rules=RULES, now=now, current=view)
        recorded.append(candidate)

    assert view == evaluate(events, RULES)


@PROPERTY_SETTINGS
@given(pathway_events(must_close=True), st.sampled_from(EVENT_TYPES), st.integers(0, 24 * 60))
def test_a_closed_pathway_changes_only_through_outcomes_and_acknowledgements(
    events: list[PathwayEvent], type_: str, after: int
) -> None:
    before = evaluate(events, RULES)
    moment = _last(events) + timedelta(minutes=after)
    candidate = _one(type_, moment)

    if type_ in AFTER_CLOSING:
        view = admit(events, candidate, rules=RULES, now=moment)
        assert view.is_closed
        assert view.clocks == before.clocks
        assert view.closed_reason == before.closed_reason
    else:
        with pytest.raises(EventRejected) as rejected:
            admit(events, candidate, rules=RULES, now=moment)
        assert rejected.value.field == "type"


@PROPERTY_SETTINGS
@given(pathway_events(), st.integers(0, 14 * 24 * 60))
def test_a_neurological_upgrade_never_lengthens_a_clock(
    events: list[PathwayEvent], offset: int
) -> None:
    referred = events[0].occurred_at
    moment = referred + timedelta(minutes=offset)
    closing = next((e for e in events if _closes(e)), None)
    if closing is not None:
        moment = min(moment, closing.occurred_at)
    upgrade = event(
        "neuro.deteriorated", moment, {"neuro_features": ["limb_weakness"]}, event_id="up"
    )
    base = evaluate(events, RULES)

    upgraded = evaluate([*events, upgrade], RULES)

    base_due, upgraded_due = _earliest_due(base), _earliest_due(upgraded)
    for clock_id, due in base_due.items():
        assert upgraded_due[clock_id] <= due
    running_at_upgrade = {
        (c.id, c.starts_at)
        for c in base.clocks
        if c.id in MSCC_CLOCKS and c.starts_at <= moment and (c.stopped_at or moment) >= moment
    }
    kept = {(c.id, c.starts_at) for c in upgraded.clocks}
    assert running_at_upgrade <= kept
