"""What a letter says, decided without I/O: a pathway's facts turned into the values a template
prints (pathway-spec.md 7).

The templates (``templates/letters/``) hold the wording; the context holds facts already put
into words and times already in the service time zone, so a template never computes anything.
Which letters are owed, to whom and under which key is :mod:`pathway.letters`.

Patient identifiers (name, date of birth, NHS number, MRN) are in the context only for the
recipients entitled to them (:data:`~pathway.letters.ENTITLED`): the clinical-governance
breach report names the pathway by its ids alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pathway.alerts import CATEGORY_WORDS
from pathway.breaches import (
    BREACH_REASON_WORDS,
    BREACH_STAGE_WORDS,
    EXPLAIN_BREACH_DEPLOYMENT,
    current_primary,
    explains_breaches,
    explanations,
    reasons_by_roll_up,
)
from pathway.clocks import Clock, ClockStatus
from pathway.engine import Milestone, PathwayView, evaluate, sort_key
from pathway.errors import LetterNotApplicable
from pathway.events import BreachStage, PathwayEvent, ReferralReceived, Service
from pathway.letters import (
    BREACH_REPORT,
    ENTITLED,
    LATE_LETTER_AFTER,
    LETTERS,
    LetterRequest,
    Recipient,
    letter_owed,
)
from pathway.ruleset import PinnedRules


@dataclass(frozen=True, slots=True)
class Letterhead:
    """The service that sends the letters (settings): printed at the top and in the signature."""

    service_name: str
    organisation: str
    address: tuple[str, ...]
    phone: str
    hotline: str
    email: str | None = None
    logo_uri: str | None = None


WORDS: dict[str, str] = {
    # cancer status
    "known": "known cancer",
    "suspected": "suspected cancer",
    "none": "no known cancer",
    # pain red flags and neurological features (clinical-research.md 2.1, 2.2)
    "thoracic_or_cervical_pain": "thoracic or cervical spinal pain",
    "progressive_lumbar_pain": "progressive lumbar spinal pain",
    "severe_unremitting_lower_spinal_pain": "severe unremitting lower spinal pain",
    "pain_on_straining": "spinal pain aggravated by straining",
    "localised_tenderness": "localised spinal tenderness",
    "nocturnal_pain": "nocturnal spinal pain preventing sleep",
    "radicular_pain": "radicular pain",
    "limb_weakness": "limb weakness",
    "difficulty_walking": "difficulty walking",
    "sensory_loss": "sensory loss",
    "bladder_or_bowel_dysfunction": "bladder or bowel dysfunction",
    "cord_or_cauda_equina_signs": "signs of spinal cord or cauda equina compression",
    # mobility
    "independent": "walking independently",
    "with_aid": "walking with an aid",
    "non_ambulatory": "not able to walk",
    # imaging
    "mri_whole_spine": "MRI of the whole spine",
    "ct_whole_spine": "CT of the whole spine",
    "mscc": "metastatic spinal cord compression",
    "spinal_metastases": "spinal metastases without cord compression",
    "no_spinal_metastases": "no spinal metastases",
    # imaging, version 2 (section 9.1)
    "suspected_primary_bone_tumour": "suspected primary bone tumour",
    "suspected_haematological_malignancy": "suspected haematological malignancy",
    "indeterminate_lesion": "indeterminate spinal lesion",
    "no_malignant_spinal_lesion": "no malignant spinal lesion",
    # board and plan
    "emergency_virtual": "emergency virtual MSCC meeting",
    "spinal": "spinal multidisciplinary team meeting",
    "site_specific": "site-specific multidisciplinary team meeting",
    "surgery": "surgery",
    "radiotherapy": "radiotherapy",
    "surgery_then_radiotherapy": "surgery followed by radiotherapy",
    "systemic_therapy": "systemic anti-cancer therapy",
    "best_supportive_care": "best supportive care",
    "vertebroplasty": "vertebroplasty",
    "curative": "curative",
    "palliative": "palliative",
    # closing
    "treatment_completed": "treatment completed",
    "declined": "the patient declined further treatment",
    "died": "the patient died",
    "transferred": "care transferred to another service",
    "ruled_out": "spinal metastases ruled out",
    "unfit_for_treatment": "not fit for treatment",
    # clock status
    "running": "running",
    "met": "met",
    "breached": "breached",
    "excluded": "excluded",
}

PATIENT_WORDS: dict[str, str] = {
    "mri_whole_spine": "an MRI scan of your whole spine",
    "ct_whole_spine": "a CT scan of your whole spine",
    "surgery": "an operation on your spine",
    "radiotherapy": "radiotherapy (treatment with high-energy X-rays)",
    "surgery_then_radiotherapy": "an operation on your spine, followed by radiotherapy",
    "systemic_therapy": "medicines to treat the cancer, such as chemotherapy",
    "best_supportive_care": "care to keep you comfortable and control your symptoms",
    "mscc": "the cancer is pressing on your spinal cord",
    "spinal_metastases": "the cancer has spread to the bones of your spine, "
    "but it is not pressing on your spinal cord",
    "no_spinal_metastases": "there is no sign of cancer in your spine",
}


HISTOLOGY_WORDS: dict[str, str] = {
    "chordoma": "chordoma",
    "chondrosarcoma": "chondrosarcoma",
    "osteosarcoma": "osteosarcoma",
    "ewing": "Ewing sarcoma",
    "giant_cell_tumour": "giant cell tumour of bone",
    "plasmacytoma_or_myeloma": "plasmacytoma or myeloma",
    "lymphoma": "lymphoma",
    "other": "another tumour type",
}
"""``imaging.reported.suspected_histology`` in words (its own table: ``other`` means another
histology here, not the ``other`` of an advice or a breach reason)."""


def words(code: str | None) -> str:
    """A coded value in words (unknown codes are shown as they are, never dropped)."""
    if code is None:
        return ""
    return WORDS.get(code, code.replace("_", " "))


def levels_words(levels: list[str] | str | None) -> str | None:
    """``T4-T6, L2``: the vertebral levels of a report as one line (section 2.1 stores a list)."""
    if not levels:
        return None
    return levels if isinstance(levels, str) else ", ".join(levels)


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """``Friday 20 November 2026, 14:30 GMT``: a time as the reader's wall clock shows it."""
    local = moment.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M %Z}"


