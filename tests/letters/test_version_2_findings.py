"""Imaging outcome letters for the findings of ruleset version 2 (pathway-spec.md section 9.1).

The variants of section 9.5 are later work; until then a version-2 finding must never be told
as "no spinal metastases, closing", the hazard version 2 exists to prevent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cordwatch.letters import render_letter
from pathway.events import parse_event
from pathway.letters import LetterRequest, PathwayFacts, Recipient, letter_context
from tests.factories import RULES_V2
from tests.letters.canonical import CANONICAL_FILE, LETTERHEAD, PRODUCED_AT

LINES = [json.loads(line) for line in CANONICAL_FILE.read_text().splitlines()]


def _report(index: int, **data: object) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(json.dumps(LINES[5]))
    event["event_id"] = f"v2-report-{index}"
    event["data"] = data
    return event


def _text(*reports: dict[str, Any]) -> str:
    events = tuple(parse_event(json.dumps(e)) for e in (*LINES[:5], *reports))
    facts = PathwayFacts("PW-VERTWO", events, RULES_V2)
    context = letter_context(
        LetterRequest("imaging_outcome", Recipient.GP, event_id=reports[-1]["event_id"]),
        facts,
        letterhead=LETTERHEAD,
        produced_at=PRODUCED_AT,
    )
    rendered = render_letter("imaging_outcome", context, pdf=False)
    html = " ".join(rendered.html.split())
    assert ("no spinal metastases" in html) == ("no spinal metastases" in rendered.text)
    return " ".join(rendered.text.split())


@pytest.mark.parametrize(
    "finding",
    [
        "suspected_primary_bone_tumour",
        "suspected_haematological_malignancy",
        "indeterminate_lesion",
    ],
)
def test_a_lesion_finding_is_never_told_as_ruled_out(finding: str) -> None:
    text = _text(_report(1, finding=finding, cord_compression=True, levels=["T10", "T11-T12"]))

    assert "no spinal metastases" not in text
    assert "closing" not in text
    assert ", with cord compression. This is not a report of spinal metastases" in text
    assert "Do not biopsy or operate locally" in text
    assert "Level(s): T10, T11-T12" in text
    assert "Targets still running" in text


def test_no_malignant_lesion_first_closes() -> None:
    text = _text(_report(1, finding="no_malignant_spinal_lesion"))

    assert (
        "Result: no malignant spinal lesion. The MSCC pathway for this referral is closing" in text
    )
    assert "Targets still running" not in text


def test_no_malignant_lesion_after_a_lesion_keeps_the_pathway_open() -> None:
    text = _text(
        _report(1, finding="suspected_primary_bone_tumour", cord_compression=False),
        _report(2, finding="no_malignant_spinal_lesion"),
    )

    assert "still under specialist review, so the MSCC pathway stays open" in text
    assert "closing" not in text
