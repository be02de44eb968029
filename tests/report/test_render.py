"""What administrators read off the timeline: the status as of the moment, the due date of a day clock."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.audit_report import TimelineClock
from services.report_render import category, clock_status, due_text, report_weeks

# MRI-METS started on Sunday 15 November 2026: due date 22 November, due_at 23 November 00:00.
STARTS = datetime(2026, 11, 15, 2, 15, tzinfo=UTC)
DUE = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def mri_mets(stopped_at: datetime | None, status: str) -> TimelineClock:
    return TimelineClock("MRI-METS", "day", "7 days", STARTS, DUE, stopped_at, status, None)


@pytest.mark.parametrize(
    ("clock", "as_of", "shown"),
    [
        pytest.param(
            mri_mets(None, "running"),
            datetime(2026, 11, 22, 23, 59, tzinfo=UTC),
            "running",
            id="within the due date",
        ),
        pytest.param(
            mri_mets(None, "running"), DUE, "breached (still running)", id="at midnight after it"
        ),
        pytest.param(mri_mets(datetime(2026, 11, 18, 9, tzinfo=UTC), "met"), DUE, "met", id="met"),
        pytest.param(
            mri_mets(datetime(2026, 11, 24, 9, tzinfo=UTC), "breached"),
            datetime(2026, 11, 23, 12, tzinfo=UTC),
            "breached (still running)",
            id="stopped late, after the moment looked at",
        ),
    ],
)
def test_the_timeline_shows_each_clock_as_it_stood(
    clock: TimelineClock, as_of: datetime, shown: str
) -> None:
    assert clock_status(clock, as_of) == shown


def test_a_day_clock_is_due_by_the_end_of_its_due_date() -> None:
    hour_clock = TimelineClock("MRI-MSCC", "hour", "24 h", STARTS, DUE, None, "running", None)

    assert due_text(mri_mets(None, "running"), "Europe/London") == "2026-11-22 (end of day)"
    assert due_text(hour_clock, "Europe/London") == "2026-11-23 00:00"


def test_the_weekly_chart_covers_every_week_the_period_touches() -> None:
    # Monday 2 to Monday 23 November: four weeks, the last one only a day of the period.
    assert report_weeks(date(2026, 11, 2), date(2026, 11, 23)) == [
        date(2026, 11, 2),
        date(2026, 11, 9),
        date(2026, 11, 16),
        date(2026, 11, 23),
    ]
    assert report_weeks(date(2026, 11, 1), date(2026, 11, 1)) == [date(2026, 10, 26)]


def test_categories_read_as_words() -> None:
    assert [category(c) for c in ("suspected_mscc", "needs_review", "other_thing")] == [
        "suspected MSCC",
        "needs review",
        "other thing",
    ]