def local_date(day: date) -> str:
    """``20 November 2026``."""
    return f"{day.day} {day:%B %Y}"


def due_words(clock: Clock, zone: ZoneInfo) -> str:
    """When a clock is due, as a reader needs it.

    Hour clocks: the due instant. Day clocks: their ``due_at`` is the first late instant (the
    start of the day after the due date), so the reader is told "by the end of" the due date.
    """
    if clock.kind == "hour":
        return f"by {local_time(clock.due_at, zone)}"
    last_day = (clock.due_at - timedelta(microseconds=1)).astimezone(zone).date()
    return f"by the end of {last_day:%A} {local_date(last_day)}"


BILSKY_WORDS = {
    "0": "disease confined to bone",
    "1a": "epidural impingement without deformation of the thecal sac",
    "1b": "deformation of the thecal sac without abutment of the cord",
    "1c": "deformation of the thecal sac with abutment of the cord, without compression",
    "2": "spinal cord compression, cerebrospinal fluid visible around the cord (high grade)",
    "3": "spinal cord compression, no cerebrospinal fluid visible around the cord (high grade)",
}
"""ESCC (Bilsky) grades in words (clinical-research.md 6.2)."""


def sins_words(score: int | None) -> str | None:
    """The SINS band (clinical-research.md 6.1): 0-6 stable, 7-12 potentially unstable, 13-18
    unstable; 7 and above warrants a surgical opinion."""
    if score is None:
        return None
    if score <= 6:
        return "stable (SINS 0-6)"
    if score <= 12:
        return "potentially unstable (SINS 7-12): spinal surgical opinion advised"
    return "unstable (SINS 13-18): spinal surgical opinion advised"


def duration_words(delta: timedelta) -> str:
    """``2 days 3 hours`` or ``1 hour 5 minutes``: a length of time in words."""
    minutes = max(0, int(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)

    def unit(n: int, name: str) -> str:
        return f"{n} {name}" if n == 1 else f"{n} {name}s"

    if days:
        return f"{unit(days, 'day')} {unit(hours, 'hour')}"
    return f"{unit(hours, 'hour')} {unit(minutes, 'minute')}" if hours else unit(minutes, "minute")


def _referral(events: Sequence[PathwayEvent]) -> ReferralReceived:
    for event in events:
        if isinstance(event, ReferralReceived):
            return event
    raise LetterNotApplicable("pathway", "has no referral")


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _patient_block(referral: ReferralReceived, produced: date) -> dict[str, Any]:
    patient = referral.data.patient
    nhs = patient.nhs_number
    return {
        "name": f"{patient.given_name} {patient.family_name}",
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "date_of_birth": local_date(patient.date_of_birth),
        "age": _age(patient.date_of_birth, produced),
        "nhs_number": f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}" if nhs else None,
        "mrn": patient.mrn,
    }


