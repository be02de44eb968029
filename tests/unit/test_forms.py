"""What the coordinators' forms record (pathway/forms.py): the clinical rules behind the
board-decision and explain-breach forms, without Prefect."""

from __future__ import annotations

from typing import Any

import pytest

from pathway.engine import evaluate
from pathway.errors import FormAnswerRefused
from pathway.events import PathwayEvent
from pathway.forms import breach_explained_envelope, mdt_decided_envelope
from tests.factories import (
    RULES_V2,
    T0,
    H,
    breach_explained,
    imaging_performed,
    mscc_referral,
)

LATE_MRI = [mscc_referral(), imaging_performed(T0 + 30 * H)]
"""MRI-MSCC breached (the scan 30 h after the referral)."""


def _decided(**change: object) -> dict[str, Any]:
    answer: dict[str, object] = {
        "event_id": "board-1",
        "reference": "REF-1",
        "listed_at": T0,
        "now": T0 + 10 * H,
        "decided_at": T0 + 5 * H,
        "decided_by": "Dr Board",
        "plan": "radiotherapy",
        "decision_to_treat": True,
        "intent": None,
        "reason": None,
        "source": "prefect-board-decision",
    }
    return mdt_decided_envelope(**(answer | change))  # type: ignore[arg-type]


def test_a_decision_takes_the_board_s_time_and_only_the_fields_given() -> None:
    envelope = _decided()
    assert envelope["occurred_at"] == (T0 + 5 * H).isoformat()
    assert envelope["data"] == {"plan": "radiotherapy", "decision_to_treat": True}
    with_all = _decided(intent="palliative", reason="frail")
    assert with_all["data"]["intent"] == "palliative"
    assert with_all["data"]["reason"] == "frail"


@pytest.mark.parametrize(
    ("decided_at", "words"),
    [(T0 + 11 * H, "is in the future"), (T0 - H, "is before the MDT listing")],
    ids=["future", "before the listing"],
)
def test_a_decision_time_out_of_bounds_is_refused_naming_the_field(
    decided_at: object, words: str
) -> None:
    with pytest.raises(FormAnswerRefused) as refused:
        _decided(decided_at=decided_at)
    assert refused.value.field == "decided_at"
    assert words in refused.value.reason


def _explained(recorded: list[PathwayEvent], **change: object) -> dict[str, Any]:
    answer: dict[str, object] = {
        "event_id": "ui-1",
        "clock": "MRI-MSCC",
        "reason": "imaging_capacity",
        "stage": "imaging",
        "recorded_by": "Coordinator",
        "primary": True,
        "replace_primary": False,
        "comment": "  ",
        "now": T0 + 40 * H,
        "source": "prefect-explain-breach",
    }
    view = evaluate(recorded, RULES_V2)
    return breach_explained_envelope(view, **(answer | change))  # type: ignore[arg-type]


def test_an_explanation_is_dated_when_recorded_and_a_blank_comment_is_none() -> None:
    envelope = _explained(LATE_MRI)
    assert envelope["occurred_at"] == (T0 + 40 * H).isoformat()
    assert "comment" not in envelope["data"]
    assert _explained(LATE_MRI, comment="no slot")["data"]["comment"] == "no slot"


def test_replacing_the_primary_reason_names_it() -> None:
    first = breach_explained(T0 + 35 * H, "MRI-MSCC")
    envelope = _explained([*LATE_MRI, first], replace_primary=True)
    assert envelope["data"]["supersedes"] == first.event_id


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"replace_primary": True, "primary": False}, "only a primary reason"),
        ({"replace_primary": True}, "no primary reason recorded"),
    ],
    ids=["not primary", "nothing to replace"],
)
def test_a_replacement_that_cannot_be_is_refused(change: dict[str, object], words: str) -> None:
    with pytest.raises(FormAnswerRefused) as refused:
        _explained(LATE_MRI, **change)
    assert refused.value.field == "replace_primary"
    assert words in refused.value.reason
