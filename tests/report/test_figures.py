"""The report's figures against a small cohort worked out by hand (pathway-spec.md section 8).

Period: Monday 2 to Sunday 15 November 2026, Europe/London (GMT in November and December, so
local time is UTC). The report looks at 20 November 12:00 UTC; the cancer waiting-time clocks,
whose limits run past that, are also looked at again on 20 January 2027 with nothing more
recorded (``LATER``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from pathway.report import ClockFact, PathwayFact, PerformanceReport, build_report, percentile

AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LATER = datetime(2027, 1, 20, 12, 0, tzinfo=UTC)
MSCC = "suspected_mscc"
METS = "suspected_spinal_metastases"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def hour_clock(
    pathway: str,
    clock: str,
    start: datetime,
    limit_hours: float,
    stop: datetime | None,
    status: str,
    reason: str | None = None,
) -> ClockFact:
    due = start + timedelta(hours=limit_hours)
    return ClockFact(pathway, MSCC, clock, "hour", start, due, stop, status, reason)


def dec(day: int) -> datetime:
    """Midnight starting ``day`` December 2026 (GMT): the due_at of a day clock."""
    return datetime(2026, 12, day, tzinfo=UTC)


def day_clock(
    pathway: str,
    clock: str,
    start: datetime,
    due: datetime,
    stop: datetime | None,
    status: str,
    reason: str | None = None,
    category: str = METS,
) -> ClockFact:
    return ClockFact(pathway, category, clock, "day", start, due, stop, status, reason)


CLOCKS = [
    # MRI-MSCC (24 h):
    hour_clock("PW-A", "MRI-MSCC", at(2, 8), 24, at(2, 14), "met"),  # 6 h
    hour_clock("PW-B", "MRI-MSCC", at(3, 8), 24, at(4, 2), "met"),  # 18 h
    hour_clock("PW-C", "MRI-MSCC", at(4, 8), 24, at(5, 20), "breached"),  # 36 h, 12 h late
    hour_clock("PW-D", "MRI-MSCC", at(5, 8), 24, at(5, 10), "excluded", "died"),
    hour_clock("PW-E", "MRI-MSCC", at(10, 8), 24, None, "running"),  # due 11 Nov 08:00: late
    hour_clock("PW-F", "MRI-MSCC", at(9, 9), 24, at(10, 9), "met"),  # exactly 24 h: met
    # STEROID-MSCC (4 h):
    hour_clock("PW-A", "STEROID-MSCC", at(2, 8), 4, at(2, 10, 30), "met"),  # 2.5 h
    hour_clock("PW-B", "STEROID-MSCC", at(3, 8), 4, at(3, 13), "breached"),  # 5 h, 1 h late
    hour_clock("PW-C", "STEROID-MSCC", at(4, 8), 4, at(4, 9), "excluded", "contraindicated"),
    # RT-24H (24 h):
    hour_clock("PW-A", "RT-24H", at(3, 12), 24, at(4, 9), "met"),  # 21 h
    # MRI-METS and PLAN-METS (7 days; due_at is the first instant after the due date):
    # G starts Mon 2 Nov: due date 9 Nov, due_at 10 Nov 00:00. MRI at 9 Nov 23:00: met, 181 h.
    day_clock("PW-G", "MRI-METS", at(2, 10), at(10, 0), at(9, 23), "met"),
    day_clock("PW-G", "PLAN-METS", at(2, 10), at(10, 0), at(8, 10), "met"),
    # H starts 3 Nov: due date 10 Nov, due_at 11 Nov 00:00. MRI at 11 Nov 00:00: breached
    # (day 8, 1 day late), 182 h.
    day_clock("PW-H", "MRI-METS", at(3, 10), at(11, 0), at(11, 0), "breached"),
    day_clock("PW-H", "PLAN-METS", at(3, 10), at(11, 0), at(10, 9), "met"),
    # I starts 14 Nov: due_at 22 Nov 00:00, still running on 20 Nov: not decided.
    day_clock("PW-I", "MRI-METS", at(14, 10), at(22, 0), None, "running"),
    day_clock("PW-I", "PLAN-METS", at(14, 10), at(22, 0), None, "running"),
    # J transferred out on 7 Nov: both clocks excluded.
    day_clock("PW-J", "MRI-METS", at(6, 10), at(14, 0), at(7, 10), "excluded", "transferred"),
    day_clock("PW-J", "PLAN-METS", at(6, 10), at(14, 0), at(7, 10), "excluded", "transferred"),
    # CWT-62: K running (due 4 Jan 2027), L treated on day 17: met.
    day_clock("PW-K", "CWT-62", at(2, 10), datetime(2027, 1, 4, tzinfo=UTC), None, "running"),
    day_clock("PW-L", "CWT-62", at(3, 9), datetime(2027, 1, 5, tzinfo=UTC), at(20, 9), "met"),
    # CWT-FDS (28 days from the referral; due date = start date + 28, due_at the midnight
    # after it), in both categories:
    # K (metastases) 2 Nov: due date 30 Nov, due_at 1 Dec. No diagnosis communicated: running
    # on 20 Nov, breached (still running) by 20 January.
    day_clock("PW-K", "CWT-FDS", at(2, 10), dec(1), None, "running"),
    # L (metastases) 3 Nov, told on 12 Nov 09:00: met, 9 days = 216 h.
    day_clock("PW-L", "CWT-FDS", at(3, 9), dec(2), at(12, 9), "met"),
    # M (MSCC) 4 Nov 08:00, told on 6 Nov 08:00: met, 48 h.
    day_clock("PW-M", "CWT-FDS", at(4, 8), dec(3), at(6, 8), "met", category=MSCC),
    # O (MSCC) 10 Nov, died on 13 Nov: excluded.
    day_clock("PW-O", "CWT-FDS", at(10, 8), dec(9), at(13, 8), "excluded", "died", category=MSCC),
    # P (MSCC) 11 Nov 08:00, told on 18 Nov 08:00: met, 7 days = 168 h.
    day_clock("PW-P", "CWT-FDS", at(11, 8), dec(10), at(18, 8), "met", category=MSCC),
    # CWT-31 (31 days from the decision to treat; due_at the midnight after start + 31):
    # A (MSCC) decided 3 Nov 12:00 and irradiated 4 Nov 09:00 (its RT-24H): met, 21 h.
    day_clock("PW-A", "CWT-31", at(3, 12), dec(5), at(4, 9), "met", category=MSCC),
    # L (metastases) decided 10 Nov 09:00, treated 20 Nov 09:00 (its CWT-62 stop): met, 240 h.
    day_clock("PW-L", "CWT-31", at(10, 9), dec(12), at(20, 9), "met"),
    # Q (metastases) decided 13 Nov 10:00, due date 14 Dec, not yet treated: running on
    # 20 Nov, breached (still running) by 20 January.
    day_clock("PW-Q", "CWT-31", at(13, 10), dec(15), None, "running"),
]

PATHWAYS = [
    PathwayFact(
        "PW-P1", MSCC, at(2, 8), "with_aid", "independent", mri_scans=1, mscc_confirmed=True
    ),
    PathwayFact("PW-P2", MSCC, at(3, 8), "non_ambulatory", "non_ambulatory", 2, True),
    PathwayFact("PW-P3", MSCC, at(4, 8), "independent", "with_aid", 1, False),
    PathwayFact("PW-P4", METS, at(5, 8), None, None, 0, False),
    PathwayFact("PW-P5", METS, at(6, 8), "independent", None, 1, False),
]


def report_as_of(as_of: datetime) -> PerformanceReport:
    return build_report(
        CLOCKS,
        PATHWAYS,
        period_start=date(2026, 11, 2),
        period_end=date(2026, 11, 15),
        as_of=as_of,
        timezone="Europe/London",
    )


@pytest.fixture(scope="module")
def report() -> PerformanceReport:
    return report_as_of(AS_OF)


@pytest.fixture(scope="module")
def later() -> PerformanceReport:
    return report_as_of(LATER)


def figures(
    report: PerformanceReport, clock: str, category: str | None = None
) -> dict[str, object]:
    """The figures of ``clock`` in ``category`` (by default its first row)."""
    row = next(
        c
        for c in report.clocks
        if c.clock_id == clock and (category is None or c.category == category)
    )
    return {
        "started": row.started,
        "met": row.met,
        "breached": row.breached,
        "breached_running": row.breached_running,
        "excluded": row.excluded_by_reason,
        "running": row.running,
        "percent_met": row.percent_met,
        "median": row.median_hours,
        "p90": row.p90_hours,
    }


def test_mri_mscc_figures(report: PerformanceReport) -> None:
    # Started 6. Met: A (6 h), B (18 h), F (exactly 24 h: an hour clock is met at due_at).
    # Breached: C (36 h) and E (running past its due time) = 2, E still open. Excluded: D
    # (died). % met = 3 / (3 + 2) = 60.0. Times to stop (by the MRI): 6, 18, 24, 36 h;
    # median at rank 1.5 = 18 + 0.5 x 6 = 21.0; p90 at rank 2.7 = 24 + 0.7 x 12 = 32.4.
    assert figures(report, "MRI-MSCC") == {
        "started": 6,
        "met": 3,
        "breached": 2,
        "breached_running": 1,
        "excluded": {"died": 1},
        "running": 0,
        "percent_met": 60.0,
        "median": 21.0,
        "p90": 32.4,
    }


def test_day_clock_figures(report: PerformanceReport) -> None:
    # MRI-METS started 4 (G, H, I, J). Met G (181 h); breached H (stopped at due_at, the
    # first late instant of a day clock: 182 h); excluded J (transferred); running I (due
    # 22 Nov). % met = 1 / 2 = 50.0. Median of 181 and 182 = 181.5; p90 at rank 0.9 = 181.9.
    assert figures(report, "MRI-METS") == {
        "started": 4,
        "met": 1,
        "breached": 1,
        "breached_running": 0,
        "excluded": {"transferred": 1},
        "running": 1,
        "percent_met": 50.0,
        "median": 181.5,
        "p90": 181.9,
    }


def test_headline_measures(report: PerformanceReport) -> None:
    kpis = {(k.id, k.title.split(",")[0]): k for k in report.kpis}
    k1 = kpis[("K1", "MRI within 24 h")]
    k2 = kpis[("K2", "MRI and plan within 7 days")]
    k4 = kpis[("K4", "Radiotherapy within 24 h of decision")]
    k6 = kpis[("K6", "Dexamethasone within the local SLA")]
    cwt62 = kpis[("K17", "Referral to treatment")]

    # K1 = MRI-MSCC: 3 of 5.
    assert (k1.numerator, k1.denominator, k1.percent, k1.target) == (3, 5, 60.0, None)
    # K2 per pathway: G both met (on time); H MRI breached (late); I still running and J
    # excluded leave the denominator: 1 of 2.
    assert (k2.numerator, k2.denominator, k2.percent) == (1, 2, 50.0)
    # K4: one RT clock met in 21 h.
    assert (k4.numerator, k4.denominator, k4.percent, k4.median_hours) == (1, 1, 100.0, 21.0)
    # K6: steroids at 2.5 h (met) and 5 h (breached); C withheld (excluded). Median 3.75 h;
    # p90 at rank 0.9 = 2.5 + 0.9 x 2.5 = 4.75 h.
    assert (k6.numerator, k6.denominator, k6.median_hours, k6.p90_hours) == (1, 2, 3.75, 4.75)
    # CWT 62 days: L met, K running: 1 of 1 = 100 % against 85 %: target met.
    assert (cwt62.numerator, cwt62.denominator, cwt62.target, cwt62.meets_target) == (
        1,
        1,
        0.85,
        True,
    )


def test_cancer_waiting_time_standards(report: PerformanceReport, later: PerformanceReport) -> None:
    def k17(report: PerformanceReport, title: str) -> tuple[object, ...]:
        k = next(k for k in report.kpis if k.id == "K17" and k.title.startswith(title))
        return (k.numerator, k.denominator, k.percent, k.target, k.meets_target)

    # FDS, 28 days, against 80 % (W1, W3). On 20 Nov: M, P (MSCC) and L (metastases) met;
    # O excluded (died); K within its limit (due date 30 Nov): 3 of 3 = 100.0 %, met.
    assert k17(report, "Faster Diagnosis Standard") == (3, 3, 100.0, 0.80, True)
    # On 20 January K is past its due date, still without a diagnosis: breached. 3 of 4 =
    # 75.0 %: below 80 % (it would have met the 75 % in force before March 2026).
    assert k17(later, "Faster Diagnosis Standard") == (3, 4, 75.0, 0.80, False)
    # 31 days, against 96 %. On 20 Nov: A (21 h) and L (10 days) met, Q running (due date
    # 14 Dec): 2 of 2 = 100.0 %, met. On 20 January Q is breached: 2 of 3 = 66.7 %, not met.
    assert k17(report, "Decision to treat to treatment") == (2, 2, 100.0, 0.96, True)
    assert k17(later, "Decision to treat to treatment") == (2, 3, 66.7, 0.96, False)
    # FDS times to stop (by the diagnosis): M 48 h, P 168 h, L 216 h. Median 168 h; p90 at
    # rank 1.8 = 168 + 0.8 x 48 = 206.4 h. CWT-31: A 21 h, L 240 h: median 130.5 h, p90 at
    # rank 0.9 = 21 + 0.9 x 219 = 218.1 h.
    fds = next(k for k in report.kpis if k.title.startswith("Faster Diagnosis Standard"))
    cwt31 = next(k for k in report.kpis if k.title.startswith("Decision to treat"))
    assert (fds.median_hours, fds.p90_hours) == (168.0, 206.4)
    assert (cwt31.median_hours, cwt31.p90_hours) == (130.5, 218.1)


def test_clock_figures_are_split_by_category(
    report: PerformanceReport, later: PerformanceReport
) -> None:
    # One row per clock and category (the category of its pathway), in category order; the
    # headline measure (test above) counts every category. CWT-FDS in suspected MSCC: M, O,
    # P started; M (48 h) and P (168 h) met, O excluded (died): 2 of 2. Median 108 h; p90 at
    # rank 0.9 = 48 + 0.9 x 120 = 156 h.
    assert [(c.clock_id, c.category) for c in report.clocks if c.clock_id.startswith("CWT")] == [
        ("CWT-FDS", MSCC),
        ("CWT-FDS", METS),
        ("CWT-31", MSCC),
        ("CWT-31", METS),
        ("CWT-62", METS),
    ]
    assert figures(report, "CWT-FDS", MSCC) == {
        "started": 3,
        "met": 2,
        "breached": 0,
        "breached_running": 0,
        "excluded": {"died": 1},
        "running": 0,
        "percent_met": 100.0,
        "median": 108.0,
        "p90": 156.0,
    }
    # In suspected metastases: K and L started; L met (216 h), K running: 1 of 1.
    assert figures(report, "CWT-FDS", METS) == {
        "started": 2,
        "met": 1,
        "breached": 0,
        "breached_running": 0,
        "excluded": {},
        "running": 1,
        "percent_met": 100.0,
        "median": 216.0,
        "p90": 216.0,
    }
    # By 20 January K is breached, still running: 1 of 2 = 50.0 % in metastases, while MSCC
    # stays at 2 of 2; together 3 of 4 (75.0 %, the K17 figure).
    assert figures(later, "CWT-FDS", METS)["percent_met"] == 50.0
    assert figures(later, "CWT-FDS", METS)["breached_running"] == 1
    assert figures(later, "CWT-FDS", MSCC)["percent_met"] == 100.0
    # The per-category rows carry the clock's target; no row sums the categories.
    assert {c.target for c in report.clocks if c.clock_id == "CWT-FDS"} == {0.80}
    assert {c.category for c in report.clocks} == {MSCC, METS}


def test_ambulatory_status_at_referral_and_after_treatment(report: PerformanceReport) -> None:
    # Paired: P1 (with aid -> independent: improved), P2 (non-ambulatory both: unchanged), P3
    # (independent -> with aid: worse). Ambulatory at referral: P1, P3 = 2; after: P1, P3 = 2.
    a = report.ambulatory

    assert (a.paired, a.ambulatory_at_referral, a.ambulatory_after_treatment) == (3, 2, 2)
    assert (a.improved, a.unchanged, a.worse) == (1, 1, 1)
    assert a.at_referral == {
        "independent": 2,
        "non_ambulatory": 1,
        "not recorded": 1,
        "with_aid": 1,
    }
    # After treatment, per pathway referred, as at referral: P1 independent, P2
    # non-ambulatory, P3 with aid; P4 and P5 have none (not treated, or no outcome after
    # treatment): not recorded.
    assert a.after_treatment == {
        "independent": 1,
        "non_ambulatory": 1,
        "not recorded": 2,
        "with_aid": 1,
    }


def test_mri_yield(report: PerformanceReport) -> None:
    # Scanned: P1 (1 MRI), P2 (2), P3 (1), P5 (1) = 4 pathways, 5 MRIs; MSCC in P1 and P2.
    # 2 / 4 = 50.0 % confirmed; 5 / 2 = 2.5 MRIs per confirmed MSCC.
    y = report.mri_yield

    assert (y.pathways_scanned, y.mri_scans, y.mscc_confirmed) == (4, 5, 2)
    assert (y.percent_confirmed, y.scans_per_confirmed) == (50.0, 2.5)


def test_breach_list_says_how_late(report: PerformanceReport) -> None:
    # E: still open, 20 Nov 12:00 - 11 Nov 08:00 = 9 d 4 h = 220 h. C: MRI at 5 Nov 20:00,
    # due 5 Nov 08:00: 12 h. B steroids at 13:00, due 12:00: 1 h. H: MRI on 11 Nov, due date
    # 10 Nov: 1 day late (0 h after the first late instant).
    late = [(b.pathway_id, b.clock_id, b.hours_late, b.days_late) for b in report.breaches]

    assert late == [
        ("PW-E", "MRI-MSCC", 220.0, None),
        ("PW-C", "MRI-MSCC", 12.0, None),
        ("PW-B", "STEROID-MSCC", 1.0, None),
        ("PW-H", "MRI-METS", 0.0, 1),
    ]
    assert report.breaches[0].stopped_at is None


def test_compliance_by_week(report: PerformanceReport) -> None:
    # MRI-MSCC week of 2 Nov: A, B met, C breached (D excluded): 2 of 3. Week of 9 Nov: F met,
    # E breached: 1 of 2.
    weeks = [(w.week, w.met, w.decided) for w in report.weekly if w.clock_id == "MRI-MSCC"]

    assert weeks == [(date(2026, 11, 2), 2, 3), (date(2026, 11, 9), 1, 2)]


def test_excluded_clocks_never_count_as_met(report: PerformanceReport) -> None:
    row = next(c for c in report.clocks if c.clock_id == "STEROID-MSCC")

    assert (row.met, row.decided, row.excluded_by_reason) == (1, 2, {"contraindicated": 1})


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [([], 0.5, None), ([4.0], 0.9, 4.0), ([1.0, 2.0, 3.0, 4.0, 5.0], 0.9, 4.6)],
)
def test_percentile_interpolates_between_closest_ranks(
    values: list[float], fraction: float, expected: float | None
) -> None:
    result = percentile(values, fraction)

    assert result == (pytest.approx(expected) if expected is not None else None)
