"""The clock table as data: the shipped ruleset, its validation, local SLAs and pinning."""

from __future__ import annotations

import importlib.resources
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from pathway.errors import RulesetError
from pathway.ruleset import (
    DEFAULT_RULESET,
    EffectiveClock,
    Limit,
    PinnedRules,
    Ruleset,
    available_rulesets,
    load_ruleset,
    parse_ruleset,
    pin_rules,
    rules_from_json,
)
from tests.factories import RULES, T0, H, clocks_at, mscc_referral, view_of

VERSION_1 = ("nice-ng234-2023", 1)
"""The version this file's limits and texts describe (pathway-spec.md sections 5-8)."""

M = timedelta(minutes=1)

SHIPPED = (
    importlib.resources.files("pathway.rulesets").joinpath("nice-ng234-2023.v1.yaml").read_text()
)


def _shipped_data() -> dict[str, Any]:
    data = yaml.safe_load(SHIPPED)
    assert isinstance(data, dict)
    return data


def _clock(data: dict[str, Any], clock_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in data["clocks"] if c["id"] == clock_id)
    return found


@pytest.mark.parametrize(
    ("clock_id", "limit", "kind", "local"),
    [
        pytest.param("COORD-MSCC", "1 h", "hour", True, id="COORD-MSCC"),
        pytest.param("COORD-METS", "24 h", "hour", False, id="COORD-METS"),
        pytest.param("STEROID-MSCC", "4 h", "hour", True, id="STEROID-MSCC"),
        pytest.param("MRI-MSCC", "24 h", "hour", False, id="MRI-MSCC"),
        pytest.param("MRI-METS", "7 days", "day", False, id="MRI-METS"),
        pytest.param("PLAN-METS", "7 days", "day", False, id="PLAN-METS"),
        pytest.param("PLAN-MSCC", "24 h", "hour", True, id="PLAN-MSCC"),
        pytest.param("RT-24H", "24 h", "hour", False, id="RT-24H"),
        pytest.param("SURGERY", "24 h", "hour", True, id="SURGERY"),
        pytest.param("CWT-FDS", "28 days", "day", False, id="CWT-FDS"),
        pytest.param("CWT-31", "31 days", "day", False, id="CWT-31"),
        pytest.param("CWT-62", "62 days", "day", False, id="CWT-62"),
    ],
)
def test_the_shipped_ruleset_has_the_limits_of_the_spec(
    clock_id: str, limit: str, kind: str, local: bool
) -> None:
    rule = load_ruleset(*VERSION_1).rule(clock_id)

    assert rule.limit.describe() == limit
    assert rule.kind == kind
    assert rule.local is local


def test_the_shipped_ruleset_loads_with_twelve_clocks_and_default_warnings() -> None:
    ruleset = load_ruleset("nice-ng234-2023", 1)

    assert (ruleset.id, ruleset.version) == VERSION_1
    assert len(ruleset.clocks) == 12
    assert ruleset.warning_fractions == (0.5, 0.75)


def test_the_shipped_ruleset_is_listed_as_available() -> None:
    assert DEFAULT_RULESET in available_rulesets()
    assert VERSION_1 in available_rulesets()


def test_new_pathways_default_to_version_2() -> None:
    # Section 9: new pathways pin version 2; version 1 stays shipped for the pathways pinned to it.
    assert DEFAULT_RULESET == ("nice-ng234-2023", 2)


def test_an_unknown_ruleset_version_is_refused() -> None:
    with pytest.raises(RulesetError, match="no ruleset"):
        load_ruleset("nice-ng234-2023", 99)


def test_a_ruleset_file_declaring_another_version_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "mislabelled.v1.yaml").write_text(SHIPPED, encoding="utf-8")
    (tmp_path / "README.txt").write_text("not a ruleset", encoding="utf-8")
    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path)

    with pytest.raises(RulesetError, match="declares nice-ng234-2023 version 1"):
        load_ruleset("mislabelled", 1)
    assert available_rulesets() == [("mislabelled", 1)]


def test_an_unknown_clock_id_is_a_ruleset_error() -> None:
    with pytest.raises(RulesetError, match="unknown clock id"):
        RULES.ruleset.rule("MRI-EVENTUALLY")


