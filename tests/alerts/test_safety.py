"""The BIOPSY-GUARD safety alert end to end (pathway-spec.md 9.3), against real local receivers.

Through the intake a version-2 pathway with a suspected primary bone tumour gets a biopsy, or
surgery, before the bone sarcoma centre's review: one ``safety`` alert goes at once to
``coordinator`` and ``oncall-consultant`` (the handle-event flow's delivery), and, while
unacknowledged, the deadline watch escalates it to ``service-lead`` every 30 minutes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cordwatch.cli import app
from db.alerts import ALERT
from db.repository import AUDIT, OUTBOX, PATHWAY
from pathway.ruleset import PinnedRules, pin_rules
from services.intake import Intake, IntakeResult
from services.views import pathway_view, show_json
from services.watch import run_watch
from tasks.effects import run_pending_effects
from tests.alerts.conftest import Receivers, watch
from tests.alerts.receivers import wait_until
from tests.conftest import RULES
from tests.factories import INTAKE_T0 as T0
from tests.factories import RULES_V2, envelope
from tests.factories import referral_line as referral

H = timedelta(hours=1)
M = timedelta(minutes=1)
REF = "REF-S1"
REPORTED = T0 + 4 * H
GUARDED = T0 + 5 * H
"""When the biopsy (or surgery) happens: after the report, before any centre review."""
RAISED = GUARDED + M
"""When the intake receives it, so when the safety alert is raised."""
EVENT_ID = f"ris-{REF}-biopsy"
"""A feed's event id that carries its referral reference: it must never reach a receiver."""
IDENTIFIERS = ("Canary", "Testpatient", "9434765919", "943 476 5919", "1951-02-03", REF)


def _history(finding: str = "suspected_primary_bone_tumour") -> list[str]:
    """Referral (suspected MSCC), coordinator contact, steroids, MRI and a report of
    ``finding``: no clock is near its limit in the hours these tests look at."""
    data: dict[str, Any] = {"finding": finding}
    if finding != "mscc":
        data["cord_compression"] = False
    return [
        referral("s-1", REF, T0),
        envelope("s-2", REF, "coordinator.contacted", T0 + 20 * M, {"coordinator": "Sam"}),
        envelope("s-3", REF, "steroids.started", T0 + H, {"drug": "dexamethasone", "dose_mg": 16}),
        envelope("s-4", REF, "imaging.performed", T0 + 2 * H, {"modality": "mri_whole_spine"}),
        envelope("s-5", REF, "imaging.reported", REPORTED, data),
    ]


def _biopsy(type_: str = "biopsy.requested", **data: Any) -> str:
    return envelope(EVENT_ID, REF, type_, GUARDED, data)


def _surgery() -> str:
    return envelope(
        EVENT_ID,
        REF,
        "treatment.started",
        GUARDED,
        {"modality": "surgery", "emergency_without_mdt_reason": "cord compression, theatre free"},
    )


def _ingest(
    engine: Engine,
    lines: Sequence[str],
    *,
    rules: PinnedRules = RULES_V2,
    now: datetime = RAISED,
    backfill: bool = False,
) -> IntakeResult:
    intake = Intake(engine, new_pathway_rules=lambda: rules, backfill=backfill)
    return intake.ingest_lines(enumerate(lines, 1), now=now)


def _pathway_id(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(select(PATHWAY.c.id).where(PATHWAY.c.reference == REF)).scalar_one()
        )


def _handle_event(engine: Engine, at: datetime = RAISED) -> None:
    """What the handle-event flow does for the accepted event: deliver the pathway's effects."""
    asyncio.run(run_pending_effects(_pathway_id(engine), at, kinds={"alert"}))


def _safety_titles(receivers: Receivers, path: str) -> list[str]:
    return [b["title"] for b in receivers.ok.bodies(path) if "SAFETY" in b["title"]]


def _safety_rows(engine: Engine) -> list[tuple[str, str, int, str, str | None]]:
    """(id, level, step, tags, clock) of every alert with no clock (safety and its escalations)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(ALERT.c.id, ALERT.c.level, ALERT.c.step, ALERT.c.tags, ALERT.c.clock_id)
            .where(ALERT.c.clock_id.is_(None))
            .where(ALERT.c.pathway_id.is_not(None))
            .order_by(ALERT.c.created_at, ALERT.c.step)
        )
        return [tuple(row) for row in rows]


def _guarded(engine: Engine, event: str | None = None) -> str:
    """A version-2 pathway given a biopsy request before the centre's review; its PW- id."""
    result = _ingest(engine, [*_history(), event or _biopsy()])
    assert result.rejected == []
    return _pathway_id(engine)


