"""Which breaches still wait for their reason (pathway/breaches.py, pathway-spec.md 9.1, 9.4).

A breached clock instance is unexplained until a primary ``breach.explained`` names its clock;
the explanation never changes the clock. Version 1 has no ``breach.explained``, so it never
asks for a reason.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from pathway.breaches import (
    BREACH_REASON_WORDS,
    BREACH_STAGE_WORDS,
    current_primary,
    explains_breaches,
    explanations,
    reasons_by_roll_up,
    unexplained_breaches,
)
from pathway.clocks import ClockStatus
from pathway.engine import evaluate
from pathway.events import BreachReason, BreachStage, PathwayEvent
from pathway.letter_context import PathwayFacts, letter_context
from pathway.letters import LetterRequest, Recipient
from tests.conftest import NOW
from tests.factories import (
    RULES,
    RULES_V2,
    T0,
    H,
    breach_explained,
    closed,
    coordinator_contacted,
    imaging_performed,
    mscc_referral,
    steroids_started,
)
from tests.letters.canonical import LETTERHEAD


def _late_mri(*more: PathwayEvent) -> list[PathwayEvent]:
    """Coordinator and steroids on time, MRI-MSCC stopped 6 h late."""
    return [
        mscc_referral(),
        coordinator_contacted(T0 + H / 2),
        steroids_started(T0 + H),
        imaging_performed(T0 + 30 * H),
        *more,
    ]


def _unexplained(events: list[PathwayEvent], at: datetime = NOW) -> list[str]:
    return [c.id for c in unexplained_breaches(evaluate(events, RULES_V2), RULES_V2, at)]


def test_a_breached_clock_waits_for_its_reason() -> None:
    assert _unexplained(_late_mri()) == ["MRI-MSCC"]


def test_a_primary_explanation_takes_the_breach_off_and_the_clock_stays_breached() -> None:
    events = _late_mri(breach_explained(T0 + 31 * H, "MRI-MSCC"))

    view = evaluate(events, RULES_V2)

    assert _unexplained(events) == []
    assert next(c for c in view.clocks if c.id == "MRI-MSCC").status_at(NOW) is ClockStatus.BREACHED
    assert view.clocks == evaluate(_late_mri(), RULES_V2).clocks


def test_a_contributing_reason_alone_leaves_the_breach_unexplained() -> None:
    events = _late_mri(breach_explained(T0 + 31 * H, "MRI-MSCC", primary=False))

    assert _unexplained(events) == ["MRI-MSCC"]


def test_a_clock_still_running_past_its_due_time_is_unexplained_from_its_due_time() -> None:
    events = [mscc_referral(), steroids_started(T0 + H)]

    assert _unexplained(events, T0 + H / 2) == []
    assert _unexplained(events, T0 + 2 * H) == ["COORD-MSCC"]
    assert _unexplained(events, T0 + 25 * H) == ["COORD-MSCC", "MRI-MSCC"]


def test_the_breaches_of_a_closed_pathway_still_wait_for_their_reason() -> None:
    """``breach.explained`` is accepted after closing: the breach stays on the list."""
    events = _late_mri(closed(T0 + 40 * H))

    assert _unexplained(events) == ["MRI-MSCC"]


def test_an_explanation_recorded_after_the_moment_asked_about_does_not_count_yet() -> None:
    view = evaluate(_late_mri(breach_explained(T0 + 40 * H, "MRI-MSCC")), RULES_V2)

    assert [c.id for c in unexplained_breaches(view, RULES_V2, T0 + 35 * H)] == ["MRI-MSCC"]


def test_version_1_never_asks_for_a_reason() -> None:
    view = evaluate(_late_mri(), RULES)

    assert not explains_breaches(RULES)
    assert explains_breaches(RULES_V2)
    assert unexplained_breaches(view, RULES, NOW) == ()


def test_explanations_are_in_clinical_order_and_a_superseded_one_is_marked() -> None:
    events = _late_mri(
        breach_explained(T0 + 31 * H, "MRI-MSCC", event_id="why-1"),
        breach_explained(
            T0 + 32 * H, "MRI-MSCC", "other", event_id="why-2", supersedes="why-1", comment="x"
        ),
        breach_explained(T0 + 33 * H, "MRI-MSCC", "administrative_delay", primary=False),
    )

    view = evaluate(events, RULES_V2)
    found = explanations(view)

    assert [(e.event_id[:5], e.superseded_by, e.primary) for e in found] == [
        ("why-1", "why-2", True),
        ("why-2", None, True),
        ("breac", None, False),
    ]
    assert found[1].reason is BreachReason.OTHER
    assert found[1].stage is BreachStage.IMAGING
    assert found[1].comment == "x"
    assert current_primary(view, "MRI-MSCC") == "why-2"
    assert current_primary(view, "COORD-MSCC") is None


def test_every_reason_and_stage_has_words_and_a_group() -> None:
    assert set(BREACH_REASON_WORDS) == set(BreachReason)
    assert set(BREACH_STAGE_WORDS) == set(BreachStage)
    grouped = reasons_by_roll_up()
    assert list(grouped) == ["patient", "clinical", "capacity", "process", "external", "other"]
    assert sorted(code for codes in grouped.values() for code in codes) == sorted(BreachReason)


@pytest.mark.parametrize(
    ("rules", "offered"), [(RULES, False), (RULES_V2, True)], ids=["version 1", "version 2"]
)
def test_the_breach_report_offers_breach_explained_only_on_version_2(
    rules: object, offered: bool
) -> None:
    from pathway.ruleset import PinnedRules

    assert isinstance(rules, PinnedRules)
    events = _late_mri(breach_explained(T0 + 31 * H, "MRI-MSCC")) if offered else _late_mri()
    facts = PathwayFacts("PW-UNIT01", tuple(events), rules)
    request = LetterRequest(
        "breach_report", Recipient.SERVICE_LEAD, clock_id="MRI-MSCC", clock_starts_at=T0
    )

    context = letter_context(request, facts, letterhead=LETTERHEAD, produced_at=NOW)

    if not offered:
        assert context["explain"] is None
        return
    explain = context["explain"]
    assert explain["command"].startswith("cordwatch record PW-UNIT01 breach.explained --at TIME")
    assert "--data clock=MRI-MSCC" in explain["command"]
    assert explain["deployment"] == "explain-breach"
    assert explain["explained"] is True
    assert [e["reason"] for e in explain["recorded"]] == ["imaging_capacity"]
    assert explain["recorded"][0]["recorded_by"] == "test"
