"""Which alerts a clock owes at a moment T (pathway-spec.md section 6), decided without I/O.

An alert is identified by domain data: (pathway, clock instance, level, step). The shell turns
each :class:`AlertDue` into an outbox row whose unique key is :func:`alert_key`, so no sweep,
replay or retry can queue the same alert twice.

Levels and recipients (Apprise tags), section 6:

* ``at_risk``: each warning fraction a running clock passes -> ``coordinator`` (only the
  highest when a sweep first sees it past several, none once it is past its due time);
* ``breach``: the clock passes its due time -> ``coordinator`` and ``oncall-consultant``;
* ``escalation``: a breach still unacknowledged one escalation interval after its breach
  alert was raised, and every interval after that -> ``service-lead`` (step *n* fires at
  ``raised + n * interval``: the clinicians always get one interval to acknowledge);
* ``heartbeat``: the deadline watch has not completed a sweep for 3 intervals, or never
  completed one though events arrived more than 3 intervals ago -> ``ops``;
* ``safety``: a safety rule fired on an accepted event (BIOPSY-GUARD, section 9.3) ->
  ``coordinator`` and ``oncall-consultant`` at once, escalating like a breach (with the hour
  clocks' interval) until acknowledged (:mod:`pathway.safety`).

An alert that cannot be delivered after the configured attempts goes to ``fallback``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pathway.clocks import is_late
from pathway.ruleset import ClockKind, EscalationMinutes


class AlertLevel(StrEnum):
    AT_RISK = "at_risk"
    BREACH = "breach"
    ESCALATION = "escalation"
    HEARTBEAT = "heartbeat"
    SAFETY = "safety"


TAGS: dict[AlertLevel, tuple[str, ...]] = {
    AlertLevel.AT_RISK: ("coordinator",),
    AlertLevel.BREACH: ("coordinator", "oncall-consultant"),
    AlertLevel.ESCALATION: ("service-lead",),
    AlertLevel.HEARTBEAT: ("ops",),
    AlertLevel.SAFETY: ("coordinator", "oncall-consultant"),
}
"""Who hears each level: Apprise tags, that is roles, never people (pathway-spec.md 6)."""

FALLBACK_TAG = "fallback"
ALL_TAGS = ("coordinator", "oncall-consultant", "service-lead", "ops", FALLBACK_TAG)

HEARTBEAT_MISSED_SWEEPS = 3
"""The watch is presumed dead after this many intervals without a completed sweep (spec 6)."""

NEVER = datetime(9999, 12, 31, tzinfo=UTC)
"""``next_alert_at`` of a running clock that owes nothing more (its breach was acknowledged)."""

CATEGORY_WORDS = {
    "suspected_mscc": "suspected MSCC",
    "suspected_spinal_metastases": "suspected spinal metastases",
    "needs_review": "needs review",
}


@dataclass(frozen=True, slots=True)
class AlertDue:
    """One alert a clock owes: ``step`` numbers the warning fraction (1, 2...) or the repeat."""

    level: AlertLevel
    step: int
    fires_at: datetime


def escalation_interval(kind: ClockKind, minutes: EscalationMinutes) -> timedelta:
    """The ruleset's escalation interval for an hour or a day clock (30 min and 1 day in v1)."""
    return timedelta(minutes=minutes.hour_clocks if kind == "hour" else minutes.day_clocks)


def alerts_due(
    *,
    kind: ClockKind,
    due_at: datetime,
    warnings: tuple[datetime, ...],
    running: bool,
    at: datetime,
    escalate_every: timedelta | None = None,
    breach_raised_at: datetime | None = None,
    acknowledged: bool = False,
) -> list[AlertDue]:
    """The at-risk, breach and escalation alerts a clock owes at ``at``.

    A running clock within its limit owes the at-risk alert of the highest warning fraction
    it has passed. A watch that sees each fraction pass in turn therefore sends one at-risk
    alert per fraction (50 %, then 75 %: two warnings by design), but a watch that first sees
    the clock already past both (after downtime, or a late-arriving referral) sends only the
    75 % one: the 50 % alert would say the same thing less urgently, in a near-identical
    message at the same moment. The lower step is never queued, and since the moment only
    moves forward and a clock's warning times are fixed, no later sweep owes it either.
    Past its due time a clock owes its breach alert and no at-risk alert at all, even one it
    never got: the breach supersedes the warning. A stopped clock owes nothing new.

    Once its breach alert was raised (``breach_raised_at``), an unacknowledged breach also
    owes, with ``escalate_every``, the escalation of the last whole interval elapsed since;
    earlier repeats a stopped watch missed are moot (the latest says the same, later). An
    acknowledged breach owes no escalation.
    """
    if not running:
        return []
    if is_late(kind, at, due_at):
        owed = [AlertDue(AlertLevel.BREACH, 1, due_at)]
        if escalate_every is not None and breach_raised_at is not None and not acknowledged:
            owed.extend(escalation_due(raised_at=breach_raised_at, at=at, every=escalate_every))
        return owed
    passed = [
        AlertDue(AlertLevel.AT_RISK, index, moment)
        for index, moment in enumerate(warnings, start=1)
        if at >= moment
    ]
    return passed[-1:]  # warnings are in increasing order: the last passed is the highest