def test_a_biopsy_before_the_centres_review_pages_coordinator_and_consultant_once(
    alert_engine: Engine, receivers: Receivers
) -> None:
    pathway_id = _guarded(alert_engine)
    _handle_event(alert_engine)
    again = _ingest(alert_engine, [_biopsy()], now=RAISED + M)  # the feed redelivers it
    _handle_event(alert_engine, RAISED + M)
    watch(alert_engine, RAISED + 2 * M)

    title = f"SAFETY {pathway_id} BIOPSY-GUARD biopsy requested"
    assert (again.accepted, again.duplicates) == (0, 1)
    assert _safety_titles(receivers, "coordinator") == [title]
    assert _safety_titles(receivers, "oncall-consultant") == [title]
    assert wait_until(lambda: len(receivers.smtp.messages) == 1)
    assert receivers.smtp.messages[0]["Subject"] == title
    [(alert_id, level, step, tags, _)] = _safety_rows(alert_engine)
    assert (level, step, tags) == ("safety", 1, "coordinator,oncall-consultant")
    [body] = [b for b in receivers.ok.bodies("coordinator") if b["title"] == title]
    assert body["message"] == (
        f"{pathway_id}: biopsy requested (biopsy.requested, Fri 20 Nov 13:00 GMT) while a primary "
        "bone tumour is suspected and the bone sarcoma centre has not reviewed it "
        "(BIOPSY-GUARD). Do not biopsy or operate locally before the bone sarcoma centre's "
        "review. Level: safety.\n"
        f"http://prefect.example.org/runs?tag=pathway:{pathway_id}\n"
        f"Ack: cordwatch ack {alert_id} --by NAME"
    )
    with alert_engine.connect() as conn:
        [(key, status)] = conn.execute(
            select(OUTBOX.c.key, OUTBOX.c.status).where(OUTBOX.c.key.startswith("alert:safety"))
        ).all()
        sent = conn.execute(select(AUDIT.c.action).where(AUDIT.c.action == "alert.sent")).scalars()
        assert "alert.sent" in list(sent)
    assert (key, status) == (f"alert:safety:{pathway_id}:{EVENT_ID}", "sent")


def test_unacknowledged_it_escalates_to_the_service_lead_each_interval_each_step_once(
    alert_engine: Engine, receivers: Receivers
) -> None:
    pathway_id = _guarded(alert_engine)
    _handle_event(alert_engine)

    for minutes in (29, 31, 32, 45, 61, 62, 91):
        watch(alert_engine, RAISED + minutes * M)

    assert _safety_titles(receivers, "service-lead") == [
        f"ESCALATION {step} SAFETY {pathway_id} BIOPSY-GUARD biopsy requested" for step in (1, 2, 3)
    ]
    assert _safety_titles(receivers, "coordinator") == [
        f"SAFETY {pathway_id} BIOPSY-GUARD biopsy requested"
    ]
    rows = _safety_rows(alert_engine)
    assert [(level, step, tags) for _, level, step, tags, _ in rows] == [
        ("safety", 1, "coordinator,oncall-consultant"),
        ("escalation", 1, "service-lead"),
        ("escalation", 2, "service-lead"),
        ("escalation", 3, "service-lead"),
    ]
    [first] = [
        b for b in receivers.ok.bodies("service-lead") if b["title"].startswith("ESCALATION 1 ")
    ]
    assert first["message"].startswith(f"Unacknowledged safety alert {rows[0][0]}. {pathway_id}: ")
    assert first["message"].endswith(
        "Level: escalation 1.\n"
        f"http://prefect.example.org/runs?tag=pathway:{pathway_id}\n"
        f"Ack: cordwatch ack {rows[1][0]} --by NAME"
    )


@pytest.mark.parametrize("which", ["the safety alert", "an escalation"])
def test_acknowledged_it_stops_escalating(
    alert_engine: Engine, receivers: Receivers, which: str
) -> None:
    pathway_id = _guarded(alert_engine)
    _handle_event(alert_engine)
    watch(alert_engine, RAISED + 31 * M)
    rows = _safety_rows(alert_engine)
    alert_id = rows[0][0] if which == "the safety alert" else rows[-1][0]

    done = CliRunner().invoke(
        app, ["ack", alert_id, "--by", "Dr On Call", "--as-of", (RAISED + 40 * M).isoformat()]
    )
    for minutes in (61, 91, 121):
        watch(alert_engine, RAISED + minutes * M)

    assert done.exit_code == 0, done.output
    assert _safety_titles(receivers, "service-lead") == [
        f"ESCALATION 1 SAFETY {pathway_id} BIOPSY-GUARD biopsy requested"
    ]
    with alert_engine.connect() as conn:
        by = conn.execute(select(ALERT.c.acknowledged_by).where(ALERT.c.id == alert_id)).scalar()
        events = conn.execute(
            select(AUDIT.c.action).where(AUDIT.c.actor == "Dr On Call").order_by(AUDIT.c.id)
        ).scalars()
        assert list(events) == ["event.accepted", "alert.acknowledged"]
    assert by == "Dr On Call"


