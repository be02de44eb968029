"""Golden files of the version-2 letters (pathway-spec.md section 9.5), word for word.

Two canonical version-2 pathways (``tests/data/letters_canonical_v2_*.jsonl``):

* ``sarcoma``: suspected spinal metastases; the MRI suggests a primary bone tumour (suspected
  chondrosarcoma at T7, no compression); a CT-guided biopsy is requested before the bone sarcoma
  centre has seen the case (BIOPSY-GUARD fires: a biopsy caution); the coordinator then refers
  to the centre (the centre's referral letter and the patient's specialist-centre letter).
* ``haematology``: suspected MSCC; the MRI suggests a haematological malignancy (plasmacytoma or
  myeloma, cord compression at T11-T12, no dexamethasone yet); referral to haematology.

Each letter those events owe under version 2 only (an imaging outcome of a new finding, and the
letters section 9.5 adds) is checked produced on time and late, as ``test_golden.py`` does for
version 1. Regenerate after review with ``CORDWATCH_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import pytest

from pathway.effects import effects_of_event
from pathway.engine import evaluate
from pathway.letter_context import letter_context
from pathway.letters import LetterRequest
from pathway.outbox import Effect
from services.letters import render_letter
from tests.factories import RULES_V2
from tests.letters.canonical import (
    CASES,
    GOLDEN,
    LETTERHEAD,
    PATHWAY_IDS,
    PATHWAYS,
    PRODUCED_AT,
    VERSION_2_LETTERS,
    check_golden,
    events_of,
    facts_of,
)


def letter_effects_of(pathway: str) -> list[Effect]:
    """The letters the intake queues for the pathway's events, admitted one by one."""
    events = events_of(pathway)
    effects: list[Effect] = []
    before = None
    for count, event in enumerate(events, start=1):
        after = evaluate(events[:count], RULES_V2)
        effects.extend(
            e
            for e in effects_of_event(PATHWAY_IDS[pathway], event, before, after)
            if e.kind == "letter"
        )
        before = after
    return effects


def render_text(pathway: str, name: str, recipient: str, event_id: str, *, late: bool) -> str:
    effect = next(
        e
        for e in letter_effects_of(pathway)
        if (e.payload["letter"], e.payload["recipient"], e.payload["event_id"])
        == (name, recipient, event_id)
    )
    request = LetterRequest.from_payload(effect.payload)
    at = next(e.occurred_at for e in events_of(pathway) if e.event_id == event_id)
    context = letter_context(
        request, facts_of(pathway), letterhead=LETTERHEAD, produced_at=PRODUCED_AT if late else at
    )
    return render_letter(name, context, pdf=False).text


@pytest.mark.parametrize(("pathway", "name", "recipient", "event_id"), CASES)
@pytest.mark.parametrize("late", [False, True], ids=["on_time", "late"])
def test_each_version_2_letter_matches_its_reviewed_text(
    pathway: str, name: str, recipient: str, event_id: str, late: bool
) -> None:
    suffix = ".late" if late else ""
    golden = GOLDEN / "version_2" / pathway / f"{name}.{recipient}{suffix}.txt"
    check_golden(golden, render_text(pathway, name, recipient, event_id, late=late))


def test_the_version_2_pathways_owe_each_letter_once() -> None:
    for pathway in PATHWAYS:
        keys = [e.key for e in letter_effects_of(pathway)]
        assert len(keys) == len(set(keys))
        pathway_id = PATHWAY_IDS[pathway]
        for name, recipient, event_id in VERSION_2_LETTERS[pathway]:
            assert f"letter:{name}:{pathway_id}:{event_id}:{recipient}" in keys
