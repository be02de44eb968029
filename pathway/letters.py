"""Which letters an event causes, to whom, under which key, decided without I/O (pathway-spec.md 7).

:func:`letter_effects` is an effect rule: the letters an accepted event owes, each an outbox
:class:`~pathway.outbox.Effect` keyed by (letter, pathway, triggering event, recipient), so a
replay or a retry can never queue a letter twice. A breach report is keyed by the clock
instance instead: the deadline watch (a running clock passes its due time) and the intake (a
clock stops late) may both see the same breach, and it is reported once. What each letter
says is :mod:`pathway.letter_context`; the recipients entitled to patient identifiers are
:data:`ENTITLED`.

Ruleset version 2 (pathway-spec.md section 9.5) adds letters that only its events can owe: a
referral to the bone sarcoma centre or to haematology (``specialist.referred``), the patient's
letter when a specialist centre takes the lead, and a caution to whoever asked for a biopsy or
an operation that BIOPSY-GUARD flagged. A version-1 pathway never owes them: version 1 refuses
``specialist.referred`` and its ruleset turns the guard off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pathway.clocks import ClockStatus
from pathway.engine import BIOPSY_GUARD, PathwayView, evaluate
from pathway.events import PathwayEvent, Service, SpecialistReferred
from pathway.outbox import Effect, IntakeMoment
from pathway.ruleset import PinnedRules


class Recipient(StrEnum):
    """Who a letter is addressed to: a role, resolved to an address by the hospital's systems."""

    REFERRER = "referrer"
    RADIOLOGY = "radiology"
    PATIENT = "patient"
    GP = "gp"
    SERVICE_LEAD = "service_lead"
    BONE_SARCOMA_CENTRE = "bone_sarcoma_centre"
    HAEMATOLOGY = "haematology"
    REQUESTER = "requester"
    """Whoever asked for the biopsy or operation BIOPSY-GUARD flagged. No event names them, so
    the letter goes to the MSCC coordinators (``letters-requester``), who pass it on."""


RECIPIENT_WORDS = {
    Recipient.REFERRER: "the referring clinician",
    Recipient.RADIOLOGY: "radiology",
    Recipient.PATIENT: "the patient",
    Recipient.GP: "the patient's GP",
    Recipient.SERVICE_LEAD: "the service lead (clinical governance)",
    Recipient.BONE_SARCOMA_CENTRE: "the bone sarcoma centre",
    Recipient.HAEMATOLOGY: "haematology",
    Recipient.REQUESTER: "the clinician who requested the biopsy or operation, "
    "via the MSCC coordinator",
}

ENTITLED = frozenset(
    {
        Recipient.REFERRER,
        Recipient.RADIOLOGY,
        Recipient.PATIENT,
        Recipient.GP,
        Recipient.BONE_SARCOMA_CENTRE,
        Recipient.HAEMATOLOGY,
        Recipient.REQUESTER,
    }
)
"""Recipients whose letters may carry the patient's identifiers (they are caring for them, or,
for a referral, are being asked to: a referral that does not name the patient is no use)."""


@dataclass(frozen=True, slots=True)
class LetterSpec:
    """One letter of pathway-spec.md section 7."""

    name: str
    title: str
    recipients: tuple[Recipient, ...]
    trigger: str
    """The event type that owes the letter (for the breach report, words: it is about a clock)."""
    also: tuple[str, ...] = ()
    """Other event types that may owe it (version 2): :func:`letter_owed` says which do."""

    @property
    def event_types(self) -> tuple[str, ...]:
        """Every event type this letter may be about."""
        return (self.trigger, *self.also)


