"""The `explain-breach` flow: the Prefect UI form that records why a clock breached.

The form is the deployment's parameters (Deployments, explain-breach, Run, Custom run): the
pathway's ``PW-`` id, the clock, the reason and stage of pathway-spec.md 9.4 as dropdowns in
words, primary or contributing, replacing the clock's current primary reason or not, a comment
and who records it. One step, filled in by the coordinator at once, so no run waits suspended
for an answer. The answer becomes a ``breach.explained`` event through the same intake as
``cordwatch record``: a refusal fails the run with the field and reason, and changes nothing.
An explanation is an annotation: it never changes a clock.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run
from pydantic import Field

from db.engine import engine_for, reading
from db.errors import UnknownPathway
from db.inbox import find_inbox_entries
from db.repository import INTERNAL_ID
from flows.notify import notify_event
from pathway.engine import PathwayView
from pathway.errors import FormAnswerRefused
from pathway.events import BreachReason, BreachStage
from pathway.forms import breach_explained_envelope
from services.intake import Intake
from services.settings import get_settings
from services.views import pathway_view


class ClockChoice(StrEnum):
    """The clock, by its id as the breach report and the board name it."""

    # Every clock of ruleset version 2, the first to know breach.explained (a test keeps them
    # in step); the intake refuses a clock that is not breached on the pathway.

    COORD_MSCC = "COORD-MSCC"
    COORD_METS = "COORD-METS"
    STEROID_MSCC = "STEROID-MSCC"
    MRI_MSCC = "MRI-MSCC"
    MRI_METS = "MRI-METS"
    PLAN_METS = "PLAN-METS"
    PLAN_MSCC = "PLAN-MSCC"
    RT_24H = "RT-24H"
    SURGERY = "SURGERY"
    POSTOP_RT = "POSTOP-RT"
    SPINE_OPINION = "SPINE-OPINION"
    SARC_REFER = "SARC-REFER"
    SARC_REVIEW = "SARC-REVIEW"
    HAEM_REFER = "HAEM-REFER"
    CWT_FDS = "CWT-FDS"
    CWT_31 = "CWT-31"
    CWT_62 = "CWT-62"


class ReasonChoice(StrEnum):
    """Why the clock breached (pathway-spec.md 9.4)."""

    # The words of pathway.breaches.BREACH_REASON_WORDS; the event keeps the code (REASON_CODES).

    PATIENT_DECLINED_OFFERED_DATE = "Patient declined an offered date"
    PATIENT_UNAVAILABLE = "Patient unavailable"
    PATIENT_CANCELLED = "Patient cancelled"
    PATIENT_DID_NOT_ATTEND = "Patient did not attend"
    PATIENT_CHOSE_TIME_TO_DECIDE = "Patient chose time to decide"
    MEDICALLY_UNFIT_OR_DETERIORATED = "Medically unfit or deteriorated"
    CLINICAL_COMPLEXITY = "Clinical complexity"
    CLINICALLY_APPROPRIATE_INTERVAL = "Clinically appropriate interval"
    CLINIC_CANCELLATION = "Clinic cancellation"
    OUTPATIENT_CAPACITY = "Outpatient capacity"
    IMAGING_CAPACITY = "Imaging capacity"
    REPORTING_CAPACITY = "Reporting capacity"
    THEATRE_OR_SURGEON_CAPACITY = "Theatre or surgeon capacity"
    RADIOTHERAPY_CAPACITY = "Radiotherapy capacity"
    BED_OR_TRANSFER_CAPACITY = "Bed or transfer capacity"
    COORDINATOR_UNAVAILABLE = "Coordinator unavailable"
    ADMINISTRATIVE_DELAY = "Administrative delay"
    LATE_OR_INCOMPLETE_REFERRAL = "Late or incomplete referral"
    COMMUNICATION_FAILURE = "Communication failure"
    NOT_COMMISSIONED_ENGLISH_NHS = "Not commissioned by the English NHS"
    OTHER = "Other"


REASON_CODES = {choice: BreachReason[choice.name] for choice in ReasonChoice}
"""Each reason in words -> the code the ``breach.explained`` event stores (never renamed)."""


class StageChoice(StrEnum):
    """Where on the pathway the delay arose (pathway-spec.md 9.4)."""

    # The words of pathway.breaches.BREACH_STAGE_WORDS; the event keeps the code (STAGE_CODES).

    PATIENT_PRE_PRESENTATION = "Patient, before presentation"
    PRIMARY_CARE = "Primary care"
    REFERRING_HOSPITAL = "Referring hospital"
    COORDINATOR_TRIAGE = "Coordinator triage"
    IMAGING = "Imaging"
    REPORTING = "Reporting"
    TREATING_CENTRE = "Treating centre"
    INTER_PROVIDER_TRANSFER = "Transfer between providers"
    UNKNOWN = "Unknown"


STAGE_CODES = {choice: BreachStage[choice.name] for choice in StageChoice}

PathwayId = Annotated[str, Field(pattern=r"^PW-[0-9A-Z]{6}$")]
"""Only the opaque id: the parameter is shown in the Prefect UI, and the run is named by it."""

SOURCE = "prefect-explain-breach"


ExplanationRefused = FormAnswerRefused
"""An explain-breach answer the core refuses (``pathway.forms``)."""


def explanation_envelope(
    view: PathwayView,
    *,
    event_id: str,
    clock: ClockChoice,
    reason: ReasonChoice,
    stage: StageChoice,
    recorded_by: str,
    primary: bool,
    replace_primary: bool,
    comment: str,
    now: datetime,
) -> dict[str, Any]:
    """The ``breach.explained`` event a form's answer records: the form's choices as codes,
    the rules in :func:`pathway.forms.breach_explained_envelope` (refusals name the field)."""
    return breach_explained_envelope(
        view,
        event_id=event_id,
        clock=clock.value,
        reason=REASON_CODES[reason].value,
        stage=STAGE_CODES[stage].value,
        recorded_by=recorded_by,
        primary=primary,
        replace_primary=replace_primary,
        comment=comment,
        now=now,
        source=SOURCE,
    )


def run_name() -> str:
    """``PW-7F3K2Q explain breach``: the run is named by the pathway's opaque id only, and by
    nothing else typed in the form (a value that is not a ``PW-`` id is not repeated)."""
    pathway_id = str(flow_run.parameters.get("pathway_id", ""))
    return f"{pathway_id} explain breach" if INTERNAL_ID.fullmatch(pathway_id) else "explain breach"


@flow(name="explain-breach", flow_run_name=run_name)
async def explain_breach(
    pathway_id: PathwayId,
    clock: ClockChoice,
    reason: ReasonChoice,
    stage: StageChoice,
    recorded_by: Annotated[str, Field(min_length=1, max_length=200)],
    primary: bool = True,
    replace_primary: bool = False,
    comment: Annotated[str, Field(max_length=500)] = "",
) -> dict[str, Any]:
    """Record why a clock breached (a breach.explained event); it never changes the clock.

    Args:
        pathway_id: The pathway's PW- id (from the breach report or the board).
        clock: The breached clock (its id, as the breach report names it).
        reason: Why it breached.
        stage: Where on the pathway the delay arose.
        recorded_by: Your name.
        primary: The main reason (untick for a contributing reason).
        replace_primary: Replace this clock's primary reason recorded earlier.
        comment: Required for Other and Clinical complexity; no patient identifiers.
    """
    settings = get_settings()
    engine = engine_for(settings.url())
    logger = get_run_logger()
    now = datetime.now(UTC)
    try:
        with reading(engine) as conn:
            try:
                internal, view, _rules = pathway_view(conn, pathway_id, as_of=now)
            except UnknownPathway as unknown:
                raise ExplanationRefused("pathway_id", "no pathway has this id") from unknown
        # A retried run records the same event id again: a duplicate, never a second reason.
        event_id = f"ui-explain-{flow_run.id or uuid.uuid4()}"
        envelope = explanation_envelope(
            view,
            event_id=event_id,
            clock=clock,
            reason=reason,
            stage=stage,
            recorded_by=recorded_by,
            primary=primary,
            replace_primary=replace_primary,
            comment=comment,
            now=now,
        )
        intake = Intake(engine, new_pathway_rules=settings.pinned_rules, mark_processed=False)
        result = intake.ingest_lines([(None, json.dumps(envelope))], now=now, batch_size=1)
        if result.rejected:
            rejection = result.rejected[0]
            raise ExplanationRefused(rejection.field, rejection.reason)
        with reading(engine) as conn:
            entries = find_inbox_entries(conn, [event_id])
    except ExplanationRefused as refusal:
        # The run fails visibly with the field and reason; nothing was recorded.
        logger.error("%s: breach explanation refused: %s", pathway_id, refusal)
        raise
    for entry in entries:
        if not entry.processed:
            try:
                await notify_event(entry)
            except ObjectNotFound:
                # No handle-event deployment here: only a delay, the deadline watch
                # processes the recorded event (its re-drive).
                logger.warning("%s: handle-event not deployed; the watch processes it", internal)
    logger.info(
        "%s: %s explained (%s)",
        internal,
        clock.value,
        "recorded" if result.accepted else "already recorded",
    )
    return {"pathway": internal, "clock": clock.value, "event_id": event_id}
