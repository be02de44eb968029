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
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.flow_runs import asuspend_flow_run
from prefect.input import RunInput
from pydantic import Field

from cordwatch.effects import find_inbox_entries
from cordwatch.intake import Intake
from cordwatch.settings import get_settings
from cordwatch.views import local_time, pathway_view, show_json
from db.engine import make_engine, reading
from flows.notify import notify_event
from pathway.display import markdown_text, safe_details
from pathway.events import Plan


class BoardDecision(RunInput):
    """The tumour board's decision (pathway-spec.md section 3, `mdt.decided`)."""

    plan: Plan = Field(description="The agreed plan")
    decision_to_treat: bool = Field(description="Has the board decided to treat?")
    intent: Literal["curative", "palliative"] | None = Field(
        default=None, description="Treatment intent"
    )
    reason: str | None = Field(
        default=None, max_length=500, description="Reason (no patient identifiers)"
    )
    decided_by: str = Field(
        min_length=1, max_length=200, description="Consultant recording the decision"
    )


def clinical_summary(document: dict[str, Any], zone: Any) -> str:
    """Markdown for the form: what the board needs to decide, without identifiers.

    Values are coded facts, still escaped (:func:`markdown_text`) so none can format the form.
    """
    findings = [
        safe_details(m["type"], m["details"])
        | {"at": local_time(datetime.fromisoformat(m["at"]), zone)}
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
        lines.append(
            f"- {finding['at']}: finding **{markdown_text(finding.get('finding', '?'))}**, "
            f"Bilsky grade {markdown_text(finding.get('bilsky_grade', 'not recorded'))}, "
            f"SINS {markdown_text(finding.get('sins', 'not recorded'))}"
        )
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
    engine = make_engine(settings.url())
    now = datetime.now(UTC)
    with reading(engine) as conn:
        internal, view, rules = pathway_view(conn, pathway_id, as_of=now)
    document = show_json(internal, view, rules, as_of=now)
    summary = clinical_summary(document, ZoneInfo(settings.timezone))
    decision = await asuspend_flow_run(
        wait_for_input=BoardDecision.with_initial_data(description=summary, decided_by=""),
        key=f"board-decision-{listed_event_id}",
        timeout=14 * 24 * 3600,
    )
    # A resumed suspended flow runs again from the top: the event id is fixed by the listing,
    # so a second execution is a duplicate, never a second decision.
    event_id = f"board-{listed_event_id}"
    envelope = {
        "event_id": event_id,
        "pathway": view.reference,
        "type": "mdt.decided",
        "occurred_at": datetime.now(UTC).isoformat(),
        "recorded_by": decision.decided_by,
        "source": "prefect-board-decision",
        "data": decision.model_dump(exclude={"decided_by"}, exclude_none=True, mode="json"),
    }
    intake = Intake(engine, new_pathway_rules=settings.pinned_rules, mark_processed=False)
    result = intake.ingest_lines(
        [(None, json.dumps(envelope))], now=datetime.now(UTC), batch_size=1
    )
    logger = get_run_logger()
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