def _broken(mutate: str) -> str:
    data = _shipped_data()
    if mutate == "duplicate ids":
        data["clocks"].append(dict(_clock(data, "MRI-MSCC")))
    elif mutate == "hours and days":
        _clock(data, "MRI-METS")["limit"] = {"hours": 168, "days": 7}
    elif mutate == "neither hours nor days":
        _clock(data, "MRI-METS")["limit"] = {}
    elif mutate == "negative limit":
        _clock(data, "MRI-MSCC")["limit"] = {"hours": -24}
    elif mutate == "local without bounds":
        del _clock(data, "COORD-MSCC")["local_bounds_hours"]
    elif mutate == "category start without a category":
        _clock(data, "COORD-MSCC")["start"] = {"at": "category"}
    elif mutate == "referral start without a cancer_status":
        _clock(data, "CWT-62")["start"] = {"at": "referral"}
    elif mutate == "event start without an event":
        _clock(data, "RT-24H")["start"] = {"at": "event"}
    elif mutate == "unknown key":
        _clock(data, "RT-24H")["pause_on"] = ["holiday"]
    elif mutate == "warnings out of order":
        data["warning_fractions"] = [0.75, 0.5]
    elif mutate == "warning at 100 %":
        data["warning_fractions"] = [0.5, 1.0]
    elif mutate == "no warnings":
        data["warning_fractions"] = []
    text = yaml.safe_dump(data)
    assert isinstance(text, str)
    return text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("clocks: [unclosed", id="broken YAML"),
        pytest.param("- just\n- a list\n", id="not a mapping"),
        pytest.param("", id="empty file"),
        *(
            pytest.param(_broken(mutation), id=mutation)
            for mutation in (
                "duplicate ids",
                "hours and days",
                "neither hours nor days",
                "negative limit",
                "local without bounds",
                "category start without a category",
                "referral start without a cancer_status",
                "event start without an event",
                "unknown key",
                "warnings out of order",
                "warning at 100 %",
                "no warnings",
            )
        ),
    ],
)
def test_an_invalid_ruleset_is_a_ruleset_error(text: str) -> None:
    with pytest.raises(RulesetError, match="invalid ruleset"):
        parse_ruleset(text)


def test_the_shipped_text_parses_to_the_loaded_ruleset() -> None:
    assert parse_ruleset(SHIPPED) == load_ruleset(*VERSION_1)


@pytest.mark.parametrize(
    ("limit", "described", "kind"),
    [
        pytest.param(Limit(hours=1), "1 h", "hour", id="whole hours"),
        pytest.param(Limit(hours=0.5), "0.5 h", "hour", id="fraction of an hour"),
        pytest.param(Limit(days=7), "7 days", "day", id="days"),
    ],
)
def test_a_limit_describes_itself(limit: Limit, described: str, kind: str) -> None:
    assert limit.describe() == described
    assert limit.kind == kind


def test_a_day_clock_has_no_duration_in_hours() -> None:
    clock = next(c for c in RULES.clocks() if c.id == "MRI-METS")

    with pytest.raises(RulesetError, match="day clock"):
        _ = clock.duration


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"COORD-MSCC": 2.0}, id="COORD-MSCC 2 h"),
        pytest.param({"COORD-MSCC": 0.25}, id="COORD-MSCC at the lower bound"),
        pytest.param({"STEROID-MSCC": 72.0}, id="STEROID-MSCC at the upper bound"),
        pytest.param({"PLAN-MSCC": 48.0, "SURGERY": 12.0}, id="PLAN-MSCC and SURGERY"),
    ],
)
def test_a_local_sla_within_its_bounds_is_pinned(overrides: dict[str, float]) -> None:
    rules = pin_rules(RULES.ruleset, timezone="Europe/London", local_sla_hours=overrides)

    effective = {c.id: c for c in rules.clocks()}
    for clock_id, hours in overrides.items():
        assert effective[clock_id].limit == Limit(hours=hours)
        assert effective[clock_id].overridden
    assert not effective["MRI-MSCC"].overridden


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"MRI-MSCC": 48.0}, "national limit", id="MRI-MSCC is national"),
        pytest.param({"RT-24H": 12.0}, "national limit", id="RT-24H is national"),
        pytest.param({"CWT-62": 24.0}, "national limit", id="CWT-62 is national"),
        pytest.param({"COORD-MSCC": 0.1}, "between 0.25 and 72", id="below the bounds"),
        pytest.param({"STEROID-MSCC": 73.0}, "between 0.25 and 72", id="above the bounds"),
        pytest.param({"MRI-WHENEVER": 1.0}, "unknown clock id", id="unknown clock"),
    ],
)
def test_a_local_sla_is_refused_for_national_clocks_and_out_of_bounds(
    overrides: dict[str, float], message: str
) -> None:
    with pytest.raises(RulesetError, match=message):
        pin_rules(RULES.ruleset, timezone="Europe/London", local_sla_hours=overrides)