def _addressee(
    recipient: Recipient, referral: ReferralReceived, trigger: Milestone | None = None
) -> dict[str, Any]:
    """Name, address lines and salutation. cordwatch holds no postal or practice addresses:
    the hospital's document service routes a letter by role and the patient's identifiers."""
    referrer = referral.data.referrer
    patient = referral.data.patient
    details = trigger.details if trigger is not None else {}
    if recipient is Recipient.REFERRER:
        lines = [referrer.name, referrer.organisation]
        if referrer.contact:
            lines.append(referrer.contact)
        return {"lines": lines, "salutation": f"Dear {referrer.name}"}
    if recipient is Recipient.PATIENT:
        name = f"{patient.given_name} {patient.family_name}"
        return {
            "lines": [name, "Address as held on the hospital record"],
            "salutation": f"Dear {name}",
        }
    if recipient is Recipient.GP:
        return {
            "lines": [
                "The patient's registered general practitioner",
                "Address as held on the NHS Spine (Personal Demographics Service)",
            ],
            "salutation": "Dear Doctor",
        }
    if recipient is Recipient.RADIOLOGY:
        return {
            "lines": ["Radiology department", "Urgent MRI booking (duty radiographer)"],
            "salutation": "Dear colleague",
        }
    if recipient is Recipient.BONE_SARCOMA_CENTRE:
        return {
            "lines": [
                "Bone sarcoma multidisciplinary team",
                details.get("organisation") or "The designated bone sarcoma centre",
            ],
            "salutation": "Dear colleagues",
        }
    if recipient is Recipient.HAEMATOLOGY:
        return {
            "lines": [
                "Haematology team (on-call haematologist)",
                details.get("organisation") or "Haematology department",
            ],
            "salutation": "Dear colleague",
        }
    if recipient is Recipient.REQUESTER:
        # No event names who asked for a biopsy or an operation: the letter names the role,
        # and the MSCC coordinator, who receives it, finds the clinician and passes it on.
        role = (
            "The surgeon responsible for the spinal operation"
            if trigger is not None and trigger.type == "treatment.started"
            else "The clinician who requested the biopsy"
        )
        return {
            "lines": [role, "Via the MSCC coordinator, to be passed on at once"],
            "salutation": "Dear colleague",
        }
    return {
        "lines": ["Service lead for metastatic spinal cord compression", "Clinical governance"],
        "salutation": "Dear service lead",
    }


def _milestone(view: PathwayView, event_id: str | None, types: tuple[str, ...]) -> Milestone:
    expected = " or ".join(types)
    for milestone in view.milestones:
        if milestone.event_id == event_id:
            if milestone.type not in types:
                raise LetterNotApplicable(
                    "event_id", f"is a {milestone.type} event, not {expected}"
                )
            return milestone
    raise LetterNotApplicable("event_id", f"no {expected} event {event_id!r} on this pathway")


def _clock_row(
    clock: Clock, at: datetime, rules: PinnedRules, *, produced_at: datetime | None = None
) -> dict[str, Any]:
    zone = rules.zone
    status = clock.status_at(at)
    row: dict[str, Any] = {
        "id": clock.id,
        "title": rules.ruleset.rule(clock.id).title,
        "limit": clock.limit,
        "local": clock.local,
        "started": local_time(clock.starts_at, zone),
        "due": due_words(clock, zone),
        # A row of "what happens next" whose due moment passed before the letter was
        # produced reads "was due by", never as a promise.
        "due_past": produced_at is not None and clock.due_at <= produced_at,
        "status": words(status.value),
        "stopped": local_time(clock.stopped_at, zone)
        if clock.stopped_at is not None and clock.stopped_at <= at
        else None,
        "reason": words(clock.reason) if clock.reason else None,
    }
    return row


