"""The events the coordinators' Prefect forms record, decided in the core.

A form (the board decision, the breach explanation) is Prefect's; what its answer means is a
clinical rule: a decision's clinical time may not lie in the future or before the listing it
answers, "replace the primary reason" names the clock's current primary explanation. The flows
turn the form's choices into codes and call these; both functions are pure (``now`` is an
argument) and raise :class:`~pathway.errors.FormAnswerRefused` naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pathway.breaches import current_primary
from pathway.engine import INTAKE_SKEW, PathwayView
from pathway.errors import FormAnswerRefused


def mdt_decided_envelope(
    *,
    event_id: str,
    reference: str,
    listed_at: datetime,
    now: datetime,
    decided_at: datetime,
    decided_by: str,
    plan: str,
    decision_to_treat: bool,
    intent: str | None,
    reason: str | None,
    source: str,
) -> dict[str, Any]:
    """The ``mdt.decided`` event a board-decision form's answer records.

    The decision's clinical time is ``decided_at``, not the moment Submit was pressed: a
    decision typed in hours later must not move RT-24H and hide the delay.

    Raises:
        FormAnswerRefused: ``decided_at`` is later than ``now`` plus the intake's skew, or
            before the listing the decision answers.
    """
    if decided_at > now + INTAKE_SKEW:
        raise FormAnswerRefused(
            "decided_at",
            f"is in the future (more than {int(INTAKE_SKEW.total_seconds() // 60)} minutes "
            "after now): enter the time the board decided",
        )
    if decided_at < listed_at:
        raise FormAnswerRefused(
            "decided_at",
            f"is before the MDT listing ({listed_at.astimezone(UTC).isoformat()}): "
            "a board decides after the pathway is listed",
        )
    data: dict[str, Any] = {"plan": plan, "decision_to_treat": decision_to_treat}
    if intent is not None:
        data["intent"] = intent
    if reason:
        data["reason"] = reason
    return {
        "event_id": event_id,
        "pathway": reference,
        "type": "mdt.decided",
        "occurred_at": decided_at.astimezone(UTC).isoformat(),
        "recorded_by": decided_by,
        "source": source,
        "data": data,
    }


def breach_explained_envelope(
    view: PathwayView,
    *,
    event_id: str,
    clock: str,
    reason: str,
    stage: str,
    recorded_by: str,
    primary: bool,
    replace_primary: bool,
    comment: str,
    now: datetime,
    source: str,
) -> dict[str, Any]:
    """The ``breach.explained`` event an explain-breach form's answer records.

    The explanation happens when it is recorded (``now``): it annotates a breach that has
    already happened. "Replace the primary reason" names the clock's current primary
    explanation in ``supersedes``, so nobody types an event id. An empty comment is no comment
    (the intake then refuses ``other`` and ``clinical_complexity``, naming ``data.comment``).

    Raises:
        FormAnswerRefused: nothing to replace, or a replacement that is not primary.
    """
    data: dict[str, Any] = {"clock": clock, "reason": reason, "stage": stage, "primary": primary}
    if replace_primary:
        if not primary:
            raise FormAnswerRefused(
                "replace_primary", "only a primary reason replaces the primary reason"
            )
        replaced = current_primary(view, clock)
        if replaced is None:
            raise FormAnswerRefused(
                "replace_primary", f"{clock} has no primary reason recorded to replace"
            )
        data["supersedes"] = replaced
    if comment.strip():
        data["comment"] = comment
    return {
        "event_id": event_id,
        "pathway": view.reference,
        "type": "breach.explained",
        "occurred_at": now.astimezone(UTC).isoformat(),
        "recorded_by": recorded_by,
        "source": source,
        "data": data,
    }
