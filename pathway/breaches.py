"""Breach explanations (pathway-spec.md 9.1 ``breach.explained``, 9.4): which breaches of a
pathway still wait for their reason, the explanations recorded, and the codes in words.

A reason is an annotation: it never changes a clock (the engine keeps a breached clock
breached). What this module decides is only what the coordinators are still asked for: a
breached clock instance is *unexplained* while no primary ``breach.explained`` names its clock.
The intake allows one primary explanation per clock id (pathway/engine.py), so a primary
explanation of a clock id answers for every breached instance of that id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pathway.clocks import Clock, ClockStatus
from pathway.engine import PathwayView
from pathway.events import BREACH_ROLL_UP, BreachReason, BreachStage
from pathway.ruleset import PinnedRules

EXPLAIN_BREACH_DEPLOYMENT = "explain-breach"
"""The Prefect deployment whose form records a ``breach.explained`` (flows/explain_breach.py);
named here because the breach report letter tells its reader where the form is."""

BREACH_REASON_WORDS: dict[BreachReason, str] = {
    BreachReason.PATIENT_DECLINED_OFFERED_DATE: "Patient declined an offered date",
    BreachReason.PATIENT_UNAVAILABLE: "Patient unavailable",
    BreachReason.PATIENT_CANCELLED: "Patient cancelled",
    BreachReason.PATIENT_DID_NOT_ATTEND: "Patient did not attend",
    BreachReason.PATIENT_CHOSE_TIME_TO_DECIDE: "Patient chose time to decide",
    BreachReason.MEDICALLY_UNFIT_OR_DETERIORATED: "Medically unfit or deteriorated",
    BreachReason.CLINICAL_COMPLEXITY: "Clinical complexity",
    BreachReason.CLINICALLY_APPROPRIATE_INTERVAL: "Clinically appropriate interval",
    BreachReason.CLINIC_CANCELLATION: "Clinic cancellation",
    BreachReason.OUTPATIENT_CAPACITY: "Outpatient capacity",
    BreachReason.IMAGING_CAPACITY: "Imaging capacity",
    BreachReason.REPORTING_CAPACITY: "Reporting capacity",
    BreachReason.THEATRE_OR_SURGEON_CAPACITY: "Theatre or surgeon capacity",
    BreachReason.RADIOTHERAPY_CAPACITY: "Radiotherapy capacity",
    BreachReason.BED_OR_TRANSFER_CAPACITY: "Bed or transfer capacity",
    BreachReason.COORDINATOR_UNAVAILABLE: "Coordinator unavailable",
    BreachReason.ADMINISTRATIVE_DELAY: "Administrative delay",
    BreachReason.LATE_OR_INCOMPLETE_REFERRAL: "Late or incomplete referral",
    BreachReason.COMMUNICATION_FAILURE: "Communication failure",
    BreachReason.NOT_COMMISSIONED_ENGLISH_NHS: "Not commissioned by the English NHS",
    BreachReason.OTHER: "Other",
}
"""Each reason of section 9.4 as a coordinator reads it (the form's choices, the letter)."""

BREACH_STAGE_WORDS: dict[BreachStage, str] = {
    BreachStage.PATIENT_PRE_PRESENTATION: "Patient, before presentation",
    BreachStage.PRIMARY_CARE: "Primary care",
    BreachStage.REFERRING_HOSPITAL: "Referring hospital",
    BreachStage.COORDINATOR_TRIAGE: "Coordinator triage",
    BreachStage.IMAGING: "Imaging",
    BreachStage.REPORTING: "Reporting",
    BreachStage.TREATING_CENTRE: "Treating centre",
    BreachStage.INTER_PROVIDER_TRANSFER: "Transfer between providers",
    BreachStage.UNKNOWN: "Unknown",
}
"""Each stage of section 9.4 as a coordinator reads it."""


def explains_breaches(rules: PinnedRules) -> bool:
    """Whether the pathway's pinned ruleset knows ``breach.explained`` (version 2 on); a
    version-1 pathway refuses the event, so it is never asked for a reason."""
    return "breach.explained" in rules.ruleset.event_types


def reasons_by_roll_up() -> dict[str, list[str]]:
    """Section 9.4's reason codes grouped by roll-up, in the spec's order (for the letter)."""
    grouped: dict[str, list[str]] = {}
    for reason, (roll_up, _cwt) in BREACH_ROLL_UP.items():
        grouped.setdefault(roll_up, []).append(reason.value)
    return grouped


@dataclass(frozen=True, slots=True)
class Explanation:
    """One recorded ``breach.explained``, with what later explanations made of it."""

    event_id: str
    clock_id: str
    at: datetime
    reason: BreachReason
    stage: BreachStage
    primary: bool
    comment: str | None
    superseded_by: str | None


def explanations(view: PathwayView) -> tuple[Explanation, ...]:
    """The pathway's breach explanations in clinical order, each marked when superseded."""
    found = [m for m in view.milestones if m.type == "breach.explained"]
    superseded = {m.details["supersedes"]: m.event_id for m in found if "supersedes" in m.details}
    return tuple(
        Explanation(
            event_id=m.event_id,
            clock_id=m.details["clock"],
            at=m.at,
            reason=BreachReason(m.details["reason"]),
            stage=BreachStage(m.details["stage"]),
            primary=bool(m.details.get("primary", True)),
            comment=m.details.get("comment"),
            superseded_by=superseded.get(m.event_id),
        )
        for m in found
    )


def current_primary(view: PathwayView, clock_id: str) -> str | None:
    """The event id of the clock's primary explanation now (the latest primary recorded, as
    the intake counts it), or None: what a replacement must name in ``supersedes``."""
    primaries = [e for e in explanations(view) if e.clock_id == clock_id and e.primary]
    return primaries[-1].event_id if primaries else None


def unexplained_breaches(view: PathwayView, rules: PinnedRules, at: datetime) -> tuple[Clock, ...]:
    """The clock instances breached at ``at`` that no primary explanation answers for yet,
    oldest breach first; none on a pathway whose ruleset has no ``breach.explained``.

    Breached means section 5's status at ``at``: stopped late, or still running past its due
    time. A contributing reason (``primary`` false) leaves the breach unexplained: the primary
    reason is the one the report rolls up.
    """
    if not explains_breaches(rules):
        return ()
    explained = {e.clock_id for e in explanations(view) if e.primary and e.at <= at}
    late = [
        clock
        for clock in view.clocks
        if clock.starts_at <= at
        and clock.status_at(at) is ClockStatus.BREACHED
        and clock.id not in explained
    ]
    return tuple(sorted(late, key=lambda clock: (clock.due_at, clock.id)))
