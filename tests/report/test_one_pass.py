"""Edges of the one pass that gathers the report: weeks across clock changes, unnamed exclusions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from pathway.report import ClockFact, PerformanceReport, build_report

MSCC = "suspected_mscc"


def report_of(clocks: list[ClockFact], as_of: datetime) -> PerformanceReport:
    return build_report(
        clocks,
        [],
        period_start=date(2026, 3, 1),
        period_end=date(2026, 11, 1),
        as_of=as_of,
        timezone="Europe/London",
    )


def met_clock(pathway: str, start: datetime) -> ClockFact:
    due = start + timedelta(hours=24)
    return ClockFact(
        pathway, MSCC, "MRI-MSCC", "hour", start, due, start + timedelta(hours=2), "met", None
    )


def test_weeks_are_mondays_in_the_service_zone_across_clock_changes() -> None:
    clocks = [
        # Sunday 29 March 2026 23:30 UTC is Monday 00:30 BST: the week of 30 March.
        met_clock("PW-A", datetime(2026, 3, 29, 23, 30, tzinfo=UTC)),
        # Sunday 29 March 22:59 UTC is Sunday 23:59 BST: the week of 23 March.
        met_clock("PW-B", datetime(2026, 3, 29, 22, 59, tzinfo=UTC)),
        # The same instant as A, given at +01:00: the same week.
        met_clock("PW-C", datetime(2026, 3, 30, 0, 30, tzinfo=timezone(timedelta(hours=1)))),
        # Sunday 25 October 23:30 UTC is Sunday 23:30 GMT (BST ended that morning): 19 October.
        met_clock("PW-D", datetime(2026, 10, 25, 23, 30, tzinfo=UTC)),
        # Sunday 25 October 00:30 UTC is Sunday 01:30 BST: also the week of 19 October.
        met_clock("PW-E", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ]

    report = report_of(clocks, datetime(2026, 11, 1, tzinfo=UTC))

    assert [(w.week, w.met) for w in report.weekly] == [
        (date(2026, 3, 23), 1),
        (date(2026, 3, 30), 2),
        (date(2026, 10, 19), 2),
    ]


def test_an_exclusion_without_a_reason_is_counted_unspecified_and_has_no_time() -> None:
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    excluded = ClockFact(
        "PW-A",
        MSCC,
        "MRI-MSCC",
        "hour",
        start,
        start + timedelta(hours=24),
        start + timedelta(hours=3),
        "excluded",
        None,
    )

    report = report_of([excluded], datetime(2026, 3, 10, tzinfo=UTC))

    row = report.clocks[0]
    assert (row.excluded, row.excluded_by_reason, row.median_hours) == (1, {"unspecified": 1}, None)
    assert report.times_to_stop == {"MRI-MSCC": []}