def escalation_due(*, raised_at: datetime, at: datetime, every: timedelta) -> list[AlertDue]:
    """The escalation an unacknowledged alert raised at ``raised_at`` owes at ``at``, if any.

    Step *n* fires at ``raised_at + n * every``: the first recipients always get one interval
    to acknowledge. Only the last whole interval elapsed is owed; earlier repeats a stopped
    watch missed are moot (the latest says the same, later). A breach (:func:`alerts_due`) and
    a safety alert (:mod:`pathway.safety`) escalate by this one rule.
    """
    step = (at - raised_at) // every
    if step < 1:
        return []
    return [AlertDue(AlertLevel.ESCALATION, step, raised_at + step * every)]


def next_alert_at(
    *,
    kind: ClockKind,
    due_at: datetime,
    warnings: tuple[datetime, ...],
    at: datetime,
    escalate_every: timedelta,
    breach_raised_at: datetime | None,
    acknowledged: bool,
) -> datetime:
    """The first moment after ``at`` at which a running clock owes a new alert.

    The watch reads only clocks whose moment has come, so an idle sweep reads nothing.
    A breach being raised at ``at`` (``breach_raised_at`` None) escalates one interval later.
    Returns :data:`NEVER` when nothing more is owed (an acknowledged breach).
    """
    if is_late(kind, at, due_at):
        if acknowledged:
            return NEVER
        raised = breach_raised_at or at
        return raised + ((at - raised) // escalate_every + 1) * escalate_every
    upcoming = [moment for moment in warnings if moment > at]
    return min(upcoming) if upcoming else due_at


def alert_key(pathway_id: str, clock_id: str, starts_at: datetime, due: AlertDue) -> str:
    """The idempotency key of an alert: the same clock, level and step always give the same key."""
    return f"alert:{pathway_id}:{clock_id}:{starts_at.strftime('%Y%m%dT%H%M%SZ')}:{due.level.value}:{due.step}"


def heartbeat_key(last_sweep_at: datetime | None) -> str:
    """One heartbeat alert per outage: keyed by the last sweep the watch completed.

    A watch that never completed a sweep has one outage, ``never``, until its first sweep;
    an outage after that is keyed by the sweep it follows, so it alerts again.
    """
    stamp = last_sweep_at.strftime("%Y%m%dT%H%M%SZ") if last_sweep_at else "never"
    return f"alert:heartbeat:{stamp}"


def watch_is_dead(
    last_sweep_at: datetime | None,
    *,
    at: datetime,
    interval: timedelta,
    first_event_received_at: datetime | None,
) -> bool:
    """True when no sweep completed within the last :data:`HEARTBEAT_MISSED_SWEEPS` intervals.

    A watch that never completed a sweep is dead too once there was clinical work for it to
    watch: the earliest accepted event (``first_event_received_at``) arrived more than those
    intervals ago. Otherwise a watch misconfigured from the first day would never alert
    anyone. A brand-new install with no events yet, or whose first events arrived within
    the last intervals, is not presumed dead: there is nothing yet to miss.
    """
    missed = HEARTBEAT_MISSED_SWEEPS * interval
    if last_sweep_at is not None:
        return at - last_sweep_at > missed
    return first_event_received_at is not None and at - first_event_received_at > missed


def describe_delta(delta: timedelta) -> str:
    """``3 h 05 min left`` or ``overdue 1 d 4 h``: what fits on a lock screen."""
    seconds = int(delta.total_seconds())
    overdue = seconds < 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    text = f"{days} d {hours} h" if days else f"{hours} h {minutes:02d} min"
    return f"overdue {text}" if overdue else f"{text} left"


@dataclass(frozen=True, slots=True)
class AlertContext:
    """Everything an alert template may say: opaque ids and coded facts, by construction.

    There is deliberately no field for a name, NHS number, MRN or date of birth: a template
    that asked for one would fail (StrictUndefined), not leak it.
    """

    alert_id: str
    level: str
    step: int
    pathway_id: str
    category: str
    clock_id: str
    clock_title: str
    due_local: str
    time_left: str
    link: str
    ack_command: str

    def as_dict(self) -> dict[str, str | int]:
        return asdict(self)


def pathway_link(ui_url: str, pathway_id: str) -> str:
    """The pathway's flow runs in the Prefect UI (runs are tagged ``pathway:<id>``)."""
    return f"{ui_url.rstrip('/')}/runs?tag=pathway:{pathway_id}"


def ack_command(alert_id: str) -> str:
    return f"cordwatch ack {alert_id} --by NAME"


def alert_context(
    *,
    alert_id: str,
    level: AlertLevel,
    step: int,
    pathway_id: str,
    category: str,
    clock_id: str,
    clock_title: str,
    due_at: datetime,
    zone: ZoneInfo,
    now: datetime,
    ui_url: str,
) -> AlertContext:
    """The wording facts of one clock alert, with times in the service time zone."""
    return AlertContext(
        alert_id=alert_id,
        level=level.value,
        step=step,
        pathway_id=pathway_id,
        category=CATEGORY_WORDS.get(category, category.replace("_", " ")),
        clock_id=clock_id,
        clock_title=clock_title,
        due_local=due_at.astimezone(zone).strftime("%a %d %b %H:%M %Z"),
        time_left=describe_delta(due_at - now),
        link=pathway_link(ui_url, pathway_id),
        ack_command=ack_command(alert_id),
    )
