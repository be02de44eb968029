"""The `board-decision` flow: a suspended run with a typed form for the tumour board's decision.

Created for every MDT listing, as the listing's ``board_form`` outbox effect
(``tasks/board_forms.py``), by whichever run delivers the pathway's effects. Its description
carries the clinical summary the board needs (category, imaging findings, Bilsky grade, SINS,
clocks) and no patient identifiers. Resuming it in the Prefect UI records an `mdt.decided`
event through the same intake as every other event; the clocks never wait for the form (the
deadline watch alerts regardless).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from prefect import flow, get_run_logger
from prefect.flow_runs import asuspend_flow_run
from prefect.input import RunInput
from pydantic import AwareDatetime, Field

from db.engine import engine_for, reading
from db.inbox import find_inbox_entries
from flows.notify import notify_event
from pathway.display import markdown_text, safe_details
from pathway.errors import FormAnswerRefused
from pathway.events import Plan, is_level_or_range
from pathway.forms import mdt_decided_envelope
from services.intake import Intake
from services.settings import get_settings
from services.views import local_time, pathway_view, show_json


class PlanChoice(StrEnum):
    """The plans as the board reads them; :data:`PLAN_CODES` gives the event's code."""

    SURGERY = "Surgery"
    RADIOTHERAPY = "Radiotherapy"
    SURGERY_THEN_RADIOTHERAPY = "Surgery followed by radiotherapy"
    SYSTEMIC_THERAPY = "Systemic anti-cancer therapy"
    BEST_SUPPORTIVE_CARE = "Best supportive care"


PLAN_CODES = {choice: Plan[choice.name] for choice in PlanChoice}
"""Each plan in words -> the code the `mdt.decided` event stores (never renamed)."""


class IntentChoice(StrEnum):
    """Treatment intent as one choice: "not stated" instead of an empty optional field."""

    NOT_STATED = "Not stated"
    CURATIVE = "Curative"
    PALLIATIVE = "Palliative"


INTENT_CODES: dict[IntentChoice, str | None] = {
    IntentChoice.NOT_STATED: None,
    IntentChoice.CURATIVE: "curative",
    IntentChoice.PALLIATIVE: "palliative",
}


class BoardDecision(RunInput):
    """The tumour board's decision (pathway-spec.md section 3, `mdt.decided`)."""

    decided_at: AwareDatetime = Field(
        description="When the board decided (the RT-24H and SURGERY clocks start then; "
        "correct it when entering the decision later)"
    )
    plan: PlanChoice = Field(description="The agreed plan")
    decision_to_treat: bool = Field(description="Has the board decided to treat?")
    intent: IntentChoice = Field(default=IntentChoice.NOT_STATED, description="Treatment intent")
    reason: str | None = Field(
        default=None, max_length=500, description="Reason (no patient identifiers)"
    )
    decided_by: str = Field(
        min_length=1, max_length=200, description="Consultant recording the decision"
    )


DecisionRefused = FormAnswerRefused
"""A board-decision answer the core refuses (``pathway.forms``)."""