def _running_clocks(
    view: PathwayView, at: datetime, rules: PinnedRules, produced_at: datetime
) -> list[dict[str, Any]]:
    return [
        _clock_row(c, at, rules, produced_at=produced_at)
        for c in sorted(view.clocks, key=lambda c: c.due_at)
        if c.starts_at <= at
        and c.status_at(at) in (ClockStatus.RUNNING, ClockStatus.BREACHED)
        and (c.stopped_at is None or c.stopped_at > at)
    ]


def _first(view: PathwayView, type_: str) -> Milestone | None:
    return next((m for m in view.milestones if m.type == type_), None)


def _last(view: PathwayView, type_: str) -> Milestone | None:
    found = [m for m in view.milestones if m.type == type_]
    return found[-1] if found else None


def _clinical(referral: ReferralReceived, view: PathwayView) -> dict[str, Any]:
    data = referral.data
    neuro = [words(f.value) for f in data.neuro_features]
    for m in view.milestones:
        if m.type == "neuro.deteriorated":
            neuro.extend(
                words(f) for f in m.details.get("neuro_features", []) if words(f) not in neuro
            )
    return {
        "category": CATEGORY_WORDS.get(view.category.value, view.category.value),
        "category_code": view.category.value,
        "emergency": view.category.value == "suspected_mscc",
        "cancer_status": words(data.cancer_status.value),
        "primary_site": data.primary_site,
        "pain_features": [words(f.value) for f in data.pain_features],
        "neuro_features": neuro,
        "ambulatory_status": words(data.ambulatory_status.value)
        if data.ambulatory_status
        else None,
        "symptom_onset": local_date(data.symptom_onset) if data.symptom_onset else None,
    }


def _events_until(events: Sequence[PathwayEvent], event_id: str | None) -> list[PathwayEvent]:
    """The events up to and including the trigger, in clinical order: a letter tells what was
    known when its cause happened, even when it is produced later."""
    if event_id is None:
        return list(events)
    trigger = next((e for e in events if e.event_id == event_id), None)
    if trigger is None:
        raise LetterNotApplicable("event_id", f"no event {event_id!r} on this pathway")
    cut = sort_key(trigger)
    return [e for e in events if sort_key(e) <= cut]


@dataclass(frozen=True, slots=True)
class PathwayFacts:
    """Everything a letter may draw on: the pathway's ids, events, evaluated view and rules."""

    pathway_id: str
    events: tuple[PathwayEvent, ...]
    rules: PinnedRules


def letter_context(
    request: LetterRequest,
    facts: PathwayFacts,
    *,
    letterhead: Letterhead,
    produced_at: datetime,
) -> dict[str, Any]:
    """The values the template of ``request.name`` prints, for ``request.recipient``.

    Args:
        produced_at: the letter's date; the moment a breach report measures lateness at. A
            letter produced more than :data:`LATE_LETTER_AFTER` after its event carries
            ``late`` (both dates); every ``*_due`` target already past at it is marked in
            ``past`` (and ``due_past`` on each clock row), for "was due by" wording.

    Raises:
        LetterNotApplicable: the pathway has no fact this letter is about.
    """
    spec = LETTERS.get(request.name)
    if spec is None:
        raise LetterNotApplicable("letter", f"unknown letter {request.name!r}")
    if request.recipient not in spec.recipients:
        raise LetterNotApplicable(
            "recipient", f"{request.name} is not addressed to {request.recipient.value}"
        )
    rules = facts.rules
    zone = rules.zone
    referral = _referral(facts.events)
    view = evaluate(_events_until(facts.events, request.event_id), rules)
    produced_local = produced_at.astimezone(zone)
    context: dict[str, Any] = {
        "letter": {"name": spec.name, "title": spec.title},
        "letterhead": letterhead,
        "recipient": request.recipient.value,
        "date": local_date(produced_local.date()),
        "pathway_id": facts.pathway_id,
        "reference": referral.pathway,
        "ruleset": rules.label,
        "referrer": {
            "name": referral.data.referrer.name,
            "organisation": referral.data.referrer.organisation,
            "contact": referral.data.referrer.contact,
        },
        "referred_at": local_time(view.referred_at, zone),
        "patient": _patient_block(referral, produced_local.date())
        if request.recipient in ENTITLED
        else None,
        "clinical": _clinical(referral, view),
    }
    if spec.name == BREACH_REPORT:
        # A breach report is about the clock as it stands when produced: never late.
        context["addressee"] = _addressee(request.recipient, referral)
        context["late"] = None
        context.update(_breach(request, facts, rules, produced_at))
        return context
    trigger = _milestone(view, request.event_id, spec.event_types)
    event = next(e for e in facts.events if e.event_id == trigger.event_id)
    if not letter_owed(spec, event, view):
        # A referral to another service, or a biopsy a back-dated review no longer flags:
        # the letter's cause is gone (the shell cancels it, saying why).
        raise LetterNotApplicable("event_id", f"this {trigger.type} event owes no {spec.name}")
    context["addressee"] = _addressee(request.recipient, referral, trigger)
    at = trigger.at
    context["event"] = {"at": local_time(at, zone), "recorded_by": _recorded_by(facts, trigger)}
    context["late"] = (
        {"produced": context["date"], "event": local_date(at.astimezone(zone).date())}
        if produced_at - at > LATE_LETTER_AFTER
        else None
    )
    context["running_clocks"] = _running_clocks(view, at, rules, produced_at)
    context["past"] = {}
    for key, value in _SPECIFIC[spec.name](view, trigger, rules).items():
        if key.endswith("_due"):
            # A target is printed in words; the template says "was due by" for one already
            # past when the letter is produced, so a late letter never promises a past date.
            context[key] = due_words(value, zone) if value is not None else None
            context["past"][key] = value is not None and value.due_at <= produced_at
        else:
            context[key] = value
    return context


