"""Clock instances and their status at a moment T (pathway-spec.md section 5, "Clock semantics").

Hour clocks count elapsed time on UTC instants; day clocks count calendar days in the service
time zone, and their ``due_at`` is the first instant of the day after the due date: the first
moment that is a breach. Clocks never pause (clinical-research.md 9.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pathway.ruleset import ClockKind, EffectiveClock


class ClockStatus(StrEnum):
    RUNNING = "running"
    MET = "met"
    BREACHED = "breached"
    EXCLUDED = "excluded"


def due_instant(clock: EffectiveClock, starts_at: datetime, zone: ZoneInfo) -> datetime:
    """Return ``due_at`` for a clock starting at ``starts_at``.

    Hour clocks: ``starts_at + limit``. Day clocks: the start date in the service zone plus the
    limit in days is the due date; ``due_at`` is the first instant of the following day there.
    Example (spec): 2026-03-25T23:30Z starts MRI-METS on 25 March (GMT); due date 1 April;
    ``due_at`` 2026-04-01T23:00Z because BST began on 29 March.
    """
    if clock.limit.days is None:
        return starts_at + clock.duration
    start_date = starts_at.astimezone(zone).date()
    first_late_day = start_date + timedelta(days=clock.limit.days + 1)
    return datetime.combine(first_late_day, time(0), tzinfo=zone).astimezone(UTC)


def is_late(kind: ClockKind, instant: datetime, due_at: datetime) -> bool:
    """True when ``instant`` is past the due time: after it for hour clocks, at or after it
    for day clocks (whose ``due_at`` is already the first late instant)."""
    return instant > due_at if kind == "hour" else instant >= due_at


@dataclass(frozen=True, slots=True)
class Clock:
    """One clock instance of one pathway.

    ``outcome`` and ``reason`` are fixed when the clock stops; while it runs, its status
    depends only on the moment it is looked at (:meth:`status_at`).
    """

    id: str
    kind: ClockKind
    limit: str
    local: bool
    starts_at: datetime
    due_at: datetime
    warnings: tuple[datetime, ...]
    stopped_at: datetime | None = None
    outcome: ClockStatus | None = None
    reason: str | None = None

    def status_at(self, at: datetime) -> ClockStatus:
        """Status at moment ``at``: a clock stopped after ``at`` was still running then."""
        if self.stopped_at is not None and self.outcome is not None and self.stopped_at <= at:
            return self.outcome
        if is_late(self.kind, at, self.due_at):
            return ClockStatus.BREACHED
        return ClockStatus.RUNNING

    def at_risk(self, at: datetime) -> bool:
        """Running, within its limit, and past the first warning fraction."""
        return self.status_at(at) is ClockStatus.RUNNING and at >= self.warnings[0]

    def warning_level(self, at: datetime) -> int:
        """How many warning fractions a running clock has passed at ``at`` (0 when none)."""
        if self.status_at(at) is not ClockStatus.RUNNING:
            return 0
        return sum(1 for warning in self.warnings if at >= warning)


def start_clock(
    clock: EffectiveClock, starts_at: datetime, *, zone: ZoneInfo, fractions: tuple[float, ...]
) -> Clock:
    """A new running clock instance for ``clock`` from ``starts_at``."""
    due_at = due_instant(clock, starts_at, zone)
    span = due_at - starts_at
    return Clock(
        id=clock.id,
        kind=clock.kind,
        limit=clock.limit.describe(),
        local=clock.rule.local,
        starts_at=starts_at,
        due_at=due_at,
        warnings=tuple(starts_at + span * fraction for fraction in fractions),
    )


def stop_with_milestone(clock: Clock, at: datetime) -> Clock:
    """The clock's stopping milestone happened: met when on time, breached when late."""
    late = is_late(clock.kind, at, clock.due_at)
    return _stopped(clock, at, ClockStatus.BREACHED if late else ClockStatus.MET, None)


def stop_without_milestone(clock: Clock, at: datetime, reason: str) -> Clock:
    """Closing, steroids withheld or an override down stopped the clock.

    Excluded when still within its limit; breached when the due time had already passed, so a
    later closure never hides a breach.
    """
    late = is_late(clock.kind, at, clock.due_at)
    return _stopped(clock, at, ClockStatus.BREACHED if late else ClockStatus.EXCLUDED, reason)


def _stopped(clock: Clock, at: datetime, outcome: ClockStatus, reason: str | None) -> Clock:
    return Clock(
        id=clock.id,
        kind=clock.kind,
        limit=clock.limit,
        local=clock.local,
        starts_at=clock.starts_at,
        due_at=clock.due_at,
        warnings=clock.warnings,
        stopped_at=at,
        outcome=outcome,
        reason=reason,
    )
