"""The cohort simulator: deterministic, test-range patients only, and every event the engine accepts."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pathway.clocks import ClockStatus
from pathway.engine import PathwayView, admit
from pathway.events import Category, PathwayEvent, ReferralReceived, parse_event
from pathway.nhs_number import normalise_nhs_number
from pathway.ruleset import PinnedRules, load_ruleset, pin_rules
from pathway.simulation import simulate_cohort
from pathway.triage import triage

START = datetime(2026, 3, 1, tzinfo=UTC)
AFTER_EVERYTHING = datetime(2027, 1, 1, tzinfo=UTC)
"""The moment of intake and of evaluation: later than every simulated event."""

RULES: PinnedRules = pin_rules(load_ruleset("nice-ng234-2023", 1), timezone="Europe/London")


def _referrals(events: list[dict[str, Any]]) -> list[ReferralReceived]:
    referrals = []
    for raw in events:
        if raw["type"] == "referral.received":
            event = parse_event(json.dumps(raw))
            assert isinstance(event, ReferralReceived)
            referrals.append(event)
    return referrals


def _by_pathway(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    pathways: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        pathways[event["pathway"]].append(event)
    return pathways


def _admit_all(events: list[dict[str, Any]], now: datetime) -> dict[str, PathwayView]:
    """Admit each pathway's events one by one in occurred_at order, as the intake would."""
    views = {}
    for reference, raws in _by_pathway(events).items():
        recorded: list[PathwayEvent] = []
        for raw in raws:
            event = parse_event(json.dumps(raw))
            views[reference] = admit(recorded, event, rules=RULES, now=now)
            recorded.append(event)
    return views


@pytest.fixture(scope="module")
def cohort() -> list[dict[str, Any]]:
    return simulate_cohort(patients=300, seed=11, start=START)


@pytest.fixture(scope="module")
def large_cohort() -> list[dict[str, Any]]:
    return simulate_cohort(patients=2000, seed=3, start=START, span_days=60)


@pytest.fixture(scope="module")
def views(cohort: list[dict[str, Any]]) -> dict[str, PathwayView]:
    return _admit_all(cohort, AFTER_EVERYTHING)


def test_same_seed_gives_the_same_cohort() -> None:
    first = simulate_cohort(patients=50, seed=42, start=START)

    second = simulate_cohort(patients=50, seed=42, start=START)

    assert json.dumps(first) == json.dumps(second)


def test_different_seeds_give_different_cohorts() -> None:
    first = simulate_cohort(patients=50, seed=1, start=START)

    second = simulate_cohort(patients=50, seed=2, start=START)

    assert [e["data"] for e in first] != [e["data"] for e in second]
    assert {e["event_id"] for e in first}.isdisjoint(e["event_id"] for e in second)


def test_every_event_has_exactly_the_envelope_fields(cohort: list[dict[str, Any]]) -> None:
    keys = {tuple(event) for event in cohort}

    assert keys == {("event_id", "pathway", "type", "occurred_at", "recorded_by", "source", "data")}
    assert all(e["occurred_at"].endswith("+00:00") for e in cohort)


def test_event_ids_are_unique_and_events_sorted_by_time(cohort: list[dict[str, Any]]) -> None:
    times = [datetime.fromisoformat(e["occurred_at"]) for e in cohort]

    assert len({e["event_id"] for e in cohort}) == len(cohort)
    assert times == sorted(times)
    assert all(re.fullmatch(r"sim-11-\d{6}-\d{2}", e["event_id"]) for e in cohort)
    assert all(re.fullmatch(r"REF-11-\d{6}", e["pathway"]) for e in cohort)


def test_every_event_parses_and_the_engine_admits_every_pathway(
    cohort: list[dict[str, Any]], views: dict[str, PathwayView]
) -> None:
    assert max(datetime.fromisoformat(e["occurred_at"]) for e in cohort) < AFTER_EVERYTHING

    assert len(views) == 300
    assert sum(len(view.milestones) for view in views.values()) == len(cohort)


def test_referrals_arrive_over_the_span(cohort: list[dict[str, Any]]) -> None:
    referred = [r.occurred_at for r in _referrals(cohort)]

    assert len(referred) == 300
    assert min(referred) >= START
    assert max(referred) <= START + timedelta(days=30)
    assert max(referred) - min(referred) > timedelta(days=25)


def test_nhs_numbers_are_valid_test_range_numbers_never_repeated(
    large_cohort: list[dict[str, Any]],
) -> None:
    numbers = [
        e["data"]["patient"]["nhs_number"]
        for e in large_cohort
        if e["type"] == "referral.received" and "nhs_number" in e["data"]["patient"]
    ]

    assert all(n.startswith("999") for n in numbers)
    assert all(normalise_nhs_number(n) == n for n in numbers)
    assert len(set(numbers)) == len(numbers)
    assert 0.95 < len(numbers) / 2000 < 0.99


