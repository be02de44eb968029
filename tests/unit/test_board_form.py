"""The tumour-board form is an effect of the MDT listing, decided in the core like a letter."""

from __future__ import annotations

from pathway.effects import effects_of_event
from pathway.events import PathwayEvent
from pathway.outbox import Effect
from tests.factories import (
    T0,
    H,
    closed,
    coordinator_contacted,
    imaging_performed,
    imaging_reported,
    mdt_decided,
    mdt_listed,
    mscc_referral,
    view_of,
)

PATHWAY_ID = "PW-7F3K2Q"


def _pathway() -> list[PathwayEvent]:
    return [
        mscc_referral(),
        coordinator_contacted(T0 + H),
        imaging_performed(T0 + 2 * H),
        imaging_reported(T0 + 3 * H),
        mdt_listed(T0 + 4 * H),
        mdt_decided(T0 + 5 * H),
    ]


def _board_forms(events: list[PathwayEvent], index: int) -> list[Effect]:
    before = view_of(events[:index]) if index else None
    effects = effects_of_event(PATHWAY_ID, events[index], before, view_of(events[: index + 1]))
    return [e for e in effects if e.kind == "board_form"]


def test_an_mdt_listing_owes_exactly_one_board_form_named_by_ids_only() -> None:
    events = _pathway()
    listed = events[4]

    forms = _board_forms(events, 4)

    assert forms == [
        Effect(
            kind="board_form",
            key=f"board-form:{listed.event_id}",
            payload={"pathway_id": PATHWAY_ID, "listed_event_id": listed.event_id},
        )
    ]


def test_no_other_event_owes_a_board_form() -> None:
    events = _pathway()

    owed = {events[i].type: _board_forms(events, i) for i in range(len(events)) if i != 4}

    assert owed == {
        "referral.received": [],
        "coordinator.contacted": [],
        "imaging.performed": [],
        "imaging.reported": [],
        "mdt.decided": [],
    }


def test_a_replayed_listing_owes_the_same_form_and_a_new_listing_its_own() -> None:
    events = _pathway()[:5]
    relisted = [*events, mdt_listed(T0 + 6 * H, meeting_at=T0 + 30 * H)]

    first = _board_forms(events, 4)
    replay = _board_forms(events, 4)
    second_listing = _board_forms(relisted, 5)

    assert first == replay
    assert [f.key for f in second_listing] != [f.key for f in first]
    assert len(second_listing) == 1


def test_a_form_is_wanted_until_the_decision_is_recorded_or_the_pathway_closes() -> None:
    from pathway.board import board_form_moot

    events = _pathway()
    listed = events[4].event_id

    undecided = board_form_moot(view_of(events[:5]), listed)
    decided = board_form_moot(view_of(events), listed)
    closed_first = board_form_moot(view_of([*events[:5], closed(T0 + 5 * H)]), listed)
    unknown = board_form_moot(view_of(events[:5]), "no-such-listing")

    assert undecided is None
    assert decided == "the board's decision is already recorded"
    assert unknown == "the listing is no longer recorded"
    assert closed_first == "the pathway is closed"


def test_a_decision_before_a_re_listing_leaves_the_new_listing_its_form() -> None:
    from pathway.board import board_form_moot

    again = mdt_listed(T0 + 6 * H)
    events = [*_pathway(), again]

    assert board_form_moot(view_of(events), again.event_id) is None
    assert board_form_moot(view_of(events), events[4].event_id) is not None