LETTERS: dict[str, LetterSpec] = {
    spec.name: spec
    for spec in (
        LetterSpec(
            "referral_acknowledgement",
            "Referral acknowledgement",
            (Recipient.REFERRER,),
            "referral.received",
        ),
        LetterSpec(
            "imaging_request",
            "Request for urgent spinal imaging",
            (Recipient.RADIOLOGY,),
            "imaging.requested",
        ),
        LetterSpec(
            "patient_information",
            "Information for you: what happens next",
            (Recipient.PATIENT,),
            "referral.received",
            # Version 2: what happens next once a specialist centre leads (section 9.5).
            also=("specialist.referred",),
        ),
        LetterSpec(
            "imaging_outcome",
            "Spinal imaging result",
            (Recipient.GP, Recipient.REFERRER),
            "imaging.reported",
        ),
        LetterSpec(
            "mdt_outcome",
            "Treatment decision",
            (Recipient.GP, Recipient.REFERRER, Recipient.PATIENT),
            "mdt.decided",
        ),
        LetterSpec("treatment_summary", "Treatment summary", (Recipient.GP,), "pathway.closed"),
        LetterSpec(
            "breach_report",
            "Clock breach report",
            (Recipient.SERVICE_LEAD,),
            "a clock breaches",
        ),
        # Version 2 (pathway-spec.md section 9.5).
        LetterSpec(
            "sarcoma_centre_referral",
            "Referral to the bone sarcoma centre",
            (Recipient.BONE_SARCOMA_CENTRE,),
            "specialist.referred",
        ),
        LetterSpec(
            "biopsy_caution",
            "Safety caution: suspected primary bone tumour",
            (Recipient.REQUESTER,),
            "biopsy.requested",
            also=("biopsy.performed", "treatment.started"),
        ),
        LetterSpec(
            "haematology_referral",
            "Referral to haematology",
            (Recipient.HAEMATOLOGY,),
            "specialist.referred",
        ),
    )
}
"""Every letter, in the order of the spec's tables (section 7, then section 9.5): the registry
templates and tests follow."""

_BY_TRIGGER: dict[str, tuple[LetterSpec, ...]] = {}
for _spec in LETTERS.values():
    for _type in _spec.event_types:
        _BY_TRIGGER[_type] = (*_BY_TRIGGER.get(_type, ()), _spec)

BREACH_REPORT = "breach_report"
BIOPSY_CAUTION = "biopsy_caution"

_SERVICE_OF = {
    "patient_information": Service.BONE_SARCOMA_CENTRE,
    "sarcoma_centre_referral": Service.BONE_SARCOMA_CENTRE,
    "haematology_referral": Service.HAEMATOLOGY,
}
"""The service whose ``specialist.referred`` owes each letter. A referral to spinal surgery,
clinical oncology or a site-specific MDT owes none: those teams are part of the MSCC pathway's
own board, reached through the coordinator, not a hand-over of care."""

LATE_LETTER_AFTER = timedelta(days=1)
"""A letter produced more than this after its triggering event says so in its first line.

A day: a letter produced the same day or the next morning (a night's outage, a form typed in
after clinic) reads as news; past a day the reader may already have acted on the event, and
must be told the letter is late rather than left to take it for a new fact.
"""


def letter_key(name: str, pathway_id: str, event_id: str, recipient: Recipient) -> str:
    """The outbox key of a letter caused by an event: one per (letter, pathway, event, recipient)."""
    return f"letter:{name}:{pathway_id}:{event_id}:{recipient.value}"


def breach_report_key(pathway_id: str, clock_id: str, starts_at: datetime) -> str:
    """The outbox key of a breach report: one per clock instance, whoever notices the breach."""
    return f"letter:{BREACH_REPORT}:{pathway_id}:{clock_id}:{starts_at.isoformat()}"


def breach_report_effect(pathway_id: str, clock_id: str, starts_at: datetime) -> Effect:
    """The breach report owed for one breached clock instance (used by intake and watch)."""
    return Effect(
        kind="letter",
        key=breach_report_key(pathway_id, clock_id, starts_at),
        payload={
            "letter": BREACH_REPORT,
            "recipient": Recipient.SERVICE_LEAD.value,
            "pathway_id": pathway_id,
            "event_id": None,
            "clock_id": clock_id,
            "clock_starts_at": starts_at.isoformat(),
        },
    )


def _event_letter(spec: LetterSpec, pathway_id: str, event_id: str, to: Recipient) -> Effect:
    return Effect(
        kind="letter",
        key=letter_key(spec.name, pathway_id, event_id, to),
        payload={
            "letter": spec.name,
            "recipient": to.value,
            "pathway_id": pathway_id,
            "event_id": event_id,
        },
    )


def _treated(view: PathwayView) -> bool:
    return any(m.type == "treatment.started" for m in view.milestones)