def test_mrns_for_about_seven_in_ten_and_a_few_patients_have_only_an_mrn(
    large_cohort: list[dict[str, Any]],
) -> None:
    patients = [e["data"]["patient"] for e in large_cohort if e["type"] == "referral.received"]
    mrns = [p["mrn"] for p in patients if "mrn" in p]

    mrn_only = [p for p in patients if "nhs_number" not in p]

    assert all(re.fullmatch(r"MRN\d{7}", mrn) for mrn in mrns)
    assert len(mrns) / len(patients) == pytest.approx(0.70, abs=0.04)
    assert len(mrn_only) / len(patients) == pytest.approx(0.03, abs=0.015)
    assert all("mrn" in p for p in mrn_only)


def test_patients_are_35_to_90_years_old_with_invented_names(
    large_cohort: list[dict[str, Any]],
) -> None:
    referrals = _referrals(large_cohort)

    ages = [
        (r.occurred_at.date() - r.data.patient.date_of_birth) / timedelta(days=365.25)
        for r in referrals
    ]

    assert 35 <= min(ages) < 37
    assert 87 < max(ages) <= 90
    assert len({r.data.patient.family_name for r in referrals}) > 10
    assert {r.data.patient.sex for r in referrals} >= {"female", "male"}


def test_triage_categories_at_referral_have_realistic_proportions(
    large_cohort: list[dict[str, Any]],
) -> None:
    referrals = _referrals(large_cohort)

    counts = Counter(
        triage(r.data.cancer_status, r.data.pain_features, r.data.neuro_features) for r in referrals
    )

    assert counts[Category.SUSPECTED_MSCC] / 2000 == pytest.approx(0.55, abs=0.04)
    assert counts[Category.SUSPECTED_SPINAL_METASTASES] / 2000 == pytest.approx(0.35, abs=0.04)
    assert counts[Category.NEEDS_REVIEW] / 2000 == pytest.approx(0.10, abs=0.03)


def test_cancer_status_is_mostly_known_and_a_fifth_suspected(
    large_cohort: list[dict[str, Any]],
) -> None:
    counts = Counter(r.data.cancer_status.value for r in _referrals(large_cohort))

    assert counts["known"] / 2000 == pytest.approx(0.75, abs=0.04)
    assert counts["suspected"] / 2000 == pytest.approx(0.20, abs=0.04)
    assert counts["none"] / 2000 == pytest.approx(0.05, abs=0.02)


def test_about_a_quarter_of_scans_rule_metastases_out_and_nothing_follows(
    large_cohort: list[dict[str, Any]],
) -> None:
    ruled_out_at: dict[str, str] = {}
    after: list[dict[str, Any]] = []
    for event in large_cohort:
        if event["pathway"] in ruled_out_at and event["type"] != "outcome.recorded":
            after.append(event)
        if event["data"].get("finding") == "no_spinal_metastases":
            ruled_out_at[event["pathway"]] = event["occurred_at"]

    assert len(ruled_out_at) / 2000 == pytest.approx(0.25, abs=0.05)
    assert after == []


def test_ct_is_requested_with_its_contraindication_before_it_is_performed(
    large_cohort: list[dict[str, Any]],
) -> None:
    requested = {
        e["pathway"]: e["data"]
        for e in large_cohort
        if e["type"] == "imaging.requested" and e["data"]["modality"] == "ct_whole_spine"
    }
    performed = {
        e["pathway"]
        for e in large_cohort
        if e["type"] == "imaging.performed" and e["data"]["modality"] == "ct_whole_spine"
    }

    assert performed
    assert performed <= requested.keys()
    assert {d["reason"] for d in requested.values()} == {"pacemaker, MRI contraindicated"}


def test_some_clocks_breach_and_some_are_met(views: dict[str, PathwayView]) -> None:
    statuses: dict[str, Counter[ClockStatus]] = defaultdict(Counter)
    for view in views.values():
        for clock in view.clocks:
            statuses[clock.id][clock.status_at(AFTER_EVERYTHING)] += 1

    for clock_id in ("COORD-MSCC", "STEROID-MSCC", "MRI-MSCC", "PLAN-MSCC", "RT-24H"):
        assert statuses[clock_id][ClockStatus.MET] > statuses[clock_id][ClockStatus.BREACHED] > 0
    for clock_id in ("COORD-METS", "MRI-METS", "PLAN-METS", "CWT-FDS", "CWT-31", "CWT-62"):
        assert statuses[clock_id][ClockStatus.MET] > 0
    assert sum(s[ClockStatus.EXCLUDED] for s in statuses.values()) > 0