def _recorded_by(facts: PathwayFacts, milestone: Milestone) -> str | None:
    event = next(e for e in facts.events if e.event_id == milestone.event_id)
    return event.recorded_by


def _clock_due(view: PathwayView, clock_id: str, rules: PinnedRules) -> Clock | None:
    """The latest instance of a clock: a ``*_due`` value, put into words by the caller."""
    return next((c for c in reversed(view.clocks) if c.id == clock_id), None)


def _acknowledgement(view: PathwayView, trigger: Milestone, rules: PinnedRules) -> dict[str, Any]:
    return {
        "coordinator_due": _clock_due(view, "COORD-MSCC", rules)
        or _clock_due(view, "COORD-METS", rules),
        "mri_due": _clock_due(view, "MRI-MSCC", rules) or _clock_due(view, "MRI-METS", rules),
        "plan_due": _clock_due(view, "PLAN-METS", rules),
        "steroids_due": _clock_due(view, "STEROID-MSCC", rules),
        "needs_review": view.category.value == "needs_review",
    }


def _imaging_request(view: PathwayView, trigger: Milestone, rules: PinnedRules) -> dict[str, Any]:
    details = trigger.details
    modality = details["modality"]
    return {
        "modality": words(modality),
        "is_ct": modality == "ct_whole_spine",
        "ct_reason": details.get("reason"),
        "mri_due": _clock_due(view, "MRI-MSCC", rules) or _clock_due(view, "MRI-METS", rules),
    }


_PRIMARY_FINDINGS = ("suspected_primary_bone_tumour", "indeterminate_lesion")
"""Findings that put a primary bone tumour under review (the guard's, section 9.1)."""

_HAEM_FINDINGS = ("suspected_haematological_malignancy",)

_VARIANTS = {
    "suspected_primary_bone_tumour": "primary_tumour",
    "indeterminate_lesion": "indeterminate",
    "suspected_haematological_malignancy": "haematological",
}
"""The imaging outcome's wording for each version-2 lesion finding (section 9.5)."""


def _finding_words(details: dict[str, Any]) -> str:
    """A report's finding in words; version 2's spinal metastases *with* compression is
    MSCC, never the version-1 words "without cord compression"."""
    finding = details["finding"]
    if finding == "spinal_metastases" and details.get("cord_compression") is True:
        return "spinal metastases with spinal cord compression"
    return words(finding)