def test_an_escalation_queued_before_the_acknowledgement_is_cancelled_not_sent(
    alert_engine: Engine, receivers: Receivers
) -> None:
    _guarded(alert_engine)
    _handle_event(alert_engine)
    run_watch(alert_engine, as_of=RAISED + 31 * M)  # decided, not yet delivered
    [(safety_id, *_), (escalation_id, *_)] = _safety_rows(alert_engine)

    CliRunner().invoke(
        app, ["ack", safety_id, "--by", "Dr On Call", "--as-of", (RAISED + 31 * M).isoformat()]
    )
    watch(alert_engine, RAISED + 32 * M)

    assert receivers.ok.bodies("service-lead") == []
    with alert_engine.connect() as conn:
        note = conn.execute(select(ALERT.c.note).where(ALERT.c.id == escalation_id)).scalar()
    assert note == "the safety alert was acknowledged"


def test_an_acknowledgement_from_a_feed_stops_it_even_before_it_is_applied(
    alert_engine: Engine, receivers: Receivers
) -> None:
    _guarded(alert_engine)
    _handle_event(alert_engine)
    [(safety_id, *_)] = _safety_rows(alert_engine)
    ack = envelope(
        "feed-ack-s1",
        REF,
        "alert.acknowledged",
        RAISED + 10 * M,
        {"alert_id": safety_id, "by": "Coordinator On Duty"},
    )

    assert _ingest(alert_engine, [ack], now=RAISED + 11 * M).rejected == []
    for minutes in (31, 61):
        watch(alert_engine, RAISED + minutes * M)

    assert receivers.ok.bodies("service-lead") == []
    with alert_engine.connect() as conn:
        by = conn.execute(select(ALERT.c.acknowledged_by).where(ALERT.c.id == safety_id)).scalar()
    assert by == "Coordinator On Duty"  # healed from the inbox by the watch


def test_closing_the_pathway_does_not_stop_an_unacknowledged_safety_alert(
    alert_engine: Engine, receivers: Receivers
) -> None:
    pathway_id = _guarded(alert_engine)
    _handle_event(alert_engine)
    closed = envelope("s-9", REF, "pathway.closed", GUARDED + 10 * M, {"reason": "transferred"})
    assert _ingest(alert_engine, [closed], now=RAISED + 15 * M).rejected == []

    watch(alert_engine, RAISED + 31 * M)
    [(safety_id, *_), *_] = _safety_rows(alert_engine)
    done = CliRunner().invoke(
        app, ["ack", safety_id, "--by", "Dr Lead", "--as-of", (RAISED + 35 * M).isoformat()]
    )
    watch(alert_engine, RAISED + 61 * M)

    assert done.exit_code == 0, done.output
    assert _safety_titles(receivers, "service-lead") == [
        f"ESCALATION 1 SAFETY {pathway_id} BIOPSY-GUARD biopsy requested"
    ]


def test_surgery_before_the_centres_review_pages(
    alert_engine: Engine, receivers: Receivers
) -> None:
    pathway_id = _guarded(alert_engine, _surgery())
    _handle_event(alert_engine)

    assert _safety_titles(receivers, "oncall-consultant") == [
        f"SAFETY {pathway_id} BIOPSY-GUARD surgery started"
    ]


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(
            [
                *_history(),
                envelope(
                    "s-6",
                    REF,
                    "specialist.reviewed",
                    GUARDED - H,
                    {"service": "bone_sarcoma_centre", "mode": "mdt"},
                ),
                _biopsy("biopsy.performed"),
            ],
            id="after the bone sarcoma centre's review",
        ),
        pytest.param(
            [*_history(), _biopsy(site_agreed_with_treating_centre=True)],
            id="at the site agreed with the treating centre",
        ),
        pytest.param([*_history("mscc"), _biopsy("biopsy.performed")], id="no tumour suspected"),
    ],
)
def test_a_biopsy_the_guard_allows_pages_nothing(
    alert_engine: Engine, receivers: Receivers, lines: list[str]
) -> None:
    assert _ingest(alert_engine, lines).rejected == []
    _handle_event(alert_engine)
    watch(alert_engine, RAISED + 31 * M)

    assert _safety_rows(alert_engine) == []
    assert _safety_titles(receivers, "coordinator") == []


