"""Whether an alert queued earlier is still owed when its delivery comes (pathway-spec.md 6).

The sweep decides an alert at one moment and delivery happens later (the same watch, or the
next one after a crash or a backoff). In between, the clock may have stopped, the pathway
closed or the breach been acknowledged: such an alert is cancelled, with the reason audited,
rather than paging someone about something already done.

The facts come from the database, and each costs a read (the breach state heals unapplied
acknowledgements, a write), so :func:`alert_moot` asks for them through
:class:`RecheckFacts` and only for what its answer needs, in the order the rule reads.
"""

from __future__ import annotations

from typing import Protocol

from pathway.alerts import AlertLevel

RECHECKED = frozenset(
    {AlertLevel.AT_RISK.value, AlertLevel.BREACH.value, AlertLevel.ESCALATION.value}
)
"""Levels re-checked before each delivery (a heartbeat has no clock; a safety alert reports an
event that happened; a safety alert's escalation is one of these, with no clock)."""


class RecheckFacts(Protocol):
    """The facts of one alert the shell reads on demand."""

    def safety_acknowledged(self) -> bool:
        """The safety alert this escalation belongs to, or one of its escalations, was
        acknowledged."""
        ...

    def clock_running(self) -> bool:
        """The alert's clock instance is still running on an open pathway."""
        ...

    def breach_acknowledged(self) -> bool:
        """The breach of the alert's clock instance, or one of its escalations, was
        acknowledged."""
        ...


def alert_moot(level: str, *, has_clock: bool, facts: RecheckFacts) -> str | None:
    """Why an alert no longer applies, or None when it is still owed.

    A clock's alert (at risk, breach, escalation) is moot once its clock has stopped or its
    pathway closed; an escalation also once its breach was acknowledged. The escalation of a
    safety alert (no clock) is moot once the safety alert or one of its escalations was
    acknowledged. A safety alert itself is never cancelled: it reports an event that happened.

    A breach alert too: a watch beside a back-dated intake may see a clock running late that
    the next batch stops on time (met) or excludes; paging BREACH for it would be false. A
    clock that did stop late still owes governance its breach report letter.
    """
    if level not in RECHECKED:
        return None
    if not has_clock:  # the escalation of a safety alert: only acknowledgement stops it
        return "the safety alert was acknowledged" if facts.safety_acknowledged() else None
    if not facts.clock_running():
        return "the clock has stopped"
    if level == AlertLevel.ESCALATION.value and facts.breach_acknowledged():
        return "the breach was acknowledged"
    return None