def _report_facts(report: Milestone | None, view: PathwayView, zone: ZoneInfo) -> dict[str, Any]:
    """What a report said, for a letter that passes it on (a referral, a caution)."""
    if report is None:
        return {"present": False}
    details = report.details
    performed = [m for m in view.milestones if m.type == "imaging.performed" and m.at <= report.at]
    return {
        "present": True,
        "finding_words": _finding_words(details),
        "histology": HISTOLOGY_WORDS.get(details.get("suspected_histology") or ""),
        "levels": levels_words(details.get("levels")),
        "cord_compression": details.get("cord_compression"),
        "bilsky_grade": details.get("bilsky_grade"),
        "bilsky_words": BILSKY_WORDS.get(details.get("bilsky_grade") or ""),
        "sins": details.get("sins"),
        "sins_words": sins_words(details.get("sins")),
        "reported_at": local_time(report.at, zone),
        "modality": words(performed[-1].details.get("modality")) if performed else None,
        "scanned_at": local_time(performed[-1].at, zone) if performed else None,
    }


def _latest_report(view: PathwayView, findings: tuple[str, ...]) -> Milestone | None:
    """The latest report of one of ``findings``, else the latest report of any finding."""
    reports = [m for m in view.milestones if m.type == "imaging.reported"]
    matching = [m for m in reports if m.details.get("finding") in findings] or reports
    return matching[-1] if matching else None


def _referral_to(view: PathwayView, service: Service, zone: ZoneInfo) -> dict[str, Any] | None:
    """The latest referral to ``service`` so far: where to, and when."""
    found = [
        m
        for m in view.milestones
        if m.type == "specialist.referred" and m.details.get("service") == service.value
    ]
    if not found:
        return None
    return {
        "organisation": found[-1].details.get("organisation"),
        "at": local_time(found[-1].at, zone),
    }


def _running_due(view: PathwayView, clock_id: str, at: datetime) -> Clock | None:
    """The instance of a clock still running at ``at`` (a target the letter can name)."""
    return next(
        (
            c
            for c in reversed(view.clocks)
            if c.id == clock_id
            and c.starts_at <= at
            and (c.stopped_at is None or c.stopped_at > at)
        ),
        None,
    )


def _imaging_outcome(view: PathwayView, trigger: Milestone, rules: PinnedRules) -> dict[str, Any]:
    details = trigger.details
    performed = _last(view, "imaging.performed")
    return {
        "finding": details["finding"],
        "finding_words": _finding_words(details),
        "levels": levels_words(details.get("levels")),
        "bilsky_grade": details.get("bilsky_grade"),
        "sins": details.get("sins"),
        "sins_words": sins_words(details.get("sins")),
        "bilsky_words": BILSKY_WORDS.get(details.get("bilsky_grade") or ""),
        "modality": words(performed.details.get("modality")) if performed else None,
        "scanned_at": local_time(performed.at, rules.zone) if performed else None,
        "plan_due": _clock_due(view, "PLAN-MSCC", rules) or _clock_due(view, "PLAN-METS", rules),
        "steroids_given": _first(view, "steroids.started") is not None,
        "steroids_to_stop": view.steroids_to_stop,
        # Version 2: a no-lesion report closes only when no lesion was reported before it.
        "ruled_out": view.closed_reason == "ruled_out" and view.closed_at == trigger.at,
        "cord_compression": details.get("cord_compression") is True,
        # Version 2 (section 9.5): the wording of a lesion that is not a metastasis.
        "compression_reported": "cord_compression" in details,
        "variant": _VARIANTS.get(details["finding"]),
        "histology": HISTOLOGY_WORDS.get(details.get("suspected_histology") or ""),
        "sarcoma_referral": _referral_to(view, Service.BONE_SARCOMA_CENTRE, rules.zone),
        "sarcoma_referral_due": _running_due(view, "SARC-REFER", trigger.at),
        "haematology_referral": _referral_to(view, Service.HAEMATOLOGY, rules.zone),
        "haematology_referral_due": _running_due(view, "HAEM-REFER", trigger.at),
        "haematology_advisory": view.haematology_advisory,
        "steroids_withheld": _first(view, "steroids.withheld") is not None,
    }


def _mdt_outcome(view: PathwayView, trigger: Milestone, rules: PinnedRules) -> dict[str, Any]:
    details = trigger.details
    plan = details["plan"]
    listed = _last(view, "mdt.listed")
    return {
        "plan": plan,
        "plan_words": words(plan),
        "plan_patient_words": PATIENT_WORDS.get(plan, words(plan)),
        "decision_to_treat": bool(details["decision_to_treat"]),
        "intent": words(details.get("intent")) or None,
        "reason": details.get("reason"),
        "board": words(listed.details.get("board")) if listed else None,
        "radiotherapy_due": _clock_due(view, "RT-24H", rules),
        "surgery_due": _clock_due(view, "SURGERY", rules),
        "steroids_started": _first(view, "steroids.started") is not None,
    }


