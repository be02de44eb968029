"""The version-2 letters through the real renderer: HTML, text and PDF (pathway-spec.md 9.5)."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pathway.errors import LetterNotApplicable
from pathway.events import parse_event
from pathway.letter_context import PathwayFacts, letter_context
from pathway.letters import LetterRequest, Recipient
from services.letters import preview_request, render_letter
from tests.factories import RULES_V2, needs_poppler
from tests.letters.canonical import CASES, DATA, LETTERHEAD, PRODUCED_AT, events_of, facts_of

SARCOMA = [json.loads(line) for line in (DATA / "letters_canonical_v2_sarcoma.jsonl").open()]


def _words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html.split("</style>", 1)[1]).split())


def _caution(biopsy: dict[str, Any]) -> tuple[str, str]:
    """The caution for ``biopsy`` in place of the canonical request (text, HTML words)."""
    events = tuple(parse_event(json.dumps(e)) for e in (*SARCOMA[:5], biopsy))
    context = letter_context(
        LetterRequest("biopsy_caution", Recipient.REQUESTER, event_id=biopsy["event_id"]),
        PathwayFacts("PW-SARC01", events, RULES_V2),
        letterhead=LETTERHEAD,
        produced_at=PRODUCED_AT,
    )
    rendered = render_letter("biopsy_caution", context, pdf=False)
    return " ".join(rendered.text.split()), _words(rendered.html)


@pytest.mark.parametrize(
    ("type_", "data", "role", "action"),
    [
        (
            "biopsy.performed",
            {"site_agreed_with_treating_centre": False},
            "The clinician who requested the biopsy",
            "please tell the bone sarcoma centre about the biopsy now",
        ),
        (
            "treatment.started",
            {"modality": "surgery", "emergency_without_mdt_reason": "progressive paraparesis"},
            "The surgeon responsible for the spinal operation",
            "please tell the bone sarcoma centre about the operation now",
        ),
    ],
)
def test_a_biopsy_done_or_an_operation_started_is_told_what_to_do_now(
    type_: str, data: dict[str, Any], role: str, action: str
) -> None:
    event = {**SARCOMA[5], "event_id": "sarc-x", "type": type_, "data": data}
    text, html = _caution(event)
    for words in (text, html):
        assert role in words
        assert "Via the MSCC coordinator, to be passed on at once" in words
        assert action in words.replace("Action: p", "p").replace("ACTION: p", "p")
        assert "ruled out" not in words
    if type_ == "biopsy.performed":
        assert "says the site was not agreed with the treating centre" in text
        assert "track can be planned for removal with the tumour" in text
    else:
        assert "An operation on the spine of David Brennan was started" in text


def test_the_centres_name_from_the_event_is_escaped_in_html() -> None:
    facts = facts_of("sarcoma")
    hostile = json.loads(json.dumps(SARCOMA[6]))
    hostile["data"]["organisation"] = "<b>Centre</b> & Co"
    events = (*facts.events[:6], parse_event(json.dumps(hostile)))
    context = letter_context(
        LetterRequest(
            "sarcoma_centre_referral",
            Recipient.BONE_SARCOMA_CENTRE,
            event_id="sarc-07-specialist.referred",
        ),
        replace(facts, events=events),
        letterhead=LETTERHEAD,
        produced_at=PRODUCED_AT,
    )
    rendered = render_letter("sarcoma_centre_referral", context, pdf=False)
    assert "<b>Centre</b>" not in rendered.html
    assert "&lt;b&gt;Centre&lt;/b&gt; &amp; Co" in rendered.html
    assert "<b>Centre</b> & Co" in rendered.text


def test_a_preview_picks_the_event_the_intake_would_owe_the_letter_for() -> None:
    facts = facts_of("sarcoma")
    at = datetime(2026, 11, 25, tzinfo=UTC)
    for name, expected in (
        ("biopsy_caution", "sarc-06-biopsy.requested"),
        ("patient_information", "sarc-07-specialist.referred"),
        ("sarcoma_centre_referral", "sarc-07-specialist.referred"),
    ):
        request = preview_request(
            facts, name, recipient=None, event_id=None, clock_id=None, as_of=at
        )
        assert request.event_id == expected, name
    with pytest.raises(LetterNotApplicable, match=r"no specialist\.referred event that owes"):
        preview_request(
            facts, "haematology_referral", recipient=None, event_id=None, clock_id=None, as_of=at
        )


ONE_PAGE = {("sarcoma", "imaging_outcome"), ("sarcoma", "biopsy_caution")}
"""Letters a clinician must take in at a glance. The haematological outcome with compression
lists five running targets and a Bilsky grade: its sign-off may go to a second page, never alone."""


@needs_poppler
def test_every_version_2_letter_renders_to_a4_and_never_strands_the_sign_off(
    tmp_path: Path,
) -> None:
    for pathway, name, recipient, event_id in CASES:
        at = next(e.occurred_at for e in events_of(pathway) if e.event_id == event_id)
        context = letter_context(
            LetterRequest(name, Recipient(recipient), event_id=event_id),
            facts_of(pathway),
            letterhead=LETTERHEAD,
            produced_at=at,
        )
        pdf = tmp_path / f"{pathway}.{name}.{recipient}.pdf"
        pdf.write_bytes(render_letter(name, context).content("pdf"))
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
        assert "(A4)" in info.stdout, pdf.name
        pages = int(next(x for x in info.stdout.splitlines() if x.startswith("Pages")).split()[1])
        assert 1 <= pages <= 3, pdf.name
        if (pathway, name) in ONE_PAGE:
            assert pages == 1, f"{pdf.name} runs to {pages} pages"  # read at a glance
        text = subprocess.run(
            ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "David Brennan" in text or "Helen Marsh" in text, pdf.name
        for page in range(2, pages + 1):
            page_text = subprocess.run(
                ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            assert not page_text.lstrip().startswith("Yours sincerely"), f"{pdf.name} {page}"


def test_a_referral_before_any_report_says_the_report_will_follow() -> None:
    events = tuple(parse_event(json.dumps(e)) for e in (*SARCOMA[:4], SARCOMA[6]))
    context = letter_context(
        LetterRequest(
            "sarcoma_centre_referral",
            Recipient.BONE_SARCOMA_CENTRE,
            event_id="sarc-07-specialist.referred",
        ),
        PathwayFacts("PW-SARC01", events, RULES_V2),
        letterhead=LETTERHEAD,
        produced_at=PRODUCED_AT,
    )
    text = " ".join(render_letter("sarcoma_centre_referral", context, pdf=False).text.split())
    assert "No imaging report is recorded yet; we will send it as soon as it is issued." in text
    assert "No biopsy has been requested or performed." in text
    assert "Bone sarcoma centre review" not in text  # SARC-REVIEW waits for a report (9.2)
