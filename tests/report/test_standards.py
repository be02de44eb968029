"""The report's percentage targets are the ruleset's ``target_percent`` (one source of truth)."""

from __future__ import annotations

import importlib.resources

from pathway.report import STANDARDS, standards_from
from pathway.ruleset import DEFAULT_RULESET, load_ruleset, parse_ruleset

SHIPPED = (
    importlib.resources.files("pathway.rulesets").joinpath("nice-ng234-2023.v1.yaml").read_text()
)


def test_every_target_in_the_ruleset_is_the_reports_target() -> None:
    ruleset = load_ruleset(*DEFAULT_RULESET)
    in_ruleset = {
        rule.id: rule.target_percent / 100
        for rule in ruleset.clocks
        if rule.target_percent is not None
    }

    assert {clock_id: STANDARDS[clock_id].target for clock_id in in_ruleset} == in_ruleset
    # The clocks without one set no percentage in the report either.
    assert {c for c, s in STANDARDS.items() if s.target is not None} == set(in_ruleset)


def test_the_faster_diagnosis_standard_is_checked_against_80_percent() -> None:
    # W1, W3, K17: 75 % rising to 80 % from March 2026; 31 and 62 days: 96 % and 85 %.
    targets = {c: STANDARDS[c].target for c in ("CWT-FDS", "CWT-31", "CWT-62")}

    assert targets == {"CWT-FDS": 0.80, "CWT-31": 0.96, "CWT-62": 0.85}
    assert load_ruleset(*DEFAULT_RULESET).rule("CWT-FDS").target_percent == 80


def test_a_target_changed_in_a_ruleset_changes_the_report() -> None:
    assert SHIPPED.count("target_percent: 80") == 1
    edited = parse_ruleset(SHIPPED.replace("target_percent: 80", "target_percent: 75"))

    standards = standards_from(edited)

    assert standards["CWT-FDS"].target == 0.75
    assert {c: s.kpi for c, s in standards.items()} == {c: s.kpi for c, s in STANDARDS.items()}
