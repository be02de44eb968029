"""The version-2 report figures (pathway-spec.md 9.1, 9.4, 9.5), worked by hand.

K-SARC-1, breaches by reason and stage, arrivals and compliance by weekday and hour, and K10's
choice of status after treatment; each case says what the clinic did and what the figure is.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pathway.report import (
    CLOCK_MEASURES,
    Breach,
    ClockFact,
    PathwayFact,
    build_report,
)
from pathway.report_v2 import (
    AfterTreatment,
    ExplanationFact,
    OutcomeFact,
    SarcomaEvent,
    TimeTally,
    breach_reasons,
    in_hours,
    roll_up,
    sarcoma_figures,
    sarcoma_status,
    status_after_treatment,
)
from pathway.ruleset import load_ruleset

LONDON = ZoneInfo("Europe/London")
V2 = load_ruleset("nice-ng234-2023", 2)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # Monday, GMT
H = timedelta(hours=1)
D = timedelta(days=1)


def outcome(event_id: str, at: datetime, timepoint: str, status: str, **more: str) -> OutcomeFact:
    return OutcomeFact(event_id, at, int(at.timestamp()), timepoint, status, more.get("supersedes"))


class TestK10StatusAfterTreatment:
    def test_an_outcome_outside_its_window_is_left_out(self) -> None:
        # Radiotherapy on 2 Nov. Day 30 recorded on 2 Dec (30 days: in 30 +/- 7) walking with
        # an aid; week 8 recorded on day 40 (56 +/- 7: out) independent. K10 reads day 30.
        outcomes = [
            outcome("o1", T0 + 30 * D, "day_30", "with_aid"),
            outcome("o2", T0 + 40 * D, "week_8", "independent"),
        ]

        result = status_after_treatment(outcomes, T0, windows=V2.outcome_windows, zone=LONDON)

        assert (result.status, result.out_of_window) == ("with_aid", 1)

    def test_a_corrected_outcome_gives_way_to_its_correction(self) -> None:
        # Week 12 on day 84 recorded as non-ambulatory by mistake; the correction on day 85
        # (supersedes it) says independent. An earlier post-treatment record stays behind.
        outcomes = [
            outcome("o3", T0 + 85 * D, "week_12", "independent", supersedes="o2"),
            outcome("o2", T0 + 84 * D, "week_12", "non_ambulatory"),
            outcome("o1", T0 + 5 * D, "post_treatment", "with_aid"),
        ]

        result = status_after_treatment(outcomes, T0, windows=V2.outcome_windows, zone=LONDON)

        assert (result.status, result.out_of_window) == ("independent", 0)

    def test_a_superseded_latest_record_leaves_the_one_before(self) -> None:
        # The record of day 31 was corrected by one dated day 30 (the engine only checks that
        # the corrected record came first in arrival): the corrected one is left out even
        # though it is the latest, and the correction stands.
        outcomes = [
            outcome("o2", T0 + 31 * D, "day_30", "non_ambulatory"),
            outcome("o3", T0 + 30 * D, "day_30", "with_aid", supersedes="o2"),
        ]

        result = status_after_treatment(outcomes, T0, windows=V2.outcome_windows, zone=LONDON)

        assert result.status == "with_aid"

    def test_outcomes_before_treatment_and_untreated_pathways_have_no_status(self) -> None:
        before = [outcome("o1", T0 - D, "pre_treatment", "independent")]

        assert (
            status_after_treatment(before, T0, windows=V2.outcome_windows, zone=LONDON).status
            is None
        )
        assert status_after_treatment(before, None, windows=V2.outcome_windows, zone=LONDON) == (
            status_after_treatment([], None, windows={}, zone=LONDON)
        )

    def test_version_1_free_text_timepoints_are_never_out_of_window(self) -> None:
        outcomes = [outcome("o1", T0 + 200 * D, "week_8", "independent")]

        result = status_after_treatment(outcomes, T0, windows={}, zone=LONDON)

        assert (result.status, result.out_of_window) == ("independent", 0)

    def test_window_days_are_calendar_days_in_the_service_zone_across_bst(self) -> None:
        # Treatment 28 Mar 2026 23:30 UTC (23:30 GMT, 28 Mar). Day 30 at 4 May 23:30 UTC is
        # 00:30 BST on 5 May: 38 days in London (out of 30 +/- 7), though 37 by UTC dates.
        treated = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
        late = [outcome("o1", datetime(2026, 5, 4, 23, 30, tzinfo=UTC), "day_30", "independent")]
        edge = [outcome("o1", datetime(2026, 5, 4, 22, 30, tzinfo=UTC), "day_30", "independent")]

        assert status_after_treatment(
            late, treated, windows=V2.outcome_windows, zone=LONDON
        ) == AfterTreatment(None, 1)
        assert (
            status_after_treatment(edge, treated, windows=V2.outcome_windows, zone=LONDON).status
            == "independent"
        )


def sarcoma(*events: tuple[timedelta, str]) -> tuple[SarcomaEvent, ...]:
    return tuple(SarcomaEvent(T0 + offset, 0, kind) for offset, kind in events)


class TestKSarc1:
    @pytest.mark.parametrize(
        ("events", "as_of", "expected"),
        [
            pytest.param(
                sarcoma((0 * H, "suspected"), (5 * D, "centre_review"), (6 * D, "biopsy")),
                T0 + 30 * D,
                "reviewed_first",
                id="reviewed by the centre, then biopsied as it advised: on target",
            ),
            pytest.param(
                sarcoma((0 * H, "suspected"), (2 * D, "biopsy"), (5 * D, "centre_review")),
                T0 + 30 * D,
                "biopsied_first",
                id="biopsied locally before the centre saw it: not on target",
            ),
            pytest.param(
                sarcoma((0 * H, "suspected")),
                T0 + 30 * D,
                "awaiting_review",
                id="suspected, not yet reviewed nor biopsied: not decided",
            ),
            pytest.param(
                sarcoma((0 * H, "suspected"), (1 * D, "not_primary"), (2 * D, "biopsy")),
                T0 + 30 * D,
                "not_primary",
                id="spinal surgeons advised not a primary bone tumour, then a biopsy: left out",
            ),
            pytest.param(
                sarcoma((-D, "biopsy"), (0 * H, "suspected"), (3 * D, "centre_review")),
                T0 + 30 * D,
                "reviewed_first",
                id="a biopsy before anyone suspected a sarcoma does not count against it",
            ),
            pytest.param(
                sarcoma((0 * H, "suspected"), (2 * D, "biopsy")),
                T0 + D,
                "awaiting_review",
                id="as of the day before the biopsy it was still awaiting review",
            ),
            pytest.param(
                sarcoma(
                    (0 * H, "suspected"),
                    (1 * D, "not_primary"),
                    (3 * D, "suspected"),
                    (4 * D, "biopsy"),
                ),
                T0 + 30 * D,
                "biopsied_first",
                id="a later report suspects it again, and the biopsy then counts",
            ),
            pytest.param(sarcoma((0 * H, "biopsy")), T0 + D, None, id="never suspected"),
        ],
    )
    def test_status(
        self, events: tuple[SarcomaEvent, ...], as_of: datetime, expected: str | None
    ) -> None:
        assert sarcoma_status(events, as_of) == expected

    def test_figures_count_only_decided_pathways(self) -> None:
        statuses = [
            ("PW-A", "reviewed_first"),
            ("PW-B", "reviewed_first"),
            ("PW-C", "biopsied_first"),
            ("PW-D", "awaiting_review"),
            ("PW-E", "not_primary"),
            ("PW-F", None),
        ]

        figures = sarcoma_figures(statuses)

        # 2 reviewed first of 3 decided: 66.7 % against a target of 100 %.
        assert (figures.suspected, figures.decided, figures.percent) == (5, 3, 66.7)
        assert (figures.awaiting_review, figures.not_primary, figures.target) == (1, 1, 1.0)
        assert figures.biopsied_first_pathways == ["PW-C"]


def late(pathway_id: str, clock_id: str, hours: float, kind: str = "hour") -> Breach:
    return Breach(pathway_id, clock_id, "suspected_mscc", kind, T0, None, hours, None, None)


def explained(
    pathway_id: str,
    clock_id: str,
    reason: str,
    stage: str,
    *,
    event_id: str,
    at: datetime = T0,
    primary: bool = True,
    supersedes: str | None = None,
) -> ExplanationFact:
    return ExplanationFact(pathway_id, event_id, at, clock_id, reason, stage, primary, supersedes)


class TestBreachReasons:
    def test_by_reason_roll_up_and_stage_with_the_median_delay(self) -> None:
        # MRI-MSCC breached on four pathways:
        #   P1 6 h late: imaging capacity at imaging; a contributing coordinator absence.
        #   P2 10 h late: first put down to imaging capacity, then superseded: the patient
        #      was unavailable (pre-presentation).
        #   P3 2 h late: no explanation.
        #   P4 4 h late: explained, but after the report's moment: unexplained as of then.
        # CWT-62 breached on P1 by 48 h (two days): administrative delay, treating centre.
        breaches = [
            late("P1", "MRI-MSCC", 6),
            late("P2", "MRI-MSCC", 10),
            late("P3", "MRI-MSCC", 2),
            late("P4", "MRI-MSCC", 4),
            late("P1", "CWT-62", 48, "day"),
        ]
        explanations = [
            explained("P1", "MRI-MSCC", "imaging_capacity", "imaging", event_id="e1"),
            explained(
                "P1",
                "MRI-MSCC",
                "coordinator_unavailable",
                "coordinator_triage",
                event_id="e2",
                primary=False,
            ),
            explained("P2", "MRI-MSCC", "imaging_capacity", "imaging", event_id="e3"),
            explained(
                "P2",
                "MRI-MSCC",
                "patient_unavailable",
                "patient_pre_presentation",
                event_id="e4",
                at=T0 + H,
                supersedes="e3",
            ),
            explained(
                "P4", "MRI-MSCC", "imaging_capacity", "imaging", event_id="e5", at=T0 + 9 * D
            ),
            explained("P1", "CWT-62", "administrative_delay", "treating_centre", event_id="e6"),
            # Of a clock that is not among the report's breaches: not counted.
            explained("P9", "MRI-MSCC", "other", "unknown", event_id="e7"),
        ]

        rows = {r.clock_id: r for r in breach_reasons(breaches, explanations, as_of=T0 + D)}

        mri = rows["MRI-MSCC"]
        assert (mri.breached, mri.explained, mri.unexplained) == (4, 2, 2)
        assert mri.by_reason == {
            "imaging_capacity": 1,
            "patient_unavailable": 1,
            "unexplained": 2,
        }
        assert mri.by_roll_up == {"capacity": 1, "patient": 1, "unexplained": 2}
        assert mri.by_stage == {"imaging": 1, "patient_pre_presentation": 1, "unexplained": 2}
        assert mri.contributing == {"coordinator_unavailable": 1}
        # Unexplained: P3 2 h and P4 4 h, median 3 h.
        assert mri.median_delay_hours_by_stage == {
            "imaging": 6,
            "patient_pre_presentation": 10,
            "unexplained": 3,
        }
        assert (rows["CWT-62"].kind, rows["CWT-62"].by_roll_up) == ("day", {"process": 1})
        every = rows["all"]
        assert (every.breached, every.explained, every.kind) == (5, 3, "hour")
        assert list(rows) == ["CWT-62", "MRI-MSCC", "all"]

    def test_no_breach_no_rows(self) -> None:
        assert breach_reasons([], [], as_of=T0) == []

    def test_every_reason_has_a_roll_up(self) -> None:
        assert roll_up("not_commissioned_english_nhs") == "external"
        assert roll_up("unexplained") == "unexplained"


class TestWeekdayAndHour:
    def test_arrivals_and_compliance_in_and_out_of_hours(self) -> None:
        tally = TimeTally(LONDON)
        friday = datetime(2026, 11, 6, tzinfo=UTC)  # GMT: London time is UTC
        # Referrals: Friday 16:59 (in hours), Friday 17:00 (out), Friday 12:00 (in),
        # Saturday 09:30 (out: weekend), Monday 08:59 (out: before nine).
        referrals = [
            friday + timedelta(hours=16, minutes=59),
            friday + timedelta(hours=17),
            friday + timedelta(hours=12),
            friday + timedelta(days=1, hours=9, minutes=30),
            friday + timedelta(days=3, hours=8, minutes=59),
        ]
        # Clocks: MRI-MSCC started Friday 16:30 met, Friday 17:30 breached, Saturday 10:00
        # met; COORD-MSCC started Friday 12:00 breached.
        tally.clock("MRI-MSCC", friday + timedelta(hours=16, minutes=30), True)
        tally.clock("MRI-MSCC", friday + timedelta(hours=17, minutes=30), False)
        tally.clock("MRI-MSCC", friday + timedelta(days=1, hours=10), True)
        tally.clock("COORD-MSCC", friday + timedelta(hours=12), False)

        figures = tally.figures(referrals)

        assert figures.referrals_by_weekday == [1, 0, 0, 0, 3, 1, 0]
        assert figures.busiest_weekday == "Friday"
        assert (figures.referrals_in_hours, figures.referrals_out_of_hours) == (2, 3)
        assert figures.referrals_by_hour[16:18] == [1, 1]
        friday_cell = figures.compliance_by_weekday[4]
        assert (friday_cell.met, friday_cell.decided, friday_cell.percent) == (1, 3, 33.3)
        assert figures.compliance_by_weekday[0].percent is None
        assert asdict(figures.compliance_in_hours) == {"met": 1, "decided": 2, "percent": 50.0}
        assert asdict(figures.compliance_out_of_hours) == {
            "met": 1,
            "decided": 2,
            "percent": 50.0,
        }
        by_clock = {c.clock_id: c for c in figures.by_clock}
        assert (by_clock["MRI-MSCC"].in_hours.met, by_clock["MRI-MSCC"].in_hours.decided) == (1, 1)
        assert by_clock["MRI-MSCC"].out_of_hours.percent == 50.0
        assert by_clock["COORD-MSCC"].in_hours.percent == 0.0

    def test_hours_are_local_in_summer_time(self) -> None:
        # 08:30 UTC on Friday 5 June 2026 is 09:30 BST: in hours.
        tally = TimeTally(LONDON)
        tally.clock("MRI-MSCC", datetime(2026, 6, 5, 8, 30, tzinfo=UTC), True)

        figures = tally.figures([datetime(2026, 6, 5, 8, 30, tzinfo=UTC)])

        assert (figures.referrals_in_hours, figures.referrals_by_hour[9]) == (1, 1)
        assert figures.compliance_in_hours.decided == 1

    def test_an_empty_period_has_no_busiest_day(self) -> None:
        figures = TimeTally(LONDON).figures([])

        assert figures.busiest_weekday is None
        assert figures.referrals_by_hour == [0] * 24

    @pytest.mark.parametrize(
        ("weekday", "hour", "expected"),
        [(0, 9, True), (4, 16, True), (4, 17, False), (0, 8, False), (5, 12, False)],
    )
    def test_in_hours(self, weekday: int, hour: int, expected: bool) -> None:
        assert in_hours(weekday, hour) is expected


def clock(
    pathway_id: str,
    clock_id: str,
    start: datetime,
    due: datetime,
    stop: datetime | None,
    status: str,
) -> ClockFact:
    return ClockFact(pathway_id, "suspected_mscc", clock_id, "hour", start, due, stop, status, None)


class TestInTheReport:
    def _report(self, explanations: list[ExplanationFact]) -> dict[str, object]:
        clocks = [
            clock("PW-1", "MRI-MSCC", T0, T0 + 24 * H, T0 + 30 * H, "breached"),
            clock("PW-2", "MRI-MSCC", T0, T0 + 24 * H, T0 + 20 * H, "met"),
            clock("PW-1", "SARC-REFER", T0, T0 + 24 * H, T0 + 2 * H, "met"),
        ]
        pathways = [
            PathwayFact(
                "PW-1",
                "suspected_mscc",
                T0,
                sarcoma_events=sarcoma((0 * H, "suspected"), (H, "biopsy")),
            ),
            PathwayFact("PW-2", "suspected_mscc", T0),
        ]
        report = build_report(
            clocks,
            pathways,
            period_start=date(2026, 11, 2),
            period_end=date(2026, 11, 8),
            as_of=T0 + 3 * D,
            timezone="Europe/London",
            explanations=explanations,
        )
        return report.as_dict()

    def test_an_explained_breach_stays_breached_in_every_figure(self) -> None:
        explanation = explained("PW-1", "MRI-MSCC", "imaging_capacity", "imaging", event_id="e1")

        plain = self._report([])
        with_reason = self._report([explanation])

        assert plain.pop("breach_reasons") != with_reason.pop("breach_reasons")
        assert plain == with_reason
        k1 = next(k for k in with_reason["kpis"] if k["id"] == "K1")  # type: ignore[attr-defined]
        assert (k1["numerator"], k1["denominator"]) == (1, 2)

    def test_k_sarc_1_is_a_headline_measure_and_version_2_clocks_are_titled(self) -> None:
        document = self._report([])

        k = next(k for k in document["kpis"] if k["id"] == "K-SARC-1")  # type: ignore[attr-defined]
        assert (k["numerator"], k["denominator"], k["target"], k["meets_target"]) == (
            0,
            1,
            1.0,
            False,
        )
        assert document["sarcoma"]["decided"] == 1  # type: ignore[index]
        rows = {c["clock_id"]: c for c in document["clocks"]}  # type: ignore[attr-defined]
        assert rows["SARC-REFER"]["title"] == V2.rule("SARC-REFER").title
        assert rows["SARC-REFER"]["source"] == "X5, X6, X7"
        assert rows["SARC-REFER"]["kpi"] == "K-SARC-2"
        # Monday 2 Nov 09:00: MRI-MSCC breached and met, SARC-REFER met: 2 of 3.
        assert document["times"]["compliance_by_weekday"][0] == {  # type: ignore[index]
            "met": 2,
            "decided": 3,
            "percent": 66.7,
        }

    def test_every_version_2_clock_has_a_title_and_source(self) -> None:
        for clock_id in ("POSTOP-RT", "SPINE-OPINION", "SARC-REFER", "SARC-REVIEW", "HAEM-REFER"):
            title, source = CLOCK_MEASURES[clock_id]
            assert (title, source) == (
                V2.rule(clock_id).title,
                ", ".join(V2.rule(clock_id).sources),
            )