def test_a_version_1_pathway_pages_nothing(alert_engine: Engine, receivers: Receivers) -> None:
    lines = [
        *_history()[:4],
        envelope("s-5", REF, "imaging.reported", REPORTED, {"finding": "spinal_metastases"}),
        _biopsy("biopsy.performed"),
    ]

    assert _ingest(alert_engine, lines, rules=RULES).rejected == []
    _handle_event(alert_engine)

    assert _safety_rows(alert_engine) == []


def _rejecting() -> PinnedRules:
    return pin_rules(
        RULES_V2.ruleset.model_copy(update={"biopsy_guard": "reject"}), timezone="Europe/London"
    )


def test_biopsy_guard_reject_refuses_the_request_naming_the_field_and_pages_a_biopsy_done(
    alert_engine: Engine, receivers: Receivers
) -> None:
    refused = _ingest(alert_engine, [*_history(), _biopsy()], rules=_rejecting())
    performed = _ingest(
        alert_engine,
        [envelope("s-7", REF, "biopsy.performed", GUARDED + H, {})],
        rules=_rejecting(),
        now=RAISED + H,
    )
    _handle_event(alert_engine, RAISED + H)

    [rejection] = refused.rejected
    assert (rejection.event_id, rejection.field) == (
        EVENT_ID,
        "data.site_agreed_with_treating_centre",
    )
    assert (refused.accepted, performed.accepted, performed.rejected) == (5, 1, [])
    assert _safety_titles(receivers, "coordinator") == [
        f"SAFETY {_pathway_id(alert_engine)} BIOPSY-GUARD biopsy performed"
    ]


def test_a_backfilled_historical_biopsy_pages_nobody_but_stays_on_the_pathway(
    alert_engine: Engine, receivers: Receivers
) -> None:
    result = _ingest(alert_engine, [*_history(), _biopsy()], now=GUARDED + 3 * H, backfill=True)
    _handle_event(alert_engine, GUARDED + 3 * H)
    watch(alert_engine, GUARDED + 4 * H)

    assert result.rejected == []
    assert _safety_rows(alert_engine) == []
    with alert_engine.connect() as conn:
        shown = show_json(*pathway_view(conn, REF, as_of=GUARDED + 4 * H), as_of=GUARDED + 4 * H)
    assert shown["safety"] == [
        {
            "rule": "BIOPSY-GUARD",
            "event_id": EVENT_ID,
            "event_type": "biopsy.requested",
            "at": GUARDED.isoformat(),
        }
    ]


def test_no_identifier_or_reference_reaches_a_receiver(
    alert_engine: Engine, receivers: Receivers
) -> None:
    _guarded(alert_engine)
    _handle_event(alert_engine)
    for minutes in (31, 61):
        watch(alert_engine, RAISED + minutes * M)

    assert wait_until(lambda: len(receivers.smtp.messages) >= 1)
    payloads = [json.dumps(b) for b in receivers.ok.bodies() if "SAFETY" in b["title"]]
    payloads += [raw.decode("utf-8", "replace") for raw in receivers.smtp.mailbox.raw]
    assert len(payloads) == 5  # coordinator, consultant (JSON, e-mail), two escalations
    leaks = [(i, p) for p in payloads for i in (*IDENTIFIERS, EVENT_ID) if i.lower() in p.lower()]
    assert leaks == []


def test_a_breach_and_a_safety_alert_on_one_pathway_escalate_side_by_side(
    alert_engine: Engine, receivers: Receivers
) -> None:
    """Without steroids STEROID-MSCC breaches at 4 h: the sweep reads the breach's state and
    the safety alert's on one pathway, each escalation by its own rule and key."""
    lines = [line for line in _history() if '"steroids.started"' not in line]
    assert _ingest(alert_engine, [*lines, _biopsy()]).rejected == []
    pathway_id = _pathway_id(alert_engine)
    _handle_event(alert_engine)

    watch(alert_engine, RAISED)  # STEROID-MSCC's breach, raised now
    watch(alert_engine, RAISED + 31 * M)
    listed = CliRunner().invoke(app, ["alerts", "--json", "--pathway", pathway_id])

    assert sorted(b["title"] for b in receivers.ok.bodies("service-lead")) == [
        f"ESCALATION 1 {pathway_id} Steroids within 4 h",
        f"ESCALATION 1 SAFETY {pathway_id} BIOPSY-GUARD biopsy requested",
    ]
    assert listed.exit_code == 0, listed.output
    assert sorted(
        (a["level"], a["step"], a["clock"] or "-") for a in json.loads(listed.output)
    ) == [
        ("breach", 1, "STEROID-MSCC"),
        ("escalation", 1, "-"),
        ("escalation", 1, "STEROID-MSCC"),
        ("safety", 1, "-"),
    ]
