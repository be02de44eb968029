"""The vocabulary of the clock tables (version 1's ``test_clock_rules.py`` and version 2's
``test_clock_rules_v2.py``): categories, due dates from T0, and the clock as a coordinator sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pathway.clocks import ClockStatus
from tests.factories import T0, H, Seen

M = timedelta(minutes=1)

MSCC = "suspected_mscc"
METS = "suspected_spinal_metastases"
REVIEW = "needs_review"

WEEK_DUE = datetime(2026, 11, 10, tzinfo=UTC)
"""MRI-METS / PLAN-METS from T0 (2 November): due date 9 November, first late instant the 10th."""
FDS_DUE = datetime(2026, 12, 1, tzinfo=UTC)
"""CWT-FDS from T0: due date 30 November (28 days)."""
CWT62_DUE = datetime(2027, 1, 4, tzinfo=UTC)
"""CWT-62 from T0: due date 3 January 2027 (62 days)."""
DECIDED = T0 + 6 * H
"""When the MDT decides in the treatment rows (RT-24H, SURGERY, CWT-31)."""
CWT31_DUE = datetime(2026, 12, 4, tzinfo=UTC)
"""CWT-31 from a decision on 2 November: due date 3 December (31 days)."""


def running(due: datetime, *, starts: datetime = T0, at_risk: bool = False) -> Seen:
    return Seen(ClockStatus.RUNNING, at_risk, starts, due, None, None)


def met(due: datetime, stopped: datetime, *, starts: datetime = T0) -> Seen:
    return Seen(ClockStatus.MET, False, starts, due, stopped, None)


def breached(
    due: datetime,
    *,
    stopped: datetime | None = None,
    reason: str | None = None,
    starts: datetime = T0,
) -> Seen:
    return Seen(ClockStatus.BREACHED, False, starts, due, stopped, reason)


def excluded(due: datetime, stopped: datetime, reason: str, *, starts: datetime = T0) -> Seen:
    return Seen(ClockStatus.EXCLUDED, False, starts, due, stopped, reason)


NOT_STARTED = None
