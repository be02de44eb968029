"""The board-decision form's answer becomes the `mdt.decided` event (pure, no Prefect run).

The decision's time is clinical time (RT-24H starts at it): the board's ``decided_at``, never
the moment Submit was pressed; a time in the future or before the listing is refused.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flows.board_decision import (
    BoardDecision,
    DecisionRefused,
    IntentChoice,
    PlanChoice,
    clinical_summary,
    decision_envelope,
)
from pathway.events import Plan, parse_event
from tests.conftest import NOW

LISTED_AT = NOW - timedelta(hours=6)


def _answer(**overrides: Any) -> BoardDecision:
    values: dict[str, Any] = {
        "decided_at": NOW - timedelta(hours=3),
        "plan": PlanChoice.RADIOTHERAPY,
        "decision_to_treat": True,
        "decided_by": "Dr Consultant",
    } | overrides
    return BoardDecision(**values)


def _envelope(answer: BoardDecision) -> dict[str, Any]:
    return decision_envelope(
        answer, event_id="board-ev-6", reference="REF-1", listed_at=LISTED_AT, now=NOW
    )


def test_the_event_takes_the_boards_time_not_the_moment_of_submission() -> None:
    envelope = _envelope(_answer())

    assert envelope["occurred_at"] == (NOW - timedelta(hours=3)).isoformat()
    assert envelope["type"] == "mdt.decided"
    assert envelope["recorded_by"] == "Dr Consultant"


def test_plans_read_in_words_and_the_event_keeps_its_codes() -> None:
    envelope = _envelope(_answer(plan=PlanChoice.SURGERY_THEN_RADIOTHERAPY))

    assert PlanChoice.SURGERY_THEN_RADIOTHERAPY.value == "Surgery followed by radiotherapy"
    assert envelope["data"]["plan"] == Plan.SURGERY_THEN_RADIOTHERAPY.value
    assert {choice.name for choice in PlanChoice} == {plan.name for plan in Plan}


@pytest.mark.parametrize(
    ("intent", "stored"),
    [
        pytest.param(IntentChoice.NOT_STATED, None, id="not-stated-is-left-out"),
        pytest.param(IntentChoice.CURATIVE, "curative", id="curative"),
        pytest.param(IntentChoice.PALLIATIVE, "palliative", id="palliative"),
    ],
)
def test_intent_is_one_choice_and_not_stated_stores_none(
    intent: IntentChoice, stored: str | None
) -> None:
    envelope = _envelope(_answer(intent=intent))

    assert envelope["data"].get("intent") == stored


def test_the_envelope_is_a_valid_event() -> None:
    answer = _answer(intent=IntentChoice.PALLIATIVE, reason="frail, short prognosis")

    event = parse_event(json.dumps(_envelope(answer)))

    assert event.occurred_at == NOW - timedelta(hours=3)


def test_a_decision_in_the_future_is_refused_with_a_clear_message() -> None:
    answer = _answer(decided_at=NOW + timedelta(minutes=6))

    with pytest.raises(DecisionRefused) as refused:
        _envelope(answer)

    assert refused.value.field == "decided_at"
    assert "in the future" in refused.value.reason


def test_a_decision_within_the_intakes_skew_is_accepted() -> None:
    envelope = _envelope(_answer(decided_at=NOW + timedelta(minutes=4)))

    assert envelope["occurred_at"] == (NOW + timedelta(minutes=4)).isoformat()


def test_a_decision_before_the_listing_is_refused() -> None:
    answer = _answer(decided_at=LISTED_AT - timedelta(minutes=1))

    with pytest.raises(DecisionRefused) as refused:
        _envelope(answer)

    assert refused.value.field == "decided_at"
    assert "before the MDT listing" in refused.value.reason


def test_a_naive_decision_time_is_refused_by_the_form() -> None:
    with pytest.raises(ValueError, match="timezone"):
        _answer(decided_at=NOW.replace(tzinfo=None))


def test_the_summary_shows_the_imaging_levels_coded_only() -> None:
    from zoneinfo import ZoneInfo

    document = {
        "id": "PW-ABCDEF",
        "category": "suspected_mscc",
        "stage": "awaiting_decision",
        "milestones": [
            {
                "type": "imaging.reported",
                "at": NOW.isoformat(),
                "details": {"finding": "mscc", "levels": ["T4-T6", "L2", "Mrs Smith"]},
            }
        ],
        "clocks": [],
    }

    text = clinical_summary(document, ZoneInfo("Europe/London"))

    assert "levels T4-T6, L2" in text
    assert "Smith" not in text


def test_the_summary_shows_version_2_findings_and_cautions_first_seen() -> None:
    from zoneinfo import ZoneInfo

    document = {
        "id": "PW-ABCDEF",
        "category": "suspected_spinal_metastases",
        "stage": "awaiting_decision",
        "cautions": ["Primary bone tumour suspected, not yet reviewed by the bone sarcoma centre"],
        "milestones": [
            {
                "type": "imaging.reported",
                "at": NOW.isoformat(),
                "details": {
                    "finding": "suspected_primary_bone_tumour",
                    "cord_compression": False,
                    "suspected_histology": "chordoma",
                    "levels": ["L2"],
                },
            }
        ],
        "clocks": [],
    }

    text = clinical_summary(document, ZoneInfo("Europe/London"))

    assert "cord compression **no**, suspected histology chordoma" in text
    assert "### Cautions" in text
    assert "not yet reviewed by the bone sarcoma centre" in text


def test_the_board_decision_summary_carries_no_identifiers() -> None:
    from zoneinfo import ZoneInfo

    document = {
        "id": "PW-ABCDEF",
        "category": "suspected_mscc",
        "stage": "awaiting_decision",
        "milestones": [
            {
                "type": "imaging.reported",
                "at": datetime(2026, 11, 20, 9, tzinfo=UTC).isoformat(),
                "details": {
                    "finding": "mscc",
                    "bilsky_grade": "2",
                    "sins": 9,
                    "levels": "T7 Mrs Smith",
                },
            }
        ],
        "clocks": [
            {
                "id": "PLAN-MSCC",
                "due_at": datetime(2026, 11, 21, 9, tzinfo=UTC).isoformat(),
                "status": "running",
                "at_risk": True,
            }
        ],
    }

    text = clinical_summary(document, ZoneInfo("Europe/London"))

    assert "Bilsky grade 2" in text
    assert "SINS 9" in text
    assert "PLAN-MSCC" in text
    assert "Smith" not in text