def _guarded(view: PathwayView, event_id: str) -> bool:
    """BIOPSY-GUARD fired on this event (``PathwayView.safety``, section 9.3)."""
    return any(f.code == BIOPSY_GUARD and f.event_id == event_id for f in view.safety)


def letter_owed(spec: LetterSpec, event: PathwayEvent, after: PathwayView) -> bool:
    """Whether ``event``, one of ``spec``'s event types, owes that letter (pure).

    A treatment summary needs a treatment; a letter about a specialist referral needs the
    service it is written for (:data:`_SERVICE_OF`); a biopsy caution needs BIOPSY-GUARD to
    have fired on the event. Every other letter is owed by every event of its type.
    """
    if spec.name == "treatment_summary":
        return _treated(after)
    if isinstance(event, SpecialistReferred):
        return event.data.service is _SERVICE_OF.get(spec.name)
    if spec.name == BIOPSY_CAUTION:
        return _guarded(after, event.event_id)
    return True


def letter_effects(
    pathway_id: str,
    event: PathwayEvent,
    before: PathwayView | None,
    after: PathwayView,
    moment: IntakeMoment | None = None,
) -> list[Effect]:
    """The letters an accepted event owes (an effect rule of :mod:`pathway.effects`).

    A treatment summary is owed when the pathway closes after a treatment started (whatever the
    closing reason); a breach report for every clock instance this event stopped late.

    A biopsy caution is owed for every event BIOPSY-GUARD newly flags, keyed by the flagged
    event: usually the event itself, but a report that arrives late, dated before a biopsy
    already recorded, puts that biopsy under the guard too, and its requester must hear of it.

    A backfill owes nothing for history (an event more than :data:`~pathway.outbox.BACKFILL_GRACE` before the
    import moment): the referrer acted on that referral weeks ago, and a clock this event
    stopped late belongs to the past the report counts, not to a page today. A clock still
    running and breached at the import moment is the deadline watch's to report, from now.
    """
    if moment is not None and moment.is_history(event):
        return []
    effects: list[Effect] = []
    for spec in _BY_TRIGGER.get(event.type, ()):
        if spec.name == BIOPSY_CAUTION or not letter_owed(spec, event, after):
            continue
        effects.extend(
            _event_letter(spec, pathway_id, event.event_id, to) for to in spec.recipients
        )
    flagged_before = {f.event_id for f in (before.safety if before is not None else ())}
    caution = LETTERS[BIOPSY_CAUTION]
    effects.extend(
        _event_letter(caution, pathway_id, flag.event_id, to)
        for flag in after.safety
        if flag.code == BIOPSY_GUARD and flag.event_id not in flagged_before
        for to in caution.recipients
    )
    breached_before = {
        (c.id, c.starts_at)
        for c in (before.clocks if before is not None else ())
        if c.outcome is ClockStatus.BREACHED
    }
    effects.extend(
        breach_report_effect(pathway_id, clock.id, clock.starts_at)
        for clock in after.clocks
        if clock.outcome is ClockStatus.BREACHED
        and (clock.id, clock.starts_at) not in breached_before
    )
    return effects


def events_owing(name: str, events: Sequence[PathwayEvent], rules: PinnedRules) -> list[str]:
    """The ids of a pathway's events that owe letter ``name``, in clinical order (for a
    preview: the same rule as the intake, asked of the whole pathway)."""
    spec = LETTERS[name]
    view = evaluate(events, rules)
    by_id = {e.event_id: e for e in events}
    return [
        m.event_id
        for m in view.milestones
        if m.type in spec.event_types and letter_owed(spec, by_id[m.event_id], view)
    ]


# --- Contexts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LetterRequest:
    """What one letter is about: its name, recipient and cause (an event, or a breached clock)."""

    name: str
    recipient: Recipient
    event_id: str | None = None
    clock_id: str | None = None
    clock_starts_at: datetime | None = None

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> LetterRequest:
        """The request an outbox payload describes (see :func:`letter_effects`)."""
        starts = payload.get("clock_starts_at")
        return cls(
            name=payload["letter"],
            recipient=Recipient(payload["recipient"]),
            event_id=payload.get("event_id"),
            clock_id=payload.get("clock_id"),
            clock_starts_at=datetime.fromisoformat(starts) if starts else None,
        )
