"""The safety alert a BIOPSY-GUARD decision owes (pathway-spec.md section 9.3), as a pure effect.

:func:`safety_alerts` turns a safety rule that fired on an admitted event into one outbox
:class:`~pathway.outbox.Effect` of kind ``alert``, keyed by the event, so a redelivered event
never pages twice. The intake gives it an alert id and an ``alert`` row; delivery goes at once
to ``coordinator`` and ``oncall-consultant``. Unacknowledged, it escalates like a breach: to
``service-lead`` one escalation interval after it was raised and every interval after that,
each step keyed by (pathway, event, step) (:func:`safety_escalation_key`), until any of its
alerts (the safety alert or one of its escalations) is acknowledged. A safety alert has no
clock, so nothing else stops it: the biopsy or the operation it reports has happened, or is
booked, whatever the pathway does next.

Wording facts are in :class:`SafetyAlertContext`: ids, codes and words, never patient data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from pathway.alerts import TAGS, AlertLevel, ack_command, pathway_link
from pathway.engine import PathwayView
from pathway.events import PathwayEvent
from pathway.outbox import Effect, IntakeMoment
from pathway.ruleset import ClockKind

SAFETY_RECIPIENTS = TAGS[AlertLevel.SAFETY]
"""Section 9.3: a safety alert goes at once to both ``coordinator`` and ``oncall-consultant``."""

SAFETY_ESCALATION_KIND: ClockKind = "hour"
"""A safety alert escalates with the ruleset's hour-clock interval (30 min in version 2): the
hazard is a biopsy or an operation that may happen today, not a wait counted in days."""

RULE_WORDS = {
    "BIOPSY-GUARD": "a primary bone tumour is suspected and the bone sarcoma centre has not "
    "reviewed it",
}
"""Each safety rule in words: the situation it guards (pathway-spec.md 9.3)."""

EVENT_WORDS = {
    "biopsy.requested": "biopsy requested",
    "biopsy.performed": "biopsy performed",
    "treatment.started": "surgery started",
}
"""The events a safety rule fires on, in words (BIOPSY-GUARD fires on surgery only)."""

SAFETY_ADVICE = "Do not biopsy or operate locally before the bone sarcoma centre's review."
"""What to do, in every safety alert and its escalations. Wording to be reviewed clinically."""


def safety_key(pathway_id: str, event_id: str) -> str:
    """The idempotency key of the safety alert a safety rule owes for one event."""
    return f"alert:safety:{pathway_id}:{event_id}"


def safety_escalation_key(pathway_id: str, event_id: str, step: int) -> str:
    """The key of escalation ``step`` of the safety alert of one event.

    The event id comes last, after the fixed-form pathway id and step: an event id may hold
    colons, and no event id can make one safety alert's key another's escalation key.
    """
    return f"alert:safety-escalation:{pathway_id}:{step}:{event_id}"


def safety_event_of(key: str) -> tuple[str, str]:
    """(pathway id, event id) of a safety alert's key, or of one of its escalations' keys.

    Raises:
        ValueError: ``key`` is neither.
    """
    if key.startswith("alert:safety:"):
        _, _, pathway_id, event_id = key.split(":", 3)
        return pathway_id, event_id
    if key.startswith("alert:safety-escalation:"):
        _, _, pathway_id, _, event_id = key.split(":", 4)
        return pathway_id, event_id
    raise ValueError(f"not a safety alert key: {key!r}")


def safety_alerts(
    pathway_id: str,
    event: PathwayEvent,
    before: PathwayView | None,
    after: PathwayView,
    moment: IntakeMoment | None = None,
) -> list[Effect]:
    """The safety alert owed for ``event``, if a safety rule fired on it (an effect rule).

    A backfill owes no page for history (an event more than
    :data:`~pathway.outbox.BACKFILL_GRACE` before the import moment): the biopsy was requested
    or done before cordwatch watched the pathway, and paging the on-call consultant about it
    now helps nobody. The rule's decision stays on the pathway's view (``PathwayView.safety``).

    The payload holds ids and codes only: never a name, NHS number, MRN or date of birth.
    """
    del before  # an effect rule's signature; the decision is in ``after.safety``
    if moment is not None and moment.is_history(event):
        return []
    return [
        Effect(
            kind="alert",
            key=safety_key(pathway_id, event.event_id),
            payload={
                "level": AlertLevel.SAFETY.value,
                "pathway_id": pathway_id,
                "category": after.category.value,
                "event_id": event.event_id,
                "event_type": event.type,
                "occurred_at": flag.at.isoformat(),
                "rule": flag.code,
                "recipients": list(SAFETY_RECIPIENTS),
            },
        )
        for flag in after.safety
        if flag.event_id == event.event_id
    ]


@dataclass(frozen=True, slots=True)
class SafetyAlertContext:
    """Everything a safety alert template may say: opaque ids, codes and words, by construction.

    There is no field for a name, NHS number, MRN or date of birth, nor for the event id or the
    referral reference (a feed chooses those and may put its own reference in them).
    """

    alert_id: str
    level: str
    step: int
    escalation: bool
    safety_alert_id: str
    pathway_id: str
    rule: str
    rule_words: str
    event_type: str
    event_words: str
    occurred_local: str
    advice: str
    link: str
    ack_command: str

    def as_dict(self) -> dict[str, str | int | bool]:
        return asdict(self)


def safety_alert_context(
    *,
    alert_id: str,
    level: AlertLevel,
    step: int,
    safety_alert_id: str,
    pathway_id: str,
    rule: str,
    event_type: str,
    occurred_at: datetime,
    zone: ZoneInfo,
    ui_url: str,
) -> SafetyAlertContext:
    """The wording facts of a safety alert (``level`` safety) or of one of its escalations."""
    return SafetyAlertContext(
        alert_id=alert_id,
        level=level.value,
        step=step,
        escalation=level is AlertLevel.ESCALATION,
        safety_alert_id=safety_alert_id,
        pathway_id=pathway_id,
        rule=rule,
        rule_words=RULE_WORDS.get(rule, rule),
        event_type=event_type,
        event_words=EVENT_WORDS.get(event_type, event_type),
        occurred_local=occurred_at.astimezone(zone).strftime("%a %d %b %H:%M %Z"),
        advice=SAFETY_ADVICE,
        link=pathway_link(ui_url, pathway_id),
        ack_command=ack_command(alert_id),
    )
