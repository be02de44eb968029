"""The what-if replay (pathway-spec.md 9.6): a pathway's events under another ruleset version."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pathway.alerts import AlertLevel
from pathway.events import PathwayEvent
from pathway.report import PathwayFact
from pathway.ruleset import load_ruleset, pin_rules, repin
from pathway.whatif import (
    ClockChange,
    StoredPathway,
    alerts_owed,
    compare_clocks,
    replay,
    what_if,
)
from tests.factories import (
    RULES,
    RULES_V2,
    T0,
    D,
    H,
    breach_explained,
    imaging_performed,
    imaging_reported,
    mdt_decided,
    mdt_listed,
    mscc_referral,
    referral,
    treatment_started,
    view_of,
)

V1 = load_ruleset("nice-ng234-2023", 1)
V2 = load_ruleset("nice-ng234-2023", 2)
DECIDED = T0 + 6 * H
AS_OF = T0 + 3 * D
BEGIN = datetime(2026, 11, 2, tzinfo=UTC)
END = datetime(2026, 11, 3, tzinfo=UTC)


def _surgery_then_rt() -> list[PathwayEvent]:
    """An mscc report and a plan of surgery then radiotherapy, no treatment yet: RT-24H breaches
    under version 1 and does not exist under version 2 (9.2)."""
    return [
        mscc_referral(),
        imaging_performed(T0 + 2 * H),
        imaging_reported(T0 + 4 * H, "mscc"),
        mdt_listed(T0 + 5 * H),
        mdt_decided(DECIDED, "surgery_then_radiotherapy"),
    ]


def _metastases_report() -> list[PathwayEvent]:
    """A version-1 report of spinal metastases: version 2 requires ``cord_compression``."""
    return [
        mscc_referral(),
        imaging_performed(T0 + 2 * H),
        imaging_reported(T0 + 4 * H, "spinal_metastases"),
    ]


def _ruled_out() -> list[PathwayEvent]:
    return [
        mscc_referral(),
        imaging_performed(T0 + 2 * H),
        imaging_reported(T0 + 4 * H, "no_spinal_metastases"),
    ]


def test_rt_24h_of_surgery_then_radiotherapy_exists_only_under_version_1() -> None:
    events = _surgery_then_rt()

    pinned = replay("PW-AAAAAA", events, RULES, as_of=AS_OF)
    candidate = replay("PW-AAAAAA", events, RULES_V2, as_of=AS_OF)
    changes = compare_clocks(
        "PW-AAAAAA",
        pinned.view.clocks if pinned.view else (),
        candidate.view.clocks if candidate.view else (),
        as_of=AS_OF,
    )

    assert changes == [ClockChange("PW-AAAAAA", "RT-24H", "breached", None, DECIDED, None)]
    assert candidate.refused == ()


def test_a_version_1_finding_version_2_refuses_is_listed_and_the_replay_goes_on() -> None:
    events = [*_ruled_out(), mdt_decided(T0 + 5 * H)]

    result = replay("PW-BBBBBB", events, RULES_V2, as_of=AS_OF)

    assert [(r.event_type, r.field) for r in result.refused] == [
        ("imaging.reported", "data.finding")
    ]
    assert result.view is not None
    assert result.view.status == "open"


def test_a_pathway_referred_after_the_moment_looked_at_does_not_exist_yet() -> None:
    result = replay("PW-CCCCCC", [referral(at=AS_OF + D)], RULES, as_of=AS_OF)

    assert (result.view, result.refused, result.letters) == (None, (), {})


def test_a_metastases_report_without_compression_is_refused_by_version_2() -> None:
    result = replay("PW-DDDDDD", _metastases_report(), RULES_V2, as_of=AS_OF)

    assert [(r.field, r.reason) for r in result.refused] == [
        ("data.cord_compression", "required when the finding is spinal_metastases")
    ]
    assert "imaging_outcome" not in result.letters.values()


def test_plan_mets_exists_only_under_version_2_when_the_report_has_compression_false() -> None:
    events = [
        mscc_referral(),
        imaging_performed(T0 + 2 * H),
        imaging_reported(T0 + 4 * H, "spinal_metastases", cord_compression=False),
    ]

    pinned = replay("PW-EEEEEE", events, RULES_V2, as_of=AS_OF)
    candidate = replay("PW-EEEEEE", events, RULES, as_of=AS_OF)
    changes = compare_clocks(
        "PW-EEEEEE",
        pinned.view.clocks if pinned.view else (),
        candidate.view.clocks if candidate.view else (),
        as_of=AS_OF,
    )

    assert [(c.clock_id, c.pinned, c.candidate) for c in changes] == [
        ("PLAN-METS", "running", None)
    ]
    assert [r.field for r in candidate.refused] == ["data.cord_compression"]


def test_events_after_the_moment_looked_at_are_not_yet_known() -> None:
    events = [*_surgery_then_rt(), treatment_started(AS_OF + H, "surgery")]

    result = replay("PW-FFFFFF", events, RULES, as_of=AS_OF)

    assert result.view is not None
    assert "treatment.started" not in {m.type for m in result.view.milestones}


def test_alerts_owed_are_the_warnings_passed_and_the_breach() -> None:
    clock = next(c for c in view_of(_surgery_then_rt()).clocks if c.id == "RT-24H")

    owed = alerts_owed(clock, as_of=AS_OF)
    early = alerts_owed(clock, as_of=DECIDED + H)
    before = alerts_owed(clock, as_of=DECIDED - H)

    assert sorted((d.level, d.step) for d in owed) == [
        (AlertLevel.AT_RISK, 1),
        (AlertLevel.AT_RISK, 2),
        (AlertLevel.BREACH, 1),
    ]
    assert early == []
    assert before == []


def test_a_restarted_clock_is_compared_rank_by_rank() -> None:
    clocks = view_of(_surgery_then_rt()).clocks

    extra = compare_clocks("PW-GGGGGG", clocks, (), as_of=AS_OF)
    later = compare_clocks("PW-GGGGGG", clocks, clocks, as_of=T0 - H)

    assert {c.clock_id for c in extra} == {c.id for c in clocks}
    assert later == []


def test_repin_keeps_the_zone_and_the_local_values_the_candidate_allows() -> None:
    pinned = pin_rules(
        V2, timezone="Europe/Paris", local_sla_hours={"COORD-MSCC": 2, "POSTOP-RT": 21 * 24}
    )

    rules, dropped = repin(pinned, V1)

    assert (rules.label, rules.timezone) == ("nice-ng234-2023.v1", "Europe/Paris")
    assert rules.local_sla_hours == {"COORD-MSCC": 2.0}
    assert list(dropped) == ["POSTOP-RT"]


def test_what_if_over_a_small_cohort() -> None:
    cohort = [
        StoredPathway("PW-AAAAAA", RULES, _surgery_then_rt()),
        StoredPathway("PW-BBBBBB", RULES, _ruled_out()),
        StoredPathway(
            "PW-CCCCCC",
            pin_rules(V2, timezone="Europe/London", local_sla_hours={"POSTOP-RT": 21 * 24}),
            _surgery_then_rt(),
        ),
        StoredPathway("PW-DDDDDD", RULES, [referral(at=AS_OF + D)]),
    ]
    facts = [PathwayFact(p.pathway_id, "suspected_mscc", T0) for p in cohort]

    result = what_if(
        cohort,
        facts,
        candidate=V2,
        period_start=date(2026, 11, 2),
        period_end=date(2026, 11, 2),
        begin=BEGIN,
        end=END,
        as_of=AS_OF,
        timezone="Europe/London",
    )
    document = result.as_dict()

    assert [(c.pathway_id, c.clock_id, c.pinned, c.candidate) for c in result.changes] == [
        ("PW-AAAAAA", "RT-24H", "breached", None),
        # Ruled out under version 1 (STEROID-MSCC excluded by the closing); under version 2
        # the report is refused, the pathway stays open and the clock runs late.
        ("PW-BBBBBB", "STEROID-MSCC", "excluded", "breached"),
    ]
    assert [(r.pathway_id, r.field) for r in result.refused] == [("PW-BBBBBB", "data.finding")]
    assert result.pinned_versions == {"nice-ng234-2023.v1": 3, "nice-ng234-2023.v2": 1}
    assert result.only_pinned.alerts == {"RT-24H at_risk": 2, "RT-24H breach": 1}
    assert result.only_pinned.letters == {"breach_report": 1, "imaging_outcome": 2}
    assert result.only_candidate.alerts == {"STEROID-MSCC breach": 1}
    assert result.only_candidate.letters == {"breach_report": 1}
    rt = next(h for h in result.headline if h.id == "K4")
    assert (rt.pinned_of, rt.candidate_of) == ((0, 1), (0, 0))
    assert document["changed_clocks"][0]["pinned_starts_at"] == DECIDED.isoformat()
    assert document["would_be_refused"][0]["pathway_id"] == "PW-BBBBBB"


def test_breach_explanations_count_in_both_reports_and_k_sarc_1_is_side_by_side() -> None:
    # A version-2 pathway whose MRI (due in 24 h) is done at 30 h, explained as imaging
    # capacity: each side's report counts the breach by that reason, and still as breached.
    events = [
        mscc_referral(),
        imaging_performed(T0 + 30 * H),
        breach_explained(T0 + 31 * H, "MRI-MSCC"),
    ]
    cohort = [StoredPathway("PW-EEEEEE", RULES_V2, events)]

    result = what_if(
        cohort,
        [PathwayFact("PW-EEEEEE", "suspected_mscc", T0)],
        candidate=V2,
        period_start=date(2026, 11, 2),
        period_end=date(2026, 11, 2),
        begin=BEGIN,
        end=END,
        as_of=AS_OF,
        timezone="Europe/London",
    )

    for report in (result.report_pinned, result.report_candidate):
        mri = next(r for r in report.breach_reasons if r.clock_id == "MRI-MSCC")
        assert (mri.breached, mri.by_reason) == (1, {"imaging_capacity": 1})
        k1 = next(k for k in report.kpis if k.id == "K1")
        assert (k1.numerator, k1.denominator) == (0, 1)
    assert [h.id for h in result.headline][-1] == "K-SARC-1"
