"""What an effect is: an outbox entry the core decides (letter, alert, board form), keyed by
domain data, and the intake moment that tells live events from a backfill's history.

These sit below every effect rule (:mod:`pathway.letters`, :mod:`pathway.board`,
:mod:`pathway.safety`) so that :mod:`pathway.effects` can import those rules and list them in
one tuple without an import circle.

The intake writes each :class:`Effect` as an outbox row in the same transaction as the event, so an
effect is never lost (a crash before delivery leaves it pending) and never doubled (the key is
unique: a replay or a retry finds it already there). Delivery happens later, in tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pathway.engine import PathwayView
from pathway.events import PathwayEvent


@dataclass(frozen=True, slots=True)
class Effect:
    """One external effect to deliver: ``payload`` holds ids and coded facts, never patient data."""

    kind: str
    key: str
    payload: dict[str, Any] = field(default_factory=dict)


BACKFILL_GRACE = timedelta(hours=1)
"""How old an event may be, at a backfill's import moment, and still owe its letters.

A backfill imports history: an event older than this at the import moment is history, and its
letters (an acknowledgement, a breach report for a clock it stopped late) would describe it as
new to a reader who has long acted on it. An hour covers a feed's normal lag (events of the
last hour are still news); anything older was handled by the service before cordwatch.
"""


@dataclass(frozen=True, slots=True)
class IntakeMoment:
    """When the intake admits an event, and whether it is importing history (a backfill)."""

    now: datetime
    backfill: bool = False

    def is_history(self, event: PathwayEvent) -> bool:
        """True when a backfill imports ``event`` more than :data:`BACKFILL_GRACE` after it
        happened: its clocks and figures count, but it owes no letter."""
        return self.backfill and event.occurred_at < self.now - BACKFILL_GRACE


EffectRule = Callable[
    [str, PathwayEvent, PathwayView | None, PathwayView, IntakeMoment | None], list[Effect]
]
"""(internal pathway id, event, view before, view after, intake moment) -> effects. Pure.

The moment is None when the caller has none (a test, a preview): the event is then live.
"""
