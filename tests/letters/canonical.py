"""The canonical pathway every letter is checked on: one suspected MSCC referral, start to close.

``tests/data/letters_canonical.jsonl`` holds its twelve events: referral (known breast cancer,
limb weakness), MRI requested, coordinator and steroids on time, MRI 2 h 30 min late (MRI-MSCC
breached, so a breach report is owed), MSCC reported at T8-T9, emergency board, radiotherapy
decided and started within 24 h, outcome recorded, pathway closed after treatment.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from pathway.effects import effects_of_event
from pathway.engine import evaluate
from pathway.events import PathwayEvent, parse_event
from pathway.letter_context import Letterhead, PathwayFacts
from pathway.outbox import Effect
from tests.conftest import RULES
from tests.factories import RULES_V2

CANONICAL_FILE = Path(__file__).resolve().parent.parent / "data" / "letters_canonical.jsonl"
GOLDEN = Path(__file__).resolve().parent / "golden"
PATHWAY_ID = "PW-CANON1"
PRODUCED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
"""The letters' date in the golden files (a fixed moment, never today)."""

INTAKE_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

LETTERHEAD = Letterhead(
    service_name="Metastatic Spinal Cord Compression (MSCC) Service",
    organisation="Example Hospitals NHS Foundation Trust",
    address=("Example General Hospital", "Example Road", "Exampletown", "EX1 1AA"),
    phone="01632 960000",
    hotline="01632 960111",
)


def canonical_events() -> list[PathwayEvent]:
    return [parse_event(line) for line in CANONICAL_FILE.read_text().splitlines() if line]


def produced_on_time(event_id: str | None) -> datetime:
    """When the intake queues a letter: at its triggering event (a breach report, about a
    clock: the fixed production moment)."""
    if event_id is None:
        return PRODUCED_AT
    return next(e.occurred_at for e in canonical_events() if e.event_id == event_id)


def canonical_facts() -> PathwayFacts:
    return PathwayFacts(pathway_id=PATHWAY_ID, events=tuple(canonical_events()), rules=RULES)


def canonical_letter_effects() -> list[Effect]:
    """The letter effects of the canonical events, as the intake decides them one by one."""
    events = canonical_events()
    effects: list[Effect] = []
    before = None
    for count, event in enumerate(events, start=1):
        after = evaluate(events[:count], RULES)
        effects.extend(
            e for e in effects_of_event(PATHWAY_ID, event, before, after) if e.kind == "letter"
        )
        before = after
    return effects


def check_golden(golden: Path, text: str) -> None:
    """``text`` must equal the reviewed golden file; ``CORDWATCH_UPDATE_GOLDEN=1`` rewrites it."""
    if os.environ.get("CORDWATCH_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


# The two canonical version-2 pathways (tests/letters/test_golden_v2.py describes them).
DATA = Path(__file__).resolve().parent.parent / "data"
PATHWAYS = ("sarcoma", "haematology")
PATHWAY_IDS = {"sarcoma": "PW-SARC01", "haematology": "PW-HAEM01"}

VERSION_2_LETTERS = {
    "sarcoma": [
        ("imaging_outcome", "gp", "sarc-05-imaging.reported"),
        ("imaging_outcome", "referrer", "sarc-05-imaging.reported"),
        ("biopsy_caution", "requester", "sarc-06-biopsy.requested"),
        ("patient_information", "patient", "sarc-07-specialist.referred"),
        ("sarcoma_centre_referral", "bone_sarcoma_centre", "sarc-07-specialist.referred"),
    ],
    "haematology": [
        ("imaging_outcome", "gp", "haem-05-imaging.reported"),
        ("imaging_outcome", "referrer", "haem-05-imaging.reported"),
        ("haematology_referral", "haematology", "haem-06-specialist.referred"),
    ],
}
"""(letter, recipient, triggering event) of each golden file, per pathway."""

CASES = [(p, *letter) for p in PATHWAYS for letter in VERSION_2_LETTERS[p]]


def events_of(pathway: str) -> list[PathwayEvent]:
    text = (DATA / f"letters_canonical_v2_{pathway}.jsonl").read_text()
    return [parse_event(line) for line in text.splitlines() if line]


def facts_of(pathway: str) -> PathwayFacts:
    return PathwayFacts(PATHWAY_IDS[pathway], tuple(events_of(pathway)), RULES_V2)