def _treatment_summary(view: PathwayView, trigger: Milestone, rules: PinnedRules) -> dict[str, Any]:
    zone = rules.zone
    decided = _last(view, "mdt.decided")
    treatments = [
        {"modality": words(m.details.get("modality")), "at": local_time(m.at, zone)}
        for m in view.milestones
        if m.type == "treatment.started"
    ]
    outcomes = [
        {
            "at": m.details.get("at"),
            "recorded": local_time(m.at, zone),
            "ambulatory_status": words(m.details.get("ambulatory_status")),
            "frankel_grade": m.details.get("frankel_grade"),
        }
        for m in view.milestones
        if m.type == "outcome.recorded"
    ]
    report = _last(view, "imaging.reported")
    return {
        "closed_reason": words(trigger.details.get("reason")),
        "finding_words": words(report.details.get("finding")) if report else None,
        "levels": levels_words(report.details.get("levels")) if report else None,
        "plan_words": words(decided.details.get("plan")) if decided else None,
        "intent": words(decided.details.get("intent")) or None if decided else None,
        "treatments": treatments,
        "outcomes": outcomes,
        "steroids_started": _first(view, "steroids.started") is not None,
        "clocks": [_clock_row(c, trigger.at, rules) for c in view.clocks],
    }


def _patient_information(
    view: PathwayView, trigger: Milestone, rules: PinnedRules
) -> dict[str, Any]:
    """The acknowledgement's targets; once the bone sarcoma centre is asked to lead (version
    2), the centre and its review target instead (the variant of section 9.5)."""
    facts = _acknowledgement(view, trigger, rules)
    if trigger.type == "specialist.referred":
        facts["specialist_centre"] = {"organisation": trigger.details.get("organisation")}
        facts["review_due"] = _running_due(view, "SARC-REVIEW", trigger.at)
    else:
        facts["specialist_centre"] = None
        facts["review_due"] = None
    return facts


def _history(view: PathwayView, zone: ZoneInfo) -> dict[str, Any]:
    """Biopsies, histology, treatments and steroids so far: what a specialist must know
    before advising (a biopsy already done changes the centre's plan)."""
    biopsies = [
        {
            "what": "requested" if m.type == "biopsy.requested" else "performed",
            "at": local_time(m.at, zone),
            "method": m.details.get("method"),
            "site_agreed": m.details.get("site_agreed_with_treating_centre"),
        }
        for m in view.milestones
        if m.type in ("biopsy.requested", "biopsy.performed")
    ]
    histology = [
        {
            "at": local_time(m.at, zone),
            "malignant": bool(m.details.get("malignant")),
            "histology": m.details.get("histology"),
        }
        for m in view.milestones
        if m.type == "histology.reported"
    ]
    treatments = [
        {"modality": words(m.details.get("modality")), "at": local_time(m.at, zone)}
        for m in view.milestones
        if m.type == "treatment.started"
    ]
    started = _first(view, "steroids.started")
    withheld = _first(view, "steroids.withheld")
    return {
        "biopsies": biopsies,
        "histology_reports": histology,
        "treatments": treatments,
        "steroids_started": local_time(started.at, zone) if started else None,
        "steroids_withheld": withheld.details.get("reason") if withheld else None,
    }


def _sarcoma_referral(view: PathwayView, trigger: Milestone, rules: PinnedRules) -> dict[str, Any]:
    return {
        "organisation": trigger.details.get("organisation"),
        "report": _report_facts(_latest_report(view, _PRIMARY_FINDINGS), view, rules.zone),
        **_history(view, rules.zone),
        "review_due": _running_due(view, "SARC-REVIEW", trigger.at),
    }


def _haematology_referral(
    view: PathwayView, trigger: Milestone, rules: PinnedRules
) -> dict[str, Any]:
    return {
        "organisation": trigger.details.get("organisation"),
        "report": _report_facts(_latest_report(view, _HAEM_FINDINGS), view, rules.zone),
        **_history(view, rules.zone),
        "haematology_advisory": view.haematology_advisory,
    }


_ACTIONS = {
    "biopsy.requested": "biopsy_requested",
    "biopsy.performed": "biopsy_performed",
    "treatment.started": "surgery_started",
}


