"""Decisions about the outside world made in the core: alerts owed, safe details, effects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

import pathway.effects
from pathway.alerts import AlertDue, AlertLevel, alert_key, alerts_due
from pathway.display import safe_details
from pathway.effects import effects_of_event
from pathway.engine import PathwayView
from pathway.events import PathwayEvent
from pathway.outbox import Effect, IntakeMoment
from pathway.ruleset import ClockKind
from tests.factories import T0, H, S, mscc_referral, view_of

DUE = T0 + 24 * H
WARNINGS = (T0 + 12 * H, T0 + 18 * H)


def _owed(at: datetime, *, kind: ClockKind = "hour", running: bool = True) -> list[AlertDue]:
    return alerts_due(
        kind=kind,
        due_at=DUE,
        warnings=WARNINGS,
        running=running,
        at=at,
    )


@pytest.mark.parametrize(
    ("at", "kind", "owed"),
    [
        pytest.param(T0 + H, "hour", [], id="early: nothing"),
        pytest.param(
            T0 + 12 * H,
            "hour",
            [AlertDue(AlertLevel.AT_RISK, 1, T0 + 12 * H)],
            id="50 %: first at-risk",
        ),
        pytest.param(
            T0 + 20 * H,
            "hour",
            [AlertDue(AlertLevel.AT_RISK, 2, T0 + 18 * H)],
            id="75 %: the second at-risk alert only",
        ),
        pytest.param(
            DUE,
            "hour",
            [AlertDue(AlertLevel.AT_RISK, 2, T0 + 18 * H)],
            id="hour clock at due_at: not yet a breach",
        ),
        pytest.param(
            DUE + S,
            "hour",
            [AlertDue(AlertLevel.BREACH, 1, DUE)],
            id="hour clock past due_at: breach only",
        ),
        pytest.param(
            DUE, "day", [AlertDue(AlertLevel.BREACH, 1, DUE)], id="day clock at due_at: breach"
        ),
    ],
)
def test_a_running_clock_owes_at_risk_then_breach_alerts(
    at: datetime, kind: ClockKind, owed: list[AlertDue]
) -> None:
    assert _owed(at, kind=kind) == owed


def test_a_stopped_clock_owes_nothing() -> None:
    assert _owed(DUE + 10 * H, running=False) == []


def test_the_alert_key_is_stable_for_one_clock_level_and_step() -> None:
    due = AlertDue(AlertLevel.BREACH, 1, DUE)

    key = alert_key("PW-7", "MRI-MSCC", T0, due)

    assert key == "alert:PW-7:MRI-MSCC:20261102T090000Z:breach:1"
    assert key == alert_key("PW-7", "MRI-MSCC", T0, AlertDue(AlertLevel.BREACH, 1, DUE + H))
    assert key != alert_key("PW-7", "MRI-MSCC", T0 + H, due)


def test_safe_details_keep_coded_facts_and_drop_free_text_and_blanks() -> None:
    details: dict[str, Any] = {
        "modality": "mri_whole_spine",
        "reason": "patient said her neighbour Mrs Smith drove her",
        "coordinator": "Jane Doe",
        "neuro_features": [],
        "levels": "T4-T6",
        "bilsky_grade": None,
        "dose_mg": 16.0,
    }

    assert safe_details("imaging.requested", details) == {
        "modality": "mri_whole_spine",
        "dose_mg": 16.0,
    }


def test_safe_details_keep_the_coded_closing_reason() -> None:
    assert safe_details("pathway.closed", {"reason": "died"}) == {"reason": "died"}
    assert safe_details("pathway.closed", {}) == {}


def test_effects_come_from_every_rule_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    def letters(
        pid: str,
        event: PathwayEvent,
        before: PathwayView | None,
        after: PathwayView,
        moment: IntakeMoment | None,
    ) -> list[Effect]:
        return [Effect("letter", f"letter:{pid}:{event.event_id}")]

    def alerts(
        pid: str,
        event: PathwayEvent,
        before: PathwayView | None,
        after: PathwayView,
        moment: IntakeMoment | None,
    ) -> list[Effect]:
        return [Effect("alert", f"alert:{pid}", {"stage": after.stage.value})]

    monkeypatch.setattr(pathway.effects, "EFFECT_RULES", (letters, alerts))
    referral = mscc_referral()
    after = view_of([referral])

    effects = effects_of_event("PW-1", referral, None, after)

    assert [e.kind for e in effects] == ["letter", "alert"]
    assert effects[0].key == f"letter:PW-1:{referral.event_id}"
    assert effects[1].payload == {"stage": "awaiting_imaging"}


def test_the_rules_are_letters_then_board_forms_then_safety_alerts() -> None:
    """The outbox rows of one event are queued in this order, as before the tuple (issue 13)."""
    from pathway.board import board_form_effects
    from pathway.letters import letter_effects
    from pathway.safety import safety_alerts

    assert (letter_effects, board_form_effects, safety_alerts) == pathway.effects.EFFECT_RULES


def test_markdown_text_escapes_what_would_format_or_break_a_cell() -> None:
    from pathway.display import markdown_text

    assert (
        markdown_text("a|b\n<i>*x*</i> & [y]") == "a\\|b &lt;i&gt;\\*x\\*&lt;/i&gt; &amp; \\[y\\]"
    )
    assert markdown_text(9) == "9"
