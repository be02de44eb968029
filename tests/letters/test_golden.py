"""Golden files: every letter of the canonical pathway, as text, word for word.

A change of wording shows here as a diff to review. After reviewing it, regenerate with
``CORDWATCH_UPDATE_GOLDEN=1 pytest tests/letters/test_golden.py`` and commit the new files with
the template change.

Each letter is checked twice: produced on time (at its triggering event, the moment the intake
queues it: ``<letter>.<recipient>.txt``) and produced late (on :data:`PRODUCED_AT`, two weeks
after most canonical events: ``<letter>.<recipient>.late.txt``), when it says it is late and
words every target already past as "was due". A breach report is about a clock, never late.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pathway.letter_context import letter_context
from pathway.letters import LETTERS, LetterRequest
from services.letters import TEMPLATES, render_letter
from tests.letters.canonical import (
    GOLDEN,
    LETTERHEAD,
    PATHWAY_ID,
    PRODUCED_AT,
    canonical_facts,
    canonical_letter_effects,
    check_golden,
    produced_on_time,
)

SPEC = Path(__file__).resolve().parents[3] / "shared" / "pathway-spec.md"

SPEC_LETTERS: dict[str, str] = {
    "referral_acknowledgement": "referrer",
    "imaging_request": "radiology",
    "patient_information": "patient",
    "imaging_outcome": "GP and referrer",
    "mdt_outcome": "GP, referrer, patient",
    "treatment_summary": "GP",
    "breach_report": "service lead (clinical governance)",
}
"""pathway-spec.md section 7, letter -> its "to" column (checked against the spec itself below)."""

SPEC_LETTERS_V2 = ("sarcoma_centre_referral", "biopsy_caution", "haematology_referral")
"""The letters section 9.5 adds (its imaging outcome and patient information variants are
letters of section 7): golden files in ``golden/version_2`` (``test_golden_v2.py``)."""

PAIRS = [(name, to.value) for name in SPEC_LETTERS for to in LETTERS[name].recipients]

LATE_PAIRS = [(n, to) for n, to in PAIRS if n not in ("breach_report", "treatment_summary")]
"""The canonical treatment summary is produced an hour after the closing: on time."""


def _render_text(name: str, recipient: str, *, late: bool = False) -> str:
    effect = next(
        e
        for e in canonical_letter_effects()
        if e.payload["letter"] == name and e.payload["recipient"] == recipient
    )
    request = LetterRequest.from_payload(effect.payload)
    context = letter_context(
        request,
        canonical_facts(),
        letterhead=LETTERHEAD,
        produced_at=PRODUCED_AT if late else produced_on_time(request.event_id),
    )
    return render_letter(name, context, pdf=False).text


@pytest.mark.parametrize(("name", "recipient"), PAIRS)
def test_each_letter_matches_its_reviewed_text(name: str, recipient: str) -> None:
    check_golden(GOLDEN / f"{name}.{recipient}.txt", _render_text(name, recipient))


@pytest.mark.parametrize(("name", "recipient"), LATE_PAIRS)
def test_each_late_letter_matches_its_reviewed_text(name: str, recipient: str) -> None:
    check_golden(GOLDEN / f"{name}.{recipient}.late.txt", _render_text(name, recipient, late=True))


def test_the_canonical_pathway_owes_each_letter_once() -> None:
    keys = [e.key for e in canonical_letter_effects()]
    assert len(keys) == len(set(keys))
    assert sorted(keys) == sorted(
        [
            f"letter:referral_acknowledgement:{PATHWAY_ID}:canon-01-referral.received:referrer",
            f"letter:patient_information:{PATHWAY_ID}:canon-01-referral.received:patient",
            f"letter:imaging_request:{PATHWAY_ID}:canon-02-imaging.requested:radiology",
            f"letter:breach_report:{PATHWAY_ID}:MRI-MSCC:2026-11-09T08:30:00+00:00",
            f"letter:imaging_outcome:{PATHWAY_ID}:canon-06-imaging.reported:gp",
            f"letter:imaging_outcome:{PATHWAY_ID}:canon-06-imaging.reported:referrer",
            f"letter:mdt_outcome:{PATHWAY_ID}:canon-08-mdt.decided:gp",
            f"letter:mdt_outcome:{PATHWAY_ID}:canon-08-mdt.decided:referrer",
            f"letter:mdt_outcome:{PATHWAY_ID}:canon-08-mdt.decided:patient",
            f"letter:treatment_summary:{PATHWAY_ID}:canon-12-pathway.closed:gp",
        ]
    )


RECIPIENT_COLUMN = {
    "referrer": "referrer",
    "radiology": "radiology",
    "patient": "patient",
    "gp": "GP",
    "service_lead": "service lead",
}


def _spec_letters() -> dict[str, str]:
    """Section 7 of pathway-spec.md: letter name -> its "to" column."""
    section = SPEC.read_text(encoding="utf-8").split("## 7. Letters", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\w+) \| ([^|]+) \|", section, flags=re.MULTILINE)
    return {name: to.strip() for name, to in rows if name != "letter"}


def test_every_letter_of_the_spec_has_templates_recipients_and_golden_files() -> None:
    assert [*SPEC_LETTERS, *SPEC_LETTERS_V2] == list(LETTERS), "pathway-spec.md 7 and 9.5"
    for name in SPEC_LETTERS_V2:
        assert (TEMPLATES / f"{name}.html.j2").is_file(), name
        assert (TEMPLATES / f"{name}.txt.j2").is_file(), name
        for recipient in LETTERS[name].recipients:
            assert list(GOLDEN.glob(f"version_2/*/{name}.{recipient.value}.txt")), name
    for name, to in SPEC_LETTERS.items():
        recipients = LETTERS[name].recipients
        assert sorted(RECIPIENT_COLUMN[r.value] for r in recipients) == sorted(
            column for column in RECIPIENT_COLUMN.values() if column in to
        ), name
        assert (TEMPLATES / f"{name}.html.j2").is_file(), name
        assert (TEMPLATES / f"{name}.txt.j2").is_file(), name
        for recipient in recipients:
            assert (GOLDEN / f"{name}.{recipient.value}.txt").is_file(), (name, recipient)


def _spec_letters_v2() -> tuple[str, ...]:
    """Section 9.5 of pathway-spec.md: the letters it adds (the names that are not variants)."""
    section = SPEC.read_text(encoding="utf-8").split("### 9.5", 1)[1].split("\n### ", 1)[0]
    letters = section.split("Letters:", 1)[1].split("Figures:", 1)[0]
    return tuple(n for n in re.findall(r"`(\w+)`", letters) if n not in SPEC_LETTERS)


@pytest.mark.skipif(not SPEC.is_file(), reason="shared/pathway-spec.md is not beside the repo")
def test_the_list_of_letters_is_that_of_the_spec() -> None:
    assert _spec_letters() == SPEC_LETTERS
    assert _spec_letters_v2() == SPEC_LETTERS_V2