def _biopsy_caution(view: PathwayView, trigger: Milestone, rules: PinnedRules) -> dict[str, Any]:
    zone = rules.zone
    return {
        "action": _ACTIONS[trigger.type],
        "method": trigger.details.get("method"),
        "site_agreed": trigger.details.get("site_agreed_with_treating_centre"),
        "report": _report_facts(_latest_report(view, _PRIMARY_FINDINGS), view, zone),
        "sarcoma_referral": _referral_to(view, Service.BONE_SARCOMA_CENTRE, zone),
        "sarcoma_referral_due": _running_due(view, "SARC-REFER", trigger.at),
    }


_SPECIFIC = {
    "referral_acknowledgement": _acknowledgement,
    "patient_information": _patient_information,
    "imaging_request": _imaging_request,
    "imaging_outcome": _imaging_outcome,
    "mdt_outcome": _mdt_outcome,
    "treatment_summary": _treatment_summary,
    "sarcoma_centre_referral": _sarcoma_referral,
    "biopsy_caution": _biopsy_caution,
    "haematology_referral": _haematology_referral,
}


def _breach(
    request: LetterRequest, facts: PathwayFacts, rules: PinnedRules, produced_at: datetime
) -> dict[str, Any]:
    if request.clock_id is None or request.clock_starts_at is None:
        raise LetterNotApplicable("clock_id", "a breach report names a clock instance")
    view_all = evaluate(facts.events, rules)
    clock = next(
        (
            c
            for c in view_all.clocks
            if c.id == request.clock_id and c.starts_at == request.clock_starts_at
        ),
        None,
    )
    if clock is None:
        raise LetterNotApplicable(
            "clock_id", f"no {request.clock_id} clock started at that time on this pathway"
        )
    if clock.status_at(produced_at) is not ClockStatus.BREACHED:
        raise LetterNotApplicable("clock_id", f"{request.clock_id} has not breached")
    zone = rules.zone
    end = clock.stopped_at if clock.stopped_at is not None else produced_at
    late_by = end - clock.due_at
    return {
        "clock": _clock_row(clock, produced_at, rules),
        "still_running": clock.stopped_at is None,
        "late_by": duration_words(late_by),
        "due_at": local_time(clock.due_at, zone),
        "milestones": [{"type": m.type, "at": local_time(m.at, zone)} for m in view_all.milestones],
        "sources": ", ".join(rules.ruleset.rule(clock.id).sources),
        "explain": _breach_explain(facts, view_all, clock, rules, produced_at)
        if explains_breaches(rules)
        else None,
    }


def _breach_explain(
    facts: PathwayFacts,
    view: PathwayView,
    clock: Clock,
    rules: PinnedRules,
    produced_at: datetime,
) -> dict[str, Any]:
    """How to record the breach's reason (version 2: ``breach.explained``), and the reasons
    already recorded for this clock when the report is produced.

    The command line is the one a coordinator types (``cordwatch record``), with this pathway's
    ``PW-`` id and the clock filled in; only what the reader must decide is left in capitals.
    """
    recorded_by = {e.event_id: e.recorded_by for e in facts.events}
    recorded = [
        {
            "at": local_time(e.at, rules.zone),
            "reason": e.reason.value,
            "reason_words": BREACH_REASON_WORDS[e.reason],
            "stage": e.stage.value,
            "stage_words": BREACH_STAGE_WORDS[e.stage],
            "primary": e.primary,
            "comment": e.comment,
            "recorded_by": recorded_by.get(e.event_id),
            "superseded": e.superseded_by is not None,
            "event_id": e.event_id,
        }
        for e in explanations(view)
        if e.clock_id == clock.id
    ]
    return {
        "command": f"cordwatch record {facts.pathway_id} breach.explained --at TIME --by NAME "
        f"--data clock={clock.id} --data reason=REASON --data stage=STAGE",
        # An example the reader can copy: the report's own moment, when the clock is breached.
        "example_at": produced_at.astimezone(rules.zone).isoformat(timespec="minutes"),
        "deployment": EXPLAIN_BREACH_DEPLOYMENT,
        "reasons": reasons_by_roll_up(),
        "stages": [stage.value for stage in BreachStage],
        "recorded": recorded,
        "explained": current_primary(view, clock.id) is not None,
    }
