"""What one sweep of the deadline watch owes at a moment, decided without I/O.

The shell (``services/watch.py``) reads the running clocks whose next alert moment has come,
the breach state of the late ones and the unacknowledged safety alerts, passes them to
:func:`plan_sweep`, and writes what it returns: the alerts to queue (each with its outbox key,
so a key already queued is skipped), the breach report letters, and the moves of each clock's
``next_alert_at``. Alert ids are random, so the shell gives them (:meth:`OwedAlert.with_id`);
everything else here is a function of the facts and the moment, which is what lets
``tests/unit`` check the watch's behaviour over any sequence of sweeps without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pathway.alerts import (
    TAGS,
    AlertLevel,
    alert_key,
    alerts_due,
    escalation_due,
    escalation_interval,
    next_alert_at,
)
from pathway.letters import breach_report_effect
from pathway.outbox import Effect
from pathway.ruleset import ClockKind, EscalationMinutes, PinnedRules
from pathway.safety import SAFETY_ESCALATION_KIND, safety_escalation_key, safety_event_of

ClockInstance = tuple[str, str, str]
"""(pathway id, clock id, start as ISO text): one clock instance (a restart is another)."""


def clock_instance(pathway_id: str, clock_id: str, starts_at: datetime) -> ClockInstance:
    """The key of one clock instance (a clock restarted by an upgrade is another instance)."""
    return pathway_id, clock_id, starts_at.isoformat()


@dataclass
class BreachState:
    """What the sweep knows of one clock instance's breach: when raised, whether acknowledged."""

    raised_at: datetime | None = None
    acknowledged: bool = False


@dataclass(frozen=True, slots=True)
class QueuedAlert:
    """An alert decided by a sweep (what the outbox row carries: ids and coded facts only)."""

    key: str
    alert_id: str
    pathway_id: str
    clock_id: str
    level: str
    step: int
    due_at: datetime
    category: str
    tags: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "alert_id": self.alert_id,
            "pathway_id": self.pathway_id,
            "clock_id": self.clock_id,
            "level": self.level,
            "step": self.step,
            "due_at": self.due_at.isoformat(),
            "category": self.category,
            "tags": list(self.tags),
        }


@dataclass(frozen=True, slots=True)
class OwedAlert:
    """An alert a sweep owes, before the shell gives it an id.

    ``extra`` is what its outbox payload carries beyond :meth:`QueuedAlert.as_dict` (codes
    only); ``clock_starts_at`` is None for a safety alert's escalation (it has no clock).
    """

    key: str
    pathway_id: str
    clock_id: str
    level: AlertLevel
    step: int
    due_at: datetime
    category: str
    clock_starts_at: datetime | None
    extra: Mapping[str, Any]

    def with_id(self, alert_id: str) -> QueuedAlert:
        return QueuedAlert(
            key=self.key,
            alert_id=alert_id,
            pathway_id=self.pathway_id,
            clock_id=self.clock_id,
            level=self.level.value,
            step=self.step,
            due_at=self.due_at,
            category=self.category,
            tags=TAGS[self.level],
        )


@dataclass(frozen=True, slots=True)
class RunningClock:
    """A running clock of an open pathway whose next alert moment has come (or is unknown)."""

    row_id: int
    pathway_id: str
    clock_id: str
    kind: ClockKind
    starts_at: datetime
    due_at: datetime
    warnings: tuple[datetime, ...]
    category: str
    rules: PinnedRules

    @property
    def instance(self) -> ClockInstance:
        return clock_instance(self.pathway_id, self.clock_id, self.starts_at)


@dataclass(frozen=True, slots=True)
class OpenSafetyAlert:
    """A safety alert not itself acknowledged, with its outbox payload and pathway facts."""

    alert_id: str
    key: str
    pathway_id: str
    created_at: datetime
    payload: Mapping[str, Any]
    category: str
    rules: PinnedRules


@dataclass
class SweepPlan:
    """What a sweep owes: alerts in the order to queue them, breach reports, clock moves."""

    alerts: list[OwedAlert] = field(default_factory=list)
    reports: list[Effect] = field(default_factory=list)
    moves: list[tuple[int, datetime]] = field(default_factory=list)
    """(clock row id, its new ``next_alert_at``) for every clock read."""
    clocks_at_risk: int = 0
    clocks_breached: int = 0


def escalation_minutes(rules: PinnedRules, override: Mapping[str, int]) -> EscalationMinutes:
    """The ruleset's escalation intervals, with the service's local ones where it set them."""
    minutes = rules.ruleset.escalation_minutes
    return minutes.model_copy(update=dict(override)) if override else minutes


