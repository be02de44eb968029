"""The safety alert a BIOPSY-GUARD decision owes (pathway-spec.md section 9.3), as a pure effect.

:func:`safety_alerts` turns a safety rule that fired on an admitted event into one outbox
:class:`~pathway.effects.Effect` of kind ``alert``, keyed by the event, so a redelivered event
never pages twice. It is not registered in ``EVENT_EFFECT_RULES`` yet: delivery of the ``safety``
level (to ``coordinator`` and ``oncall-consultant``, escalating like a breach until acknowledged)
is later work, and an alert row the shell cannot deliver must not be queued before then.
"""

from __future__ import annotations

from pathway.effects import Effect
from pathway.engine import PathwayView
from pathway.events import PathwayEvent

SAFETY_RECIPIENTS = ("coordinator", "oncall-consultant")
"""Section 9.3: a safety alert goes at once to both."""


def safety_alerts(
    pathway_id: str, event: PathwayEvent, before: PathwayView | None, after: PathwayView
) -> list[Effect]:
    """The safety alert owed for ``event``, if a safety rule fired on it (an effect rule).

    The payload holds ids and codes only: never a name, NHS number, MRN or date of birth.
    """
    del before  # an effect rule's signature; the decision is in ``after.safety``
    return [
        Effect(
            kind="alert",
            key=f"alert:safety:{pathway_id}:{event.event_id}",
            payload={
                "level": "safety",
                "pathway_id": pathway_id,
                "event_id": event.event_id,
                "event_type": event.type,
                "rule": flag.code,
                "recipients": list(SAFETY_RECIPIENTS),
            },
        )
        for flag in after.safety
        if flag.event_id == event.event_id
    ]
