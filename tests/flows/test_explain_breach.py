"""The `explain-breach` form records a `breach.explained` through the intake (pathway-spec.md
9.1, 9.4): choices in words, codes in the event; a refused answer fails the run with the field
and reason and changes nothing; an explained breach stays breached and leaves the board."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from db.engine import reading
from db.repository import CLOCK, INBOX, PATHWAY
from flows.explain_breach import (
    REASON_CODES,
    STAGE_CODES,
    ClockChoice,
    ExplanationRefused,
    ReasonChoice,
    StageChoice,
    explain_breach,
    explanation_envelope,
)
from pathway.breaches import BREACH_REASON_WORDS, BREACH_STAGE_WORDS
from pathway.clocks import ClockStatus
from pathway.engine import evaluate
from pathway.events import parse_event
from services.intake import Intake
from services.views import pathway_view, unexplained_breaches
from tests.conftest import NOW
from tests.factories import (
    RULES,
    RULES_V2,
    T0,
    H,
    breach_explained,
    envelope,
    imaging_performed,
    mscc_referral,
)
from tests.factories import referral_line as referral

START = NOW - timedelta(hours=40)


def _late_mri(ref: str, prefix: str) -> list[str]:
    """Coordinator and steroids on time, MRI 30 h after the referral: MRI-MSCC breached."""
    return [
        referral(f"{prefix}-1", ref, START),
        envelope(f"{prefix}-2", ref, "coordinator.contacted", START + H / 2, {"coordinator": "S"}),
        envelope(
            f"{prefix}-3",
            ref,
            "steroids.started",
            START + H,
            {"drug": "dexamethasone", "dose_mg": 16},
        ),
        envelope(
            f"{prefix}-4",
            ref,
            "imaging.performed",
            START + 30 * H,
            {"modality": "mri_whole_spine"},
        ),
    ]


def _answer(**overrides: Any) -> dict[str, Any]:
    return {
        "clock": ClockChoice.MRI_MSCC,
        "reason": ReasonChoice.IMAGING_CAPACITY,
        "stage": StageChoice.IMAGING,
        "recorded_by": "Sam Lee",
        "primary": True,
        "replace_primary": False,
        "comment": "",
    } | overrides


def _view(*more: Any) -> Any:
    return evaluate(
        [mscc_referral(), imaging_performed(T0 + 30 * H), *more],
        RULES_V2,
    )


def test_the_choices_read_in_words_and_the_event_keeps_the_codes() -> None:
    assert {c.value for c in ReasonChoice} == set(BREACH_REASON_WORDS.values())
    assert all(BREACH_REASON_WORDS[code] == choice.value for choice, code in REASON_CODES.items())
    assert all(BREACH_STAGE_WORDS[code] == choice.value for choice, code in STAGE_CODES.items())
    assert {c.value for c in ClockChoice} == {rule.id for rule in RULES_V2.ruleset.clocks}

    built = explanation_envelope(_view(), event_id="ui-1", now=NOW, **_answer())

    assert built["data"] == {
        "clock": "MRI-MSCC",
        "reason": "imaging_capacity",
        "stage": "imaging",
        "primary": True,
    }
    assert parse_event(json.dumps(built)).type == "breach.explained"


def test_replacing_names_the_current_primary_reason_in_supersedes() -> None:
    view = _view(breach_explained(T0 + 31 * H, "MRI-MSCC", event_id="why-1"))

    built = explanation_envelope(
        view,
        event_id="ui-2",
        now=NOW,
        **_answer(replace_primary=True, reason=ReasonChoice.OTHER, comment="scanner down"),
    )

    assert built["data"]["supersedes"] == "why-1"
    assert built["data"]["comment"] == "scanner down"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param({"replace_primary": True}, "no primary reason recorded", id="nothing"),
        pytest.param(
            {"replace_primary": True, "primary": False}, "only a primary", id="not primary"
        ),
    ],
)
def test_a_replacement_with_nothing_to_replace_is_refused(
    answer: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ExplanationRefused) as refused:
        explanation_envelope(_view(), event_id="ui-3", now=NOW, **_answer(**answer))

    assert refused.value.field == "replace_primary"
    assert reason in refused.value.reason


def _ingest(engine: Engine, lines: list[str], rules: Any = RULES_V2) -> str:
    intake = Intake(engine, new_pathway_rules=lambda: rules, mark_processed=False)
    assert intake.ingest_lines(enumerate(lines, 1), now=NOW).rejected == []
    with engine.connect() as conn:
        pathway_id: str = conn.execute(select(PATHWAY.c.id)).scalar_one()
    return pathway_id


def _stored(engine: Engine) -> tuple[int, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(INBOX)).scalar_one()
        clocks = [tuple(r) for r in conn.execute(select(CLOCK).order_by(CLOCK.c.id))]
    return events, clocks


@pytest.mark.prefect
def test_the_form_records_the_explanation_and_the_breach_leaves_the_board(
    sqlite_only: Engine,
) -> None:
    pathway_id = _ingest(sqlite_only, _late_mri("REF-E1", "e1"))
    _, clocks_before = _stored(sqlite_only)

    result = asyncio.run(explain_breach(pathway_id=pathway_id, **_answer()))

    now = datetime.now(UTC)
    with reading(sqlite_only) as conn:
        (payload,) = conn.execute(
            select(INBOX.c.payload).where(INBOX.c.type == "breach.explained")
        ).scalars()
        _, view, _ = pathway_view(conn, pathway_id, as_of=now)
        left = unexplained_breaches(conn, as_of=now)
    event = json.loads(payload)
    assert result == {"pathway": pathway_id, "clock": "MRI-MSCC", "event_id": event["event_id"]}
    assert event["source"] == "prefect-explain-breach"
    assert event["recorded_by"] == "Sam Lee"
    assert event["data"]["reason"] == "imaging_capacity"
    assert left == []
    mri = next(c for c in view.clocks if c.id == "MRI-MSCC")
    assert mri.status_at(now) is ClockStatus.BREACHED
    assert _stored(sqlite_only)[1] == clocks_before  # an annotation: no clock row changed


@pytest.mark.prefect
@pytest.mark.parametrize(
    ("answer", "field"),
    [
        pytest.param({"clock": ClockChoice.COORD_MSCC}, "data.clock", id="a clock on time"),
        pytest.param({"reason": ReasonChoice.OTHER}, "data.comment", id="other, no comment"),
        pytest.param({"replace_primary": True}, "replace_primary", id="nothing to replace"),
    ],
)
def test_a_refused_answer_fails_the_run_naming_the_field_and_changes_nothing(
    sqlite_only: Engine, answer: dict[str, Any], field: str
) -> None:
    pathway_id = _ingest(sqlite_only, _late_mri("REF-E2", "e2"))
    before = _stored(sqlite_only)

    with pytest.raises(ExplanationRefused) as refused:
        asyncio.run(explain_breach(pathway_id=pathway_id, **_answer(**answer)))

    assert refused.value.field == field
    assert _stored(sqlite_only) == before


@pytest.mark.prefect
def test_a_version_1_pathway_refuses_the_form(sqlite_only: Engine) -> None:
    pathway_id = _ingest(sqlite_only, _late_mri("REF-E3", "e3"), RULES)
    before = _stored(sqlite_only)

    with pytest.raises(ExplanationRefused) as refused:
        asyncio.run(explain_breach(pathway_id=pathway_id, **_answer()))

    assert refused.value.field == "type"
    assert _stored(sqlite_only) == before


@pytest.mark.prefect
def test_an_unknown_pathway_is_refused(sqlite_only: Engine) -> None:
    with pytest.raises(ExplanationRefused) as refused:
        asyncio.run(explain_breach(pathway_id="PW-ZZZZZZ", **_answer()))

    assert refused.value.field == "pathway_id"
