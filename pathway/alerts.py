"""Which alerts a clock owes at a moment T (pathway-spec.md section 6), decided without I/O.

An alert is identified by domain data: (pathway, clock instance, level, repeat). The shell turns
each :class:`AlertDue` into an outbox row whose unique key is :func:`alert_key`, so no sweep,
replay or retry can queue the same alert twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pathway.clocks import is_late
from pathway.ruleset import ClockKind


class AlertLevel(StrEnum):
    AT_RISK = "at_risk"
    BREACH = "breach"
    ESCALATION = "escalation"
    HEARTBEAT = "heartbeat"


@dataclass(frozen=True, slots=True)
class AlertDue:
    """One alert a clock owes: ``step`` numbers the warning fraction (1, 2...) or the repeat."""

    level: AlertLevel
    step: int
    fires_at: datetime


def alerts_due(
    *,
    kind: ClockKind,
    due_at: datetime,
    warnings: tuple[datetime, ...],
    running: bool,
    at: datetime,
) -> list[AlertDue]:
    """Every at-risk and breach alert a clock has owed by ``at``.

    A running clock owes one at-risk alert per warning fraction it has passed (50 %, 75 %),
    and a breach alert once it is past its due time. Once breached, at-risk alerts it never
    got are moot and are not owed. A stopped clock owes nothing new.
    """
    if not running:
        return []
    if is_late(kind, at, due_at):
        return [AlertDue(AlertLevel.BREACH, 1, due_at)]
    return [
        AlertDue(AlertLevel.AT_RISK, index, moment)
        for index, moment in enumerate(warnings, start=1)
        if at >= moment
    ]


def alert_key(pathway_id: str, clock_id: str, starts_at: datetime, due: AlertDue) -> str:
    """The idempotency key of an alert: the same clock, level and step always give the same key."""
    return f"alert:{pathway_id}:{clock_id}:{starts_at.strftime('%Y%m%dT%H%M%SZ')}:{due.level.value}:{due.step}"