def test_pathways_close_for_every_kind_of_reason(views: dict[str, PathwayView]) -> None:
    reasons = Counter(view.closed_reason for view in views.values())

    assert set(reasons) >= {
        "treatment_completed",
        "ruled_out",
        "died",
        "declined",
        "transferred",
        "unfit_for_treatment",
    }
    assert reasons["treatment_completed"] > reasons["died"]


def test_upgrades_overrides_and_withheld_steroids_occur(cohort: list[dict[str, Any]]) -> None:
    types = Counter(e["type"] for e in cohort)
    overrides = {e["data"]["category"] for e in cohort if e["type"] == "triage.overridden"}

    assert types["neuro.deteriorated"] > 0
    assert types["steroids.withheld"] > 0
    assert types["diagnosis.communicated"] > 0
    assert types["histology.reported"] > 0
    assert overrides == {"suspected_mscc", "suspected_spinal_metastases"}
    assert {e["data"]["reason"] for e in cohort if e["type"] == "steroids.withheld"} == {
        "suspected lymphoma"
    }


def test_the_horizon_drops_later_events_and_leaves_clocks_running() -> None:
    horizon = START + timedelta(days=20, hours=7, minutes=30)
    everything = simulate_cohort(patients=200, seed=5, start=START)

    seen = simulate_cohort(patients=200, seed=5, start=START, horizon=horizon)
    views = _admit_all(seen, horizon)

    assert seen == [e for e in everything if datetime.fromisoformat(e["occurred_at"]) <= horizon]
    assert len(seen) < len(everything)
    clocks = [clock for view in views.values() for clock in view.clocks]
    assert any(clock.status_at(horizon) is ClockStatus.RUNNING for clock in clocks)
    assert any(view.status == "open" for view in views.values())


def test_referrals_after_the_horizon_are_not_simulated_at_all() -> None:
    horizon = START - timedelta(minutes=1)

    assert simulate_cohort(patients=20, seed=5, start=START, horizon=horizon) == []


def test_start_with_seconds_still_gives_whole_minutes_never_before_start() -> None:
    start = datetime(2026, 3, 1, 8, 0, 30, 500, tzinfo=UTC)

    events = simulate_cohort(patients=30, seed=9, start=start, span_days=1)

    assert min(datetime.fromisoformat(e["occurred_at"]) for e in events) >= start
    assert all(datetime.fromisoformat(e["occurred_at"]).second == 0 for e in events)


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        simulate_cohort(patients=1, seed=1, start=datetime(2026, 3, 1))  # noqa: DTZ001


def test_a_negative_cohort_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        simulate_cohort(patients=-1, seed=1, start=START)


@pytest.mark.slow
def test_ten_thousand_patients_give_about_a_hundred_thousand_events() -> None:
    events = simulate_cohort(patients=10_000, seed=1, start=START, span_days=120)

    assert 80_000 < len(events) < 130_000
    assert len({e["event_id"] for e in events}) == len(events)
    assert sum(e["type"] == "referral.received" for e in events) == 10_000


RULES_2: PinnedRules = pin_rules(load_ruleset("nice-ng234-2023", 2), timezone="Europe/London")


def test_a_version_2_cohort_is_accepted_by_version_2_and_runs_its_new_clocks() -> None:
    events = simulate_cohort(patients=600, seed=12, start=START, version=2)
    statuses: Counter[tuple[str, ClockStatus]] = Counter()
    safety = 0
    for raws in _by_pathway(events).values():
        recorded: list[PathwayEvent] = []
        view = None
        for raw in raws:
            event = parse_event(json.dumps(raw))
            view = admit(recorded, event, rules=RULES_2, now=AFTER_EVERYTHING)
            recorded.append(event)
        assert view is not None
        safety += len(view.safety)
        statuses.update((clock.id, clock.status_at(AFTER_EVERYTHING)) for clock in view.clocks)
    findings = Counter(e["data"].get("finding") for e in events if e["type"] == "imaging.reported")
    assert "no_spinal_metastases" not in findings
    assert findings["no_malignant_spinal_lesion"] > 0
    assert findings["suspected_primary_bone_tumour"] > 0
    assert findings["suspected_haematological_malignancy"] > 0
    for clock_id in ("SARC-REFER", "SARC-REVIEW", "HAEM-REFER", "SPINE-OPINION", "POSTOP-RT"):
        assert statuses[clock_id, ClockStatus.MET] > 0, clock_id
    assert statuses["SARC-REFER", ClockStatus.BREACHED] > 0
    assert safety > 0, "some primary tumours are biopsied locally before the centre's review"
    assert any(e["type"] == "breach.explained" for e in events)


def test_version_1_cohorts_do_not_change_with_the_version_2_simulation() -> None:
    assert simulate_cohort(patients=50, seed=3, start=START) == simulate_cohort(
        patients=50, seed=3, start=START, version=1
    )
    with pytest.raises(ValueError, match="version 3"):
        simulate_cohort(patients=1, seed=3, start=START, version=3)