def decision_envelope(
    decision: BoardDecision,
    *,
    event_id: str,
    reference: str,
    listed_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    """The `mdt.decided` event a form's answer records: the form's choices as codes, the
    rules in :func:`pathway.forms.mdt_decided_envelope` (refusals name the field)."""
    return mdt_decided_envelope(
        event_id=event_id,
        reference=reference,
        listed_at=listed_at,
        now=now,
        decided_at=decision.decided_at,
        decided_by=decision.decided_by,
        plan=PLAN_CODES[decision.plan].value,
        decision_to_treat=decision.decision_to_treat,
        intent=INTENT_CODES[decision.intent],
        reason=decision.reason,
        source="prefect-board-decision",
    )


def _levels(value: Any) -> str:
    # Levels are coded (C1-S5, or ranges); anything else in the field is left out unread, so
    # nothing typed there (a name) reaches the form.
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    kept = [item for item in items if is_level_or_range(item)]
    return ", ".join(kept) if kept else "not recorded"


def clinical_summary(document: dict[str, Any], zone: Any) -> str:
    """Markdown for the form: what the board needs to decide, without identifiers.

    Values are coded facts, still escaped (:func:`markdown_text`) so none can format the form.
    """
    findings = [
        safe_details(m["type"], m["details"])
        | {
            "at": local_time(datetime.fromisoformat(m["at"]), zone),
            "levels": _levels(m["details"].get("levels")),
        }
        for m in document["milestones"]
        if m["type"] == "imaging.reported"
    ]
    lines = [
        f"## Tumour board decision for {markdown_text(document['id'])}",
        "",
        f"**Category:** {markdown_text(document['category'])} · "
        f"**stage:** {markdown_text(document['stage'])}",
        "",
        "### Imaging",
    ]
    if not findings:
        lines.append("No imaging report recorded yet.")
    for finding in findings:
        line = (
            f"- {finding['at']}: finding **{markdown_text(finding.get('finding', '?'))}**, "
            f"levels {markdown_text(finding['levels'])}, "
            f"Bilsky grade {markdown_text(finding.get('bilsky_grade', 'not recorded'))}, "
            f"SINS {markdown_text(finding.get('sins', 'not recorded'))}"
        )
        if "cord_compression" in finding:  # version 2 (section 9.1)
            compression = "yes" if finding["cord_compression"] is True else "no"
            line += f", cord compression **{compression}**"
        if "suspected_histology" in finding:
            line += f", suspected histology {markdown_text(finding['suspected_histology'])}"
        lines.append(line)
    cautions = document.get("cautions") or []
    if cautions:
        lines += ["", "### Cautions", ""]
        lines += [f"- **{markdown_text(caution)}**" for caution in cautions]
    lines += ["", "### Clocks", "", "| clock | due | status |", "|---|---|---|"]
    for clock in document["clocks"]:
        status = clock["status"] + (" (at risk)" if clock["at_risk"] else "")
        due = local_time(datetime.fromisoformat(clock["due_at"]), zone)
        lines.append(f"| {markdown_text(clock['id'])} | {due} | {markdown_text(status)} |")
    lines += ["", "Submitting records an `mdt.decided` event. The clocks keep running until then."]
    return "\n".join(lines)


@flow(name="board-decision", flow_run_name="{pathway_id} board decision")
async def board_decision(pathway_id: str, listed_event_id: str) -> dict[str, Any]:
    """Wait for the tumour board's decision in a form, then record it as `mdt.decided`."""
    from zoneinfo import ZoneInfo

    settings = get_settings()
    engine = engine_for(settings.url())
    now = datetime.now(UTC)
    with reading(engine) as conn:
        internal, view, rules = pathway_view(conn, pathway_id, as_of=now)
    document = show_json(internal, view, rules, as_of=now)
    summary = clinical_summary(document, ZoneInfo(settings.timezone))
    listed_at = next(
        (m.at for m in view.milestones if m.event_id == listed_event_id), view.referred_at
    )
    decision = await asuspend_flow_run(
        wait_for_input=BoardDecision.with_initial_data(
            description=summary, decided_by="", decided_at=now
        ),
        key=f"board-decision-{listed_event_id}",
        timeout=14 * 24 * 3600,
    )
    # A resumed suspended flow runs again from the top: the event id is fixed by the listing,
    # so a second execution is a duplicate, never a second decision.
    event_id = f"board-{listed_event_id}"
    submitted = datetime.now(UTC)
    logger = get_run_logger()
    try:
        envelope = decision_envelope(
            decision,
            event_id=event_id,
            reference=view.reference,
            listed_at=listed_at,
            now=submitted,
        )
    except DecisionRefused as refusal:
        # The run fails visibly with the field and reason; the decision is then recorded with
        # `cordwatch record ... mdt.decided --at T`, and the clocks keep alerting meanwhile.
        logger.error("%s: decision refused: %s", internal, refusal)
        raise
    intake = Intake(engine, new_pathway_rules=settings.pinned_rules, mark_processed=False)
    result = intake.ingest_lines([(None, json.dumps(envelope))], now=submitted, batch_size=1)
    if result.rejected:
        rejection = result.rejected[0]
        logger.error("%s: decision rejected: %s: %s", internal, rejection.field, rejection.reason)
        raise ValueError(f"decision rejected: {rejection.field}: {rejection.reason}")
    with reading(engine) as conn:
        entries = find_inbox_entries(conn, [event_id])
    for entry in entries:
        if not entry.processed:
            await notify_event(entry)
    logger.info(
        "%s: board decision recorded (%s)",
        internal,
        "new" if result.accepted else "already recorded",
    )
    return {"pathway": internal, "event_id": event_id, "accepted": result.accepted}
