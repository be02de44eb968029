"""A letter produced more than a day after its event says so and never promises a past date."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from pathway.letter_context import letter_context
from pathway.letters import LATE_LETTER_AFTER, LetterRequest, Recipient
from tests.letters.canonical import LETTERHEAD, canonical_events, canonical_facts

REFERRAL = canonical_events()[0]


def _acknowledgement(produced_at: datetime) -> dict[str, Any]:
    request = LetterRequest(
        "referral_acknowledgement", Recipient.REFERRER, event_id=REFERRAL.event_id
    )
    return letter_context(
        request, canonical_facts(), letterhead=LETTERHEAD, produced_at=produced_at
    )


def test_a_letter_produced_within_a_day_is_not_marked_late() -> None:
    context = _acknowledgement(REFERRAL.occurred_at + LATE_LETTER_AFTER)

    assert context["late"] is None


def test_a_letter_produced_more_than_a_day_later_names_both_dates() -> None:
    context = _acknowledgement(REFERRAL.occurred_at + LATE_LETTER_AFTER + timedelta(minutes=1))

    assert context["late"] == {"produced": "10 November 2026", "event": "9 November 2026"}


@pytest.mark.parametrize(
    ("after", "coordinator_past", "mri_past"),
    [
        pytest.param(timedelta(0), False, False, id="at-the-event-nothing-is-past"),
        pytest.param(timedelta(hours=2), True, False, id="coordinator-1h-passed"),
        pytest.param(timedelta(days=2), True, True, id="late-every-target-passed"),
    ],
)
def test_targets_already_past_when_produced_are_marked_past(
    after: timedelta, coordinator_past: bool, mri_past: bool
) -> None:
    context = _acknowledgement(REFERRAL.occurred_at + after)

    assert context["past"]["coordinator_due"] is coordinator_past  # COORD-MSCC, 1 h local
    assert context["past"]["mri_due"] is mri_past  # MRI-MSCC, 24 h
    assert all(row["due_past"] is mri_past for row in context["running_clocks"][2:])
