"""Letters for other pathways than the canonical one: each variant says what applies to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from pathway.errors import LetterNotApplicable
from pathway.events import parse_event
from pathway.letter_context import PathwayFacts, letter_context
from pathway.letters import LetterRequest, Recipient
from services.letters import render_letter
from tests.conftest import RULES
from tests.letters.canonical import CANONICAL_FILE, LETTERHEAD, PRODUCED_AT

LINES = [json.loads(line) for line in CANONICAL_FILE.read_text().splitlines()]


def _facts(*events: dict[str, Any]) -> PathwayFacts:
    return PathwayFacts("PW-VARIA1", tuple(parse_event(json.dumps(e)) for e in events), RULES)


def _referral(**data: object) -> dict[str, Any]:
    referral: dict[str, Any] = json.loads(json.dumps(LINES[0]))
    referral["data"].update(data)
    return referral


def _event(index: int, **data: object) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(json.dumps(LINES[index]))
    event["data"] = data
    return event


def _text(name: str, to: Recipient, facts: PathwayFacts, event_id: str | None) -> str:
    context = letter_context(
        LetterRequest(name, to, event_id=event_id),
        facts,
        letterhead=LETTERHEAD,
        produced_at=PRODUCED_AT,
    )
    rendered = render_letter(name, context, pdf=False)
    return " ".join(rendered.text.split())


def test_suspected_metastases_is_urgent_with_a_seven_day_mri() -> None:
    facts = _facts(_referral(neuro_features=[]))
    text = _text(
        "referral_acknowledgement", Recipient.REFERRER, facts, "canon-01-referral.received"
    )
    assert "suspected spinal metastases (urgent, without neurological features)" in text
    assert "by the end of Monday 16 November 2026" in text  # MRI-METS, a day clock
    assert "oncological emergency" not in text
    patient = _text("patient_information", Recipient.PATIENT, facts, "canon-01-referral.received")
    assert "back or neck pain that could be caused by a cancer" in patient
    assert "call the MSCC hotline on 01632 960111 straight away" in patient


def test_a_referral_needing_review_promises_no_targets() -> None:
    facts = _facts(_referral(cancer_status="none"))
    text = _text(
        "referral_acknowledgement", Recipient.REFERRER, facts, "canon-01-referral.received"
    )
    assert "No pathway targets apply until then" in text
    assert "No pathway target is running" in text


def test_a_ct_request_gives_its_reason() -> None:
    ct = _event(1, modality="ct_whole_spine", reason="Pacemaker not MRI-conditional")
    text = _text("imaging_request", Recipient.RADIOLOGY, _facts(LINES[0], ct), ct["event_id"])
    assert "CT instead of MRI because: Pacemaker not MRI-conditional" in text
    assert "sagittal reconstructions" in text


def test_a_ruled_out_scan_asks_for_steroids_to_stop() -> None:
    ruled_out = _event(5, finding="no_spinal_metastases")
    facts = _facts(*LINES[:5], ruled_out)
    text = _text("imaging_outcome", Recipient.GP, facts, ruled_out["event_id"])
    assert "Result: no spinal metastases" in text
    assert "dexamethasone was started for suspected MSCC and should now be stopped" in text


def test_a_surgical_plan_and_best_supportive_care_read_right() -> None:
    surgery = _event(7, plan="surgery", decision_to_treat=True, intent="palliative")
    facts = _facts(*LINES[:7], surgery)
    text = _text("mdt_outcome", Recipient.REFERRER, facts, surgery["event_id"])
    # Produced on 25 November, two weeks after the decision: the target is past (was due).
    assert "DUE: surgery was due to start by Wednesday 11 November 2026, 15:20 GMT" in text
    patient = _text("mdt_outcome", Recipient.PATIENT, facts, surgery["event_id"])
    assert "We recommend an operation on your spine." in patient
    care = _event(7, plan="best_supportive_care", decision_to_treat=False)
    facts = _facts(*LINES[:7], care)
    patient = _text("mdt_outcome", Recipient.PATIENT, facts, care["event_id"])
    assert "We recommend care to keep you comfortable and control your symptoms." in patient
    assert "We aim to start it" not in patient


def test_a_letter_that_does_not_apply_is_refused_naming_the_field() -> None:
    facts = _facts(*LINES)
    with pytest.raises(LetterNotApplicable, match="recipient"):
        _text("imaging_request", Recipient.PATIENT, facts, "canon-02-imaging.requested")
    with pytest.raises(LetterNotApplicable, match="event_id"):
        _text("imaging_request", Recipient.RADIOLOGY, facts, "canon-01-referral.received")
    with pytest.raises(LetterNotApplicable, match="letter"):
        _text("discharge_summary", Recipient.GP, facts, "canon-12-pathway.closed")
    with pytest.raises(LetterNotApplicable, match="has not breached"):
        letter_context(
            LetterRequest(
                "breach_report",
                Recipient.SERVICE_LEAD,
                clock_id="COORD-MSCC",
                clock_starts_at=datetime(2026, 11, 9, 8, 30, tzinfo=UTC),
            ),
            facts,
            letterhead=LETTERHEAD,
            produced_at=PRODUCED_AT,
        )
