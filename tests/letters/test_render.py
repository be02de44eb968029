"""Rendering: a missing value fails loudly, hostile input prints as text, the PDF reads right."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError

from pathway.events import parse_event
from pathway.letter_context import PathwayFacts, letter_context
from pathway.letters import LetterRequest, Recipient
from services.letters import render_letter, template_version
from tests.factories import needs_poppler
from tests.letters.canonical import (
    CANONICAL_FILE,
    LETTERHEAD,
    PRODUCED_AT,
    canonical_facts,
)


def _context(
    name: str = "referral_acknowledgement",
    to: Recipient = Recipient.REFERRER,
    event_id: str = "canon-01-referral.received",
    facts: PathwayFacts | None = None,
) -> dict[str, Any]:
    return letter_context(
        LetterRequest(name, to, event_id=event_id),
        facts or canonical_facts(),
        letterhead=LETTERHEAD,
        produced_at=PRODUCED_AT,
    )


def test_a_context_missing_a_value_fails_instead_of_printing_a_blank() -> None:
    context = _context()
    del context["patient"]
    with pytest.raises(UndefinedError, match="patient"):
        render_letter("referral_acknowledgement", context, pdf=False)
    context = _context()
    context["event"] = {"recorded_by": None}  # "at" is missing
    with pytest.raises(UndefinedError, match="at"):
        render_letter("referral_acknowledgement", context, pdf=False)


def _hostile_facts() -> PathwayFacts:
    facts = canonical_facts()
    lines = CANONICAL_FILE.read_text().splitlines()
    hostile = (
        lines[0]
        .replace('"Margaret"', '"<script>alert(1)</script>"')
        .replace('"Example Oncology Unit"', '"Unit <b onmouseover=x>&amp;"')
    )
    return replace(facts, events=(parse_event(hostile), *facts.events[1:]))


def test_html_escapes_hostile_input_and_the_text_keeps_it_verbatim() -> None:
    rendered = render_letter(
        "referral_acknowledgement", _context(facts=_hostile_facts()), pdf=False
    )
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Okafor" in rendered.html
    assert "<b onmouseover" not in rendered.html
    assert "Unit &lt;b onmouseover=x&gt;&amp;amp;" in rendered.html
    assert "<script>alert(1)</script> Okafor" in rendered.text  # plain text is never HTML


def test_the_governance_breach_report_carries_no_patient_identifier() -> None:
    from datetime import UTC, datetime

    context = letter_context(
        LetterRequest(
            "breach_report",
            Recipient.SERVICE_LEAD,
            clock_id="MRI-MSCC",
            clock_starts_at=datetime(2026, 11, 9, 8, 30, tzinfo=UTC),
        ),
        canonical_facts(),
        letterhead=LETTERHEAD,
        produced_at=PRODUCED_AT,
    )
    assert context["patient"] is None
    rendered = render_letter("breach_report", context, pdf=False)
    for identifier in ("Margaret", "Okafor", "9434765919", "943 476 5919", "RX1-448213", "1948"):
        assert identifier not in rendered.html
        assert identifier not in rendered.text


def test_the_template_version_is_a_hash_of_the_sources() -> None:
    version, sources = template_version("imaging_request")
    assert len(version) == 16
    assert "imaging_request.html.j2" in sources
    assert "_base.html.j2" in sources
    assert template_version("imaging_outcome")[0] != version


@needs_poppler
def test_the_pdf_is_a4_and_reads_as_the_letter(tmp_path: Path) -> None:
    rendered = render_letter(
        "imaging_request",
        _context("imaging_request", Recipient.RADIOLOGY, "canon-02-imaging.requested"),
    )
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(rendered.content("pdf"))
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    sizes = [line for line in info.stdout.splitlines() if line.startswith("Page size")]
    assert sizes
    assert all("(A4)" in line for line in sizes)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    squashed = " ".join(text.split())
    for fact in (
        "Request for urgent spinal imaging",
        "Margaret Okafor",
        "943 476 5919",
        "RX1-448213",
        "EMERGENCY: suspected metastatic spinal cord compression",
        "by Tuesday 10 November 2026, 08:30 GMT",
        "01632 960111",
        "REF-2026-0042",
    ):
        assert fact in squashed, fact


@needs_poppler
def test_every_letter_renders_to_a_pdf_of_a4_pages(tmp_path: Path) -> None:
    from tests.letters.canonical import canonical_letter_effects, produced_on_time

    for effect in canonical_letter_effects():
        request = LetterRequest.from_payload(effect.payload)
        # On time, as the intake produces them: a late letter adds a line (and may run on).
        context = letter_context(
            request,
            canonical_facts(),
            letterhead=LETTERHEAD,
            produced_at=produced_on_time(request.event_id),
        )
        pdf = tmp_path / f"{request.name}.{request.recipient.value}.pdf"
        pdf.write_bytes(render_letter(request.name, context).content("pdf"))
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
        assert "(A4)" in info.stdout, pdf.name
        pages = int(next(x for x in info.stdout.splitlines() if x.startswith("Pages")).split()[1])
        assert 1 <= pages <= 3, pdf.name
        if request.recipient is not Recipient.PATIENT and request.name in ONE_PAGE:
            assert pages == 1, f"{pdf.name} runs to {pages} pages"
        for page in range(2, pages + 1):  # a sign-off never stands alone at the top of a page
            text = subprocess.run(
                ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            assert not text.lstrip().startswith("Yours sincerely"), f"{pdf.name} page {page}"


ONE_PAGE = {"referral_acknowledgement", "imaging_request", "imaging_outcome", "mdt_outcome"}
"""Letters to clinicians a reader should take in at a glance: one A4 page for the canonical
pathway (the breach report and treatment summary list the whole pathway and may run on)."""


def test_the_letterhead_comes_from_the_settings_with_an_optional_logo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.letters import letterhead_from
    from services.settings import Settings

    logo = tmp_path / "logo.svg"
    logo.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40">'
        '<rect width="120" height="40" fill="#005eb8"/></svg>',
        encoding="utf-8",
    )
    settings = Settings(
        letter_service_name="Spinal Emergency Service",
        letter_organisation="North Example NHS Trust",
        letter_address="North Example Hospital, 1 High Street, Northtown, NX1 2AB",
        letter_phone="01632 960222",
        letter_hotline="01632 960333",
        letter_email="mscc@example.nhs.uk",
        letter_logo_path=str(logo),
    )
    letterhead = letterhead_from(settings)
    assert letterhead.address == ("North Example Hospital", "1 High Street", "Northtown", "NX1 2AB")
    context = letter_context(
        LetterRequest(
            "imaging_request", Recipient.RADIOLOGY, event_id="canon-02-imaging.requested"
        ),
        canonical_facts(),
        letterhead=letterhead,
        produced_at=PRODUCED_AT,
    )
    rendered = render_letter("imaging_request", context)
    assert f'<img src="{logo.resolve().as_uri()}"' in rendered.html
    for fact in ("Spinal Emergency Service", "North Example NHS Trust", "1 High Street",
                 "01632 960222", "01632 960333", "mscc@example.nhs.uk"):  # fmt: skip
        assert fact in rendered.html
    assert rendered.content("pdf").startswith(b"%PDF-")
    without = letterhead_from(Settings(letter_logo_path=str(tmp_path / "absent.png")))
    assert without.logo_uri is None
