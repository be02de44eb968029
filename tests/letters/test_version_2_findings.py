"""Imaging outcome letters for the findings of ruleset version 2 (pathway-spec.md 9.1, 9.5).

Each lesion finding is told in its own words, and none is ever told as "no spinal metastases",
ruled out or closing: that a primary bone tumour read as "no metastases" was closed is the
hazard version 2 exists to prevent. A primary bone tumour, or an indeterminate lesion, carries
"do not biopsy or operate locally" and says where the referral to the bone sarcoma centre
stands; a haematological lesion says where the referral to haematology stands and, when no
steroids are recorded, to discuss dexamethasone with haematology first (E4).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pathway.events import parse_event
from pathway.letter_context import PathwayFacts, letter_context
from pathway.letters import LetterRequest, Recipient
from services.letters import render_letter
from tests.factories import RULES_V2
from tests.letters.canonical import CANONICAL_FILE, LETTERHEAD, PRODUCED_AT

LINES: tuple[dict[str, Any], ...] = tuple(
    json.loads(line) for line in CANONICAL_FILE.read_text().splitlines()
)


def _report(index: int, **data: object) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(json.dumps(LINES[5]))
    event["event_id"] = f"v2-report-{index}"
    event["data"] = data
    return event


def _event(type_: str, at: str, index: int, **data: object) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(json.dumps(LINES[5]))
    event.update(event_id=f"v2-{type_}-{index}", type=type_, occurred_at=at, data=data)
    return event


def _render(
    *reports: dict[str, Any], before: tuple[dict[str, Any], ...] = LINES[:5]
) -> tuple[str, str]:
    events = tuple(parse_event(json.dumps(e)) for e in (*before, *reports))
    facts = PathwayFacts("PW-VERTWO", events, RULES_V2)
    context = letter_context(
        LetterRequest("imaging_outcome", Recipient.GP, event_id=reports[-1]["event_id"]),
        facts,
        letterhead=LETTERHEAD,
        produced_at=PRODUCED_AT,
    )
    rendered = render_letter("imaging_outcome", context, pdf=False)
    body = re.sub(r"<[^>]+>", " ", rendered.html.split("</style>", 1)[1])  # words, not markup
    return " ".join(rendered.text.split()), " ".join(body.split())


def _text(*reports: dict[str, Any], before: tuple[dict[str, Any], ...] = LINES[:5]) -> str:
    text, html = _render(*reports, before=before)
    for words in ("no spinal metastases", "ruled out", "closing"):
        assert (words in html) == (words in text), words
    return text


LESIONS = [
    "suspected_primary_bone_tumour",
    "suspected_haematological_malignancy",
    "indeterminate_lesion",
]


@pytest.mark.parametrize("finding", LESIONS)
@pytest.mark.parametrize("compression", [True, False])
def test_a_lesion_finding_is_never_told_as_ruled_out(finding: str, compression: bool) -> None:
    text = _text(_report(1, finding=finding, cord_compression=compression, levels=["T10"]))

    for words in ("no spinal metastases", "ruled out", "closing", "without cord compression"):
        assert words not in text, words
    assert "rather than a metastasis" in text or "cannot yet say what the lesion is" in text
    assert "Level(s): T10" in text
    assert f"Spinal cord compression: {'yes' if compression else 'no'}" in text
    assert ("WITH SPINAL CORD COMPRESSION" in text) is compression
    # PLAN-MSCC starts at a report with compression, whatever the lesion (section 9.1).
    assert ("Treatment plan within 24 h of a report of compression" in text) is compression
    if finding != "suspected_haematological_malignancy":
        assert ("There is spinal cord compression: a treatment decision was due by" in text) is (
            compression
        )
    assert "Targets still running" in text


def test_a_suspected_primary_bone_tumour_says_do_not_biopsy_and_where_the_referral_stands() -> None:
    report = _report(
        1,
        finding="suspected_primary_bone_tumour",
        cord_compression=True,
        suspected_histology="ewing",
    )
    text, html = _render(report)
    assert "RESULT: POSSIBLE PRIMARY BONE TUMOUR, WITH SPINAL CORD COMPRESSION." in text
    assert "primary bone tumour (suspected Ewing sarcoma) rather than a metastasis" in text
    assert "ACTION: do not biopsy or operate locally." in text
    assert "Action: do not biopsy or operate locally." in html
    # SARC-REFER: 24 h from the report (10 November 13:30), past when produced on 25 November.
    assert (
        "The MSCC team is referring the patient to the bone sarcoma centre: the referral was due "
        "by Wednesday 11 November 2026, 13:30 GMT (a local target)." in text
    )
    assert "Any emergency treatment is discussed with the bone sarcoma centre" in text
    assert "Suspected histology: Ewing sarcoma" in text


def test_a_referral_already_made_is_named_with_its_centre() -> None:
    referred = _event(
        "specialist.referred",
        "2026-11-10T13:00:00+00:00",
        1,
        service="bone_sarcoma_centre",
        organisation="Example Sarcoma Unit",
    )
    report = _report(1, finding="suspected_primary_bone_tumour", cord_compression=False)
    text = _text(report, before=(*LINES[:5], referred))
    assert "The patient was referred to Example Sarcoma Unit on Tuesday 10 November 2026" in text
    assert "is referring" not in text


@pytest.mark.parametrize(
    ("histology", "referral"),
    [
        ("chondrosarcoma", "the referral was due by Wednesday 11 November 2026, 13:30 GMT"),
        (None, "arranging specialist review of the images"),
        ("giant_cell_tumour", "arranging specialist review of the images"),
    ],
)
def test_an_indeterminate_lesion_is_managed_as_a_possible_primary_bone_tumour(
    histology: str | None, referral: str
) -> None:
    data: dict[str, object] = {"finding": "indeterminate_lesion", "cord_compression": False}
    if histology is not None:
        data["suspected_histology"] = histology
    text = _text(_report(1, **data))
    assert "RESULT: INDETERMINATE SPINAL LESION." in text
    assert "a primary bone tumour has not been excluded" in text
    assert "ACTION: do not biopsy or operate locally." in text
    assert referral in text  # SARC-REFER runs only for a bone-sarcoma histology (9.2)


@pytest.mark.parametrize(
    ("steroids", "words"),
    [
        (None, "ACTION: dexamethasone has not been started: discuss it with haematology first"),
        ({"drug": "dexamethasone", "dose_mg": 16}, "Dexamethasone has been started"),
        ({"reason": "suspected myeloma"}, "Dexamethasone is being withheld until haematology"),
    ],
)
def test_a_haematological_lesion_goes_to_haematology_and_steroids_are_discussed_first(
    steroids: dict[str, object] | None, words: str
) -> None:
    before: tuple[dict[str, Any], ...] = (LINES[0], LINES[1], LINES[2], LINES[4])
    if steroids is not None:
        kind = "steroids.started" if "drug" in steroids else "steroids.withheld"
        before = (*before, _event(kind, "2026-11-10T12:00:00+00:00", 1, **steroids))
    report = _report(
        1,
        finding="suspected_haematological_malignancy",
        cord_compression=False,
        suspected_histology="lymphoma",
    )
    text = _text(report, before=before)
    assert "RESULT: POSSIBLE HAEMATOLOGICAL MALIGNANCY." in text
    assert "haematological malignancy (suspected lymphoma) rather than a metastasis" in text
    assert "The MSCC team is referring the patient to haematology: the referral was due" in text
    assert words in text
    assert "Haematology advise on biopsy and staging." in text
    assert "do not biopsy" not in text.lower()


def test_spinal_metastases_with_compression_read_as_mscc_never_without_compression() -> None:
    text = _text(_report(1, finding="spinal_metastases", cord_compression=True, levels=["T4"]))
    assert "RESULT: SPINAL METASTASES WITH SPINAL CORD COMPRESSION (MSCC)." in text
    assert "Finding: spinal metastases with spinal cord compression" in text
    assert "without cord compression" not in text
    assert "a treatment decision was due by Wednesday 11 November 2026, 13:30 GMT" in text


def test_spinal_metastases_without_compression_say_so() -> None:
    text = _text(_report(1, finding="spinal_metastases", cord_compression=False))
    assert "Result: spinal metastases without cord compression." in text
    assert "Spinal cord compression: no" in text


def test_no_malignant_lesion_first_closes() -> None:
    text = _text(_report(1, finding="no_malignant_spinal_lesion"))

    assert (
        "Result: no malignant spinal lesion. The MSCC pathway for this referral is closing" in text
    )
    assert "Finding: no malignant spinal lesion" in text
    assert "Targets still running" not in text


def test_no_malignant_lesion_after_a_lesion_keeps_the_pathway_open() -> None:
    text = _text(
        _report(1, finding="suspected_primary_bone_tumour", cord_compression=False),
        _report(2, finding="no_malignant_spinal_lesion"),
    )

    assert "still under specialist review, so the MSCC pathway stays open" in text
    assert "closing" not in text
