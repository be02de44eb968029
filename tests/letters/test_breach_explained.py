"""The breach report of a version-2 pathway says how to record the breach's reason
(``breach.explained``, pathway-spec.md 9.1 and 9.4) and shows the reasons already recorded;
a version-1 breach report offers nothing of it (version 1 refuses the event)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pathway.events import PathwayEvent, parse_event
from pathway.letter_context import PathwayFacts, letter_context
from pathway.letters import LetterRequest, Recipient
from services.letters import render_letter
from tests.factories import RULES_V2
from tests.letters.canonical import (
    CANONICAL_FILE,
    GOLDEN,
    LETTERHEAD,
    PRODUCED_AT,
    canonical_facts,
    check_golden,
)

LINES = [json.loads(line) for line in CANONICAL_FILE.read_text().splitlines()]
MRI_STARTS = "2026-11-09T08:30:00+00:00"
"""The canonical MRI-MSCC instance: the scan came 2 h 30 min late (canon-05)."""


def _explanation(number: int, **data: Any) -> dict[str, Any]:
    return {
        "event_id": f"why-{number}",
        "pathway": LINES[0]["pathway"],
        "type": "breach.explained",
        "occurred_at": f"2026-11-1{number}T09:00:00+00:00",
        "recorded_by": "Sam Lee",
        "source": "cordwatch-cli",
        "data": {"clock": "MRI-MSCC", "stage": "imaging", **data},
    }


def _facts(*explanations: dict[str, Any]) -> PathwayFacts:
    """The canonical pathway up to the late scan, on version 2, with ``explanations``."""
    events: tuple[PathwayEvent, ...] = tuple(
        parse_event(json.dumps(e)) for e in (*LINES[:5], *explanations)
    )
    return PathwayFacts("PW-VERTWO", events, RULES_V2)


def _render(facts: PathwayFacts) -> tuple[str, str]:
    request = LetterRequest(
        "breach_report",
        Recipient.SERVICE_LEAD,
        clock_id="MRI-MSCC",
        clock_starts_at=datetime.fromisoformat(MRI_STARTS),
    )
    context = letter_context(request, facts, letterhead=LETTERHEAD, produced_at=PRODUCED_AT)
    rendered = render_letter("breach_report", context, pdf=False)
    return rendered.text, rendered.html


def test_a_version_2_breach_report_says_how_to_record_the_reason() -> None:
    text, html = _render(_facts())

    check_golden(GOLDEN / "breach_report.service_lead.v2.txt", text)
    command = (
        "cordwatch record PW-VERTWO breach.explained --at TIME --by NAME "
        "--data clock=MRI-MSCC --data reason=REASON --data stage=STAGE"
    )
    assert f"    {command}\n" in text  # one line, never wrapped: it is copied
    assert command in html
    assert "explain-breach" in text
    assert "explain-breach" in html
    assert "Reasons recorded" not in text


def test_a_version_2_breach_report_shows_the_reasons_already_recorded() -> None:
    facts = _facts(
        _explanation(1, reason="imaging_capacity"),
        _explanation(2, reason="other", comment="scanner down", supersedes="why-1"),
        _explanation(3, reason="communication_failure", primary=False),
    )

    text, html = _render(facts)

    check_golden(GOLDEN / "breach_report.service_lead.v2-explained.txt", text)
    assert "A reason for this breach is recorded" in text
    assert "<strong>Imaging capacity</strong> (imaging_capacity)" in html
    assert "scanner down" in html
    assert html.count("superseded") == 1


def test_the_command_of_the_letter_records_the_event_once_filled_in() -> None:
    """The letter's command line gives exactly the fields ``breach.explained`` takes."""
    from cordwatch.cli import parse_data

    text, _ = _render(_facts())
    line = next(row.strip() for row in text.splitlines() if row.startswith("    cordwatch record"))
    filled = line.replace("REASON", "imaging_capacity").replace("STAGE", "imaging")
    data = parse_data([part for part in filled.split() if "=" in part])

    event = parse_event(json.dumps(_explanation(1) | {"data": data}))

    assert event.type == "breach.explained"


def test_a_version_1_breach_report_offers_no_breach_explanation() -> None:
    """Version 1 has no ``breach.explained``: its breach report stays as it was (golden)."""
    request = LetterRequest(
        "breach_report",
        Recipient.SERVICE_LEAD,
        clock_id="MRI-MSCC",
        clock_starts_at=datetime.fromisoformat(MRI_STARTS),
    )
    context = letter_context(
        request, canonical_facts(), letterhead=LETTERHEAD, produced_at=PRODUCED_AT
    )
    rendered = render_letter("breach_report", context, pdf=False)

    assert context["explain"] is None
    assert "breach.explained" not in rendered.text
    assert "explain-breach" not in rendered.html
    assert rendered.text == (GOLDEN / "breach_report.service_lead.txt").read_text()


def test_the_html_of_a_version_2_breach_report_escapes_a_comment() -> None:
    facts = _facts(_explanation(1, reason="other", comment="<b>late</b> & lost"))

    _, html = _render(facts)

    assert "&lt;b&gt;late&lt;/b&gt; &amp; lost" in html
