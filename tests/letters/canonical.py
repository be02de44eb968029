"""The canonical pathway every letter is checked on: one suspected MSCC referral, start to close.

``tests/data/letters_canonical.jsonl`` holds its twelve events: referral (known breast cancer,
limb weakness), MRI requested, coordinator and steroids on time, MRI 2 h 30 min late (MRI-MSCC
breached, so a breach report is owed), MSCC reported at T8-T9, emergency board, radiotherapy
decided and started within 24 h, outcome recorded, pathway closed after treatment.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pathway.effects import effects_of_event
from pathway.engine import evaluate
from pathway.events import PathwayEvent, parse_event
from pathway.letter_context import Letterhead, PathwayFacts
from pathway.outbox import Effect
from tests.conftest import RULES

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
