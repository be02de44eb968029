"""What the watch sends for a clock it first sees late, and when a watch that never ran is dead.

The sweeps below run ``pathway.sweep.plan_sweep`` (what ``services.watch.sweep`` decides with)
for one clock, with no database: the clock is read only when its ``next_alert_at`` has come (the
selective read of ``db.watch.due_clocks``), an owed alert is queued when its key is new (the
outbox's unique key), the breach is raised at the sweep that queued it, and ``next_alert_at``
moves as planned. The end-to-end versions are in tests/alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import pytest

from pathway.alerts import HEARTBEAT_MISSED_SWEEPS, AlertLevel, alerts_due, watch_is_dead
from pathway.sweep import BreachState, RunningClock, plan_sweep
from tests.factories import RULES, T0, H, S

M = timedelta(minutes=1)
DUE = T0 + 4 * H  # an hour clock of 4 h (STEROID-MSCC): warnings at 50 % and 75 %
WARNINGS = (T0 + 2 * H, T0 + 3 * H)
CLOCK = RunningClock(
    row_id=1,
    pathway_id="PW-AAAAAA",
    clock_id="STEROID-MSCC",
    kind="hour",
    starts_at=T0,
    due_at=DUE,
    warnings=WARNINGS,
    category="suspected_mscc",
    rules=RULES,  # escalation every 30 min
)


def _sent_by_sweeps_at(moments: Iterable[datetime]) -> list[tuple[str, int]]:
    """The (level, step) of every alert queued by sweeps at ``moments``, in order."""
    queued: set[str] = set()
    sent: list[tuple[str, int]] = []
    next_at: datetime | None = None
    breach = BreachState()
    for at in moments:
        if next_at is not None and next_at > at:
            continue  # the selective sweep does not read this clock
        plan = plan_sweep([CLOCK], at=at, breaches={CLOCK.instance: breach})
        for owed in plan.alerts:
            if owed.key in queued:
                continue
            queued.add(owed.key)
            sent.append((owed.level.value, owed.step))
            if owed.level is AlertLevel.BREACH:
                breach = BreachState(raised_at=at)
        [(_, next_at)] = plan.moves
    return sent


def _every(start: datetime, end: datetime, step: timedelta = 5 * M) -> list[datetime]:
    return [start + n * step for n in range((end - start) // step + 1)]


def test_a_watch_that_sees_each_fraction_pass_sends_both_warnings() -> None:
    assert _sent_by_sweeps_at(_every(T0, DUE + 10 * M)) == [
        ("at_risk", 1),
        ("at_risk", 2),
        ("breach", 1),
    ]


def test_warnings_seen_by_two_sweeps_hours_apart_are_both_sent() -> None:
    assert _sent_by_sweeps_at([T0 + 2 * H + M, T0 + 3 * H + 30 * M]) == [
        ("at_risk", 1),
        ("at_risk", 2),
    ]


def test_a_clock_first_seen_past_both_fractions_gets_the_highest_warning_only_ever() -> None:
    # The watch was down from before 50 % until after 75 %: one AT RISK, not two at once,
    # and no later sweep sends the skipped first warning.
    sent = _sent_by_sweeps_at(_every(T0 + 3 * H + 10 * M, DUE + 10 * M))

    assert sent == [("at_risk", 2), ("breach", 1)]


def test_a_clock_first_seen_breached_gets_its_breach_and_no_warning() -> None:
    sent = _sent_by_sweeps_at(_every(DUE + 20 * M, DUE + 40 * M))

    assert sent == [("breach", 1)]


def test_only_the_highest_passed_step_is_owed_at_a_moment() -> None:
    owed = alerts_due(
        kind="hour", due_at=DUE, warnings=WARNINGS, running=True, at=T0 + 3 * H + 10 * M
    )

    assert [(d.level, d.step, d.fires_at) for d in owed] == [(AlertLevel.AT_RISK, 2, WARNINGS[1])]


INTERVAL = timedelta(minutes=1)
MISSED = HEARTBEAT_MISSED_SWEEPS * INTERVAL
NOW = T0 + 10 * H


@pytest.mark.parametrize(
    ("last_sweep_at", "first_event_received_at", "dead"),
    [
        pytest.param(None, None, False, id="new empty install: nothing to miss"),
        pytest.param(None, NOW - MISSED, False, id="first events just arrived: not yet"),
        pytest.param(None, NOW - MISSED - S, True, id="events long ago, never swept: dead"),
        pytest.param(NOW - MISSED, NOW - 5 * H, False, id="swept within 3 intervals"),
        pytest.param(NOW - MISSED - S, NOW - 5 * H, True, id="no sweep for 3 intervals"),
        pytest.param(NOW - MISSED - S, None, True, id="swept once, now silent"),
    ],
)
def test_the_watch_is_dead_after_3_silent_intervals_or_never_swept_with_work_waiting(
    last_sweep_at: datetime | None, first_event_received_at: datetime | None, dead: bool
) -> None:
    assert (
        watch_is_dead(
            last_sweep_at,
            at=NOW,
            interval=INTERVAL,
            first_event_received_at=first_event_received_at,
        )
        is dead
    )