@pytest.mark.parametrize("zone", ["Europe/Lundun", "", "/etc/localtime", "../etc"])
def test_an_unknown_time_zone_is_refused(zone: str) -> None:
    with pytest.raises(RulesetError, match="unknown time zone"):
        pin_rules(RULES.ruleset, timezone=zone)


def test_a_local_sla_moves_the_due_time_of_coord_mscc() -> None:
    local = pin_rules(RULES.ruleset, timezone="Europe/London", local_sla_hours={"COORD-MSCC": 2})

    national = clocks_at([mscc_referral()], T0 + 10 * M, rules=RULES)
    changed = clocks_at([mscc_referral()], T0 + 10 * M, rules=local)

    assert national["COORD-MSCC"].due_at == T0 + H
    assert changed["COORD-MSCC"].due_at == T0 + 2 * H
    assert changed["MRI-MSCC"] == national["MRI-MSCC"]


def test_a_local_sla_shows_on_the_clock_as_local() -> None:
    local = pin_rules(RULES.ruleset, timezone="Europe/London", local_sla_hours={"COORD-MSCC": 2})
    view = view_of([mscc_referral()], local)

    coord = next(c for c in view.clocks if c.id == "COORD-MSCC")
    mri = next(c for c in view.clocks if c.id == "MRI-MSCC")

    assert (coord.limit, coord.local) == ("2 h", True)
    assert (mri.limit, mri.local) == ("24 h", False)


@pytest.mark.parametrize(
    "rules",
    [
        pytest.param(RULES, id="national limits"),
        pytest.param(
            pin_rules(
                load_ruleset(*VERSION_1),
                timezone="Europe/Dublin",
                local_sla_hours={"COORD-MSCC": 0.5, "SURGERY": 48.0},
            ),
            id="local SLAs and another zone",
        ),
    ],
)
def test_pinned_rules_round_trip_through_json(rules: PinnedRules) -> None:
    stored = rules.to_json()

    rebuilt = rules_from_json(stored)

    assert rebuilt == rules
    assert hash(rebuilt) == hash(rules)
    assert rebuilt.clocks() == rules.clocks()
    assert rebuilt.to_json() == stored
    assert rebuilt.label == "nice-ng234-2023.v1"
    assert str(rebuilt.zone) == rules.timezone


def test_an_integer_local_sla_round_trips_to_the_same_json() -> None:
    rules = pin_rules(RULES.ruleset, timezone="Europe/London", local_sla_hours={"SURGERY": 48})

    rebuilt = rules_from_json(rules.to_json())

    assert rebuilt.to_json() == rules.to_json()
    assert hash(rebuilt) == hash(rules)


def test_pinned_rules_are_a_snapshot_of_the_overrides() -> None:
    overrides = {"COORD-MSCC": 2.0}
    rules = pin_rules(RULES.ruleset, timezone="Europe/London", local_sla_hours=overrides)

    overrides["COORD-MSCC"] = 3.0

    assert rules.local_sla_hours == {"COORD-MSCC": 2.0}


def test_effective_clocks_follow_the_ruleset_order() -> None:
    clocks = RULES.clocks()

    assert [c.id for c in clocks] == [r.id for r in RULES.ruleset.clocks]
    assert all(c.kind == c.rule.kind for c in clocks)
    assert all(isinstance(c, EffectiveClock) for c in clocks)
    assert isinstance(RULES.ruleset, Ruleset)