def late_pathways(clocks: Iterable[RunningClock], at: datetime) -> list[str]:
    """The pathways whose breach state the sweep needs: those with a clock past its due time."""
    return [clock.pathway_id for clock in clocks if clock.due_at <= at]


def plan_sweep(
    clocks: Sequence[RunningClock],
    *,
    at: datetime,
    breaches: Mapping[ClockInstance, BreachState],
    safety_alerts: Sequence[OpenSafetyAlert] = (),
    safety_acknowledged: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
    escalation: Mapping[str, int] | None = None,
) -> SweepPlan:
    """Every alert, breach report and ``next_alert_at`` move a sweep at ``at`` owes.

    Each clock owes what :func:`pathway.alerts.alerts_due` says, given its breach state
    (``breaches``, for the late pathways: :func:`late_pathways`). A breach also owes clinical
    governance its breach report letter. An unacknowledged safety alert (pathway-spec.md 9.3)
    escalates as a breach does, with the hour clocks' interval, until it or one of its
    escalations is acknowledged (``safety_acknowledged``: (pathway id, event id)); whatever
    the pathway does next does not stop it. The shell skips every key already queued.

    Args:
        escalation: escalation minutes replacing the ruleset's (the service's settings).
    """
    override = escalation or {}
    plan = SweepPlan()
    for clock in clocks:
        every = escalation_interval(clock.kind, escalation_minutes(clock.rules, override))
        breach = breaches.get(clock.instance, BreachState())
        dues = alerts_due(
            kind=clock.kind,
            due_at=clock.due_at,
            warnings=clock.warnings,
            running=True,
            at=at,
            escalate_every=every,
            breach_raised_at=breach.raised_at,
            acknowledged=breach.acknowledged,
        )
        if any(due.level is AlertLevel.BREACH for due in dues):
            plan.clocks_breached += 1
        elif dues:
            plan.clocks_at_risk += 1
        extra = {
            "clock_starts_at": clock.starts_at.isoformat(),
            "clock_title": clock.rules.ruleset.rule(clock.clock_id).title,
            "kind": clock.kind,
        }
        for due in dues:
            plan.alerts.append(
                OwedAlert(
                    key=alert_key(clock.pathway_id, clock.clock_id, clock.starts_at, due),
                    pathway_id=clock.pathway_id,
                    clock_id=clock.clock_id,
                    level=due.level,
                    step=due.step,
                    due_at=clock.due_at,
                    category=clock.category,
                    clock_starts_at=clock.starts_at,
                    extra=extra,
                )
            )
            if due.level is AlertLevel.BREACH:
                plan.reports.append(
                    breach_report_effect(clock.pathway_id, clock.clock_id, clock.starts_at)
                )
        plan.moves.append(
            (
                clock.row_id,
                next_alert_at(
                    kind=clock.kind,
                    due_at=clock.due_at,
                    warnings=clock.warnings,
                    at=at,
                    escalate_every=every,
                    breach_raised_at=breach.raised_at,
                    acknowledged=breach.acknowledged,
                ),
            )
        )
    plan.alerts.extend(_safety_escalations(safety_alerts, safety_acknowledged, at, override))
    return plan


def _safety_escalations(
    safety_alerts: Sequence[OpenSafetyAlert],
    acknowledged: set[tuple[str, str]] | frozenset[tuple[str, str]],
    at: datetime,
    override: Mapping[str, int],
) -> list[OwedAlert]:
    """The escalations unacknowledged safety alerts owe at ``at`` (to ``service-lead``)."""
    owed: list[OwedAlert] = []
    for alert in safety_alerts:
        pathway_id, event_id = safety_event_of(alert.key)
        if (pathway_id, event_id) in acknowledged:
            continue
        every = escalation_interval(
            SAFETY_ESCALATION_KIND, escalation_minutes(alert.rules, override)
        )
        payload = alert.payload
        for due in escalation_due(raised_at=alert.created_at, at=at, every=every):
            owed.append(
                OwedAlert(
                    key=safety_escalation_key(pathway_id, event_id, due.step),
                    pathway_id=pathway_id,
                    clock_id="",
                    level=due.level,
                    step=due.step,
                    due_at=due.fires_at,
                    category=str(payload.get("category", alert.category)),
                    clock_starts_at=None,
                    extra={
                        "safety_alert_id": alert.alert_id,
                        "rule": payload["rule"],
                        "event_type": payload["event_type"],
                        "occurred_at": payload["occurred_at"],
                    },
                )
            )
    return owed
