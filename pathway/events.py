"""Inbound pathway events: the JSON envelope of pathway-spec.md sections 2 and 3, validated strictly.

Every event is a frozen pydantic model. Unknown fields, naive times, unknown types and values
outside the enumerations are rejected; :func:`parse_event` turns pydantic's errors into one
:class:`~pathway.errors.EventRejected` naming the field, so a feed can be told exactly what to fix.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from pathway.errors import EventRejected
from pathway.nhs_number import normalise_nhs_number


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
Text = Annotated[str, Field(min_length=1, max_length=500)]
EventId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[!-~]+$")]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class CancerStatus(StrEnum):
    KNOWN = "known"
    SUSPECTED = "suspected"
    NONE = "none"


class PainFeature(StrEnum):
    """Pain red flags of suspected spinal metastases (clinical-research.md 2.1)."""

    THORACIC_OR_CERVICAL_PAIN = "thoracic_or_cervical_pain"
    PROGRESSIVE_LUMBAR_PAIN = "progressive_lumbar_pain"
    SEVERE_UNREMITTING_LOWER_SPINAL_PAIN = "severe_unremitting_lower_spinal_pain"
    PAIN_ON_STRAINING = "pain_on_straining"
    LOCALISED_TENDERNESS = "localised_tenderness"
    NOCTURNAL_PAIN = "nocturnal_pain"


class NeuroFeature(StrEnum):
    """Neurological symptoms and signs of suspected MSCC (clinical-research.md 2.2)."""

    RADICULAR_PAIN = "radicular_pain"
    LIMB_WEAKNESS = "limb_weakness"
    DIFFICULTY_WALKING = "difficulty_walking"
    SENSORY_LOSS = "sensory_loss"
    BLADDER_OR_BOWEL_DYSFUNCTION = "bladder_or_bowel_dysfunction"
    CORD_OR_CAUDA_EQUINA_SIGNS = "cord_or_cauda_equina_signs"


class AmbulatoryStatus(StrEnum):
    INDEPENDENT = "independent"
    WITH_AID = "with_aid"
    NON_AMBULATORY = "non_ambulatory"


class Category(StrEnum):
    """Triage category (pathway-spec.md section 4), ordered by urgency via :data:`CATEGORY_RANK`."""

    NEEDS_REVIEW = "needs_review"
    SUSPECTED_SPINAL_METASTASES = "suspected_spinal_metastases"
    SUSPECTED_MSCC = "suspected_mscc"


CATEGORY_RANK: dict[Category, int] = {
    Category.NEEDS_REVIEW: 0,
    Category.SUSPECTED_SPINAL_METASTASES: 1,
    Category.SUSPECTED_MSCC: 2,
}


class Modality(StrEnum):
    MRI_WHOLE_SPINE = "mri_whole_spine"
    CT_WHOLE_SPINE = "ct_whole_spine"


class Finding(StrEnum):
    """Every finding any ruleset version knows; a ruleset lists those it accepts (section 9.1)."""

    MSCC = "mscc"
    SPINAL_METASTASES = "spinal_metastases"
    NO_SPINAL_METASTASES = "no_spinal_metastases"
    SUSPECTED_PRIMARY_BONE_TUMOUR = "suspected_primary_bone_tumour"
    SUSPECTED_HAEMATOLOGICAL_MALIGNANCY = "suspected_haematological_malignancy"
    INDETERMINATE_LESION = "indeterminate_lesion"
    NO_MALIGNANT_SPINAL_LESION = "no_malignant_spinal_lesion"


class Histology(StrEnum):
    """``imaging.reported.suspected_histology`` (section 9.1)."""

    CHORDOMA = "chordoma"
    CHONDROSARCOMA = "chondrosarcoma"
    OSTEOSARCOMA = "osteosarcoma"
    EWING = "ewing"
    GIANT_CELL_TUMOUR = "giant_cell_tumour"
    PLASMACYTOMA_OR_MYELOMA = "plasmacytoma_or_myeloma"
    LYMPHOMA = "lymphoma"
    OTHER = "other"


class Service(StrEnum):
    """A specialist service a pathway is referred to (section 9.1)."""

    BONE_SARCOMA_CENTRE = "bone_sarcoma_centre"
    HAEMATOLOGY = "haematology"
    SPINAL_SURGERY = "spinal_surgery"
    CLINICAL_ONCOLOGY = "clinical_oncology"
    SITE_SPECIFIC_MDT = "site_specific_mdt"


class ReviewMode(StrEnum):
    MDT = "mdt"
    VIRTUAL_CLINIC = "virtual_clinic"
    CLINIC = "clinic"
    TELEPHONE_ADVICE = "telephone_advice"


class Advice(StrEnum):
    BIOPSY_AT_TREATING_CENTRE = "biopsy_at_treating_centre"
    BIOPSY_LOCALLY_AS_AGREED = "biopsy_locally_as_agreed"
    NOT_PRIMARY_BONE_TUMOUR = "not_primary_bone_tumour"
    NOT_HAEMATOLOGICAL_MALIGNANCY = "not_haematological_malignancy"
    OTHER = "other"


class BreachStage(StrEnum):
    """Where on the pathway a breach arose (section 9.4)."""

    PATIENT_PRE_PRESENTATION = "patient_pre_presentation"
    PRIMARY_CARE = "primary_care"
    REFERRING_HOSPITAL = "referring_hospital"
    COORDINATOR_TRIAGE = "coordinator_triage"
    IMAGING = "imaging"
    REPORTING = "reporting"
    TREATING_CENTRE = "treating_centre"
    INTER_PROVIDER_TRANSFER = "inter_provider_transfer"
    UNKNOWN = "unknown"


class BreachReason(StrEnum):
    """Why a clock breached (section 9.4); :data:`BREACH_ROLL_UP` gives its roll-up."""

    PATIENT_DECLINED_OFFERED_DATE = "patient_declined_offered_date"
    PATIENT_UNAVAILABLE = "patient_unavailable"
    PATIENT_CANCELLED = "patient_cancelled"
    PATIENT_DID_NOT_ATTEND = "patient_did_not_attend"
    PATIENT_CHOSE_TIME_TO_DECIDE = "patient_chose_time_to_decide"
    MEDICALLY_UNFIT_OR_DETERIORATED = "medically_unfit_or_deteriorated"
    CLINICAL_COMPLEXITY = "clinical_complexity"
    CLINICALLY_APPROPRIATE_INTERVAL = "clinically_appropriate_interval"
    CLINIC_CANCELLATION = "clinic_cancellation"
    OUTPATIENT_CAPACITY = "outpatient_capacity"
    IMAGING_CAPACITY = "imaging_capacity"
    REPORTING_CAPACITY = "reporting_capacity"
    THEATRE_OR_SURGEON_CAPACITY = "theatre_or_surgeon_capacity"
    RADIOTHERAPY_CAPACITY = "radiotherapy_capacity"
    BED_OR_TRANSFER_CAPACITY = "bed_or_transfer_capacity"
    COORDINATOR_UNAVAILABLE = "coordinator_unavailable"
    ADMINISTRATIVE_DELAY = "administrative_delay"
    LATE_OR_INCOMPLETE_REFERRAL = "late_or_incomplete_referral"
    COMMUNICATION_FAILURE = "communication_failure"
    NOT_COMMISSIONED_ENGLISH_NHS = "not_commissioned_english_nhs"
    OTHER = "other"


BREACH_ROLL_UP: dict[BreachReason, tuple[str, str | None]] = {
    BreachReason.PATIENT_DECLINED_OFFERED_DATE: ("patient", "06"),
    BreachReason.PATIENT_UNAVAILABLE: ("patient", "05"),
    BreachReason.PATIENT_CANCELLED: ("patient", "07"),
    BreachReason.PATIENT_DID_NOT_ATTEND: ("patient", None),
    BreachReason.PATIENT_CHOSE_TIME_TO_DECIDE: ("patient", None),
    BreachReason.MEDICALLY_UNFIT_OR_DETERIORATED: ("clinical", None),
    BreachReason.CLINICAL_COMPLEXITY: ("clinical", None),
    BreachReason.CLINICALLY_APPROPRIATE_INTERVAL: ("clinical", None),
    BreachReason.CLINIC_CANCELLATION: ("capacity", "01"),
    BreachReason.OUTPATIENT_CAPACITY: ("capacity", "02"),
    BreachReason.IMAGING_CAPACITY: ("capacity", None),
    BreachReason.REPORTING_CAPACITY: ("capacity", None),
    BreachReason.THEATRE_OR_SURGEON_CAPACITY: ("capacity", None),
    BreachReason.RADIOTHERAPY_CAPACITY: ("capacity", None),
    BreachReason.BED_OR_TRANSFER_CAPACITY: ("capacity", None),
    BreachReason.COORDINATOR_UNAVAILABLE: ("process", None),
    BreachReason.ADMINISTRATIVE_DELAY: ("process", "03"),
    BreachReason.LATE_OR_INCOMPLETE_REFERRAL: ("process", None),
    BreachReason.COMMUNICATION_FAILURE: ("process", None),
    BreachReason.NOT_COMMISSIONED_ENGLISH_NHS: ("external", "08"),
    BreachReason.OTHER: ("other", "98"),
}
"""Section 9.4: each reason's roll-up for reports and its CWT first-seen code, if any."""


class Board(StrEnum):
    EMERGENCY_VIRTUAL = "emergency_virtual"
    SPINAL = "spinal"
    SITE_SPECIFIC = "site_specific"


class Plan(StrEnum):
    SURGERY = "surgery"
    RADIOTHERAPY = "radiotherapy"
    SURGERY_THEN_RADIOTHERAPY = "surgery_then_radiotherapy"
    SYSTEMIC_THERAPY = "systemic_therapy"
    BEST_SUPPORTIVE_CARE = "best_supportive_care"


class TreatmentModality(StrEnum):
    SURGERY = "surgery"
    RADIOTHERAPY = "radiotherapy"
    SYSTEMIC_THERAPY = "systemic_therapy"
    VERTEBROPLASTY = "vertebroplasty"


class ClosedReason(StrEnum):
    TREATMENT_COMPLETED = "treatment_completed"
    DECLINED = "declined"
    DIED = "died"
    TRANSFERRED = "transferred"
    RULED_OUT = "ruled_out"
    UNFIT_FOR_TREATMENT = "unfit_for_treatment"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class Patient(_Strict):
    """Patient identifiers: kept in the database and in letters to entitled recipients only."""

    nhs_number: str | None = None
    mrn: ShortText | None = None
    given_name: ShortText
    family_name: ShortText
    date_of_birth: date
    sex: Sex | None = None

    @field_validator("nhs_number")
    @classmethod
    def _valid_nhs_number(cls, value: str | None) -> str | None:
        return None if value is None else normalise_nhs_number(value)

    @model_validator(mode="after")
    def _one_identifier(self) -> Patient:
        if self.nhs_number is None and self.mrn is None:
            raise ValueError("at least one of nhs_number or mrn is required")
        return self


class Referrer(_Strict):
    name: ShortText
    organisation: ShortText
    contact: ShortText | None = None


class ReferralReceivedData(_Strict):
    patient: Patient
    referrer: Referrer
    cancer_status: CancerStatus
    primary_site: ShortText | None = None
    pain_features: list[PainFeature]
    neuro_features: list[NeuroFeature]
    ambulatory_status: AmbulatoryStatus | None = None
    symptom_onset: date | None = None


class TriageOverriddenData(_Strict):
    category: Category
    reason: Text


class NeuroDeterioratedData(_Strict):
    neuro_features: Annotated[list[NeuroFeature], Field(min_length=1)]


class CoordinatorContactedData(_Strict):
    coordinator: ShortText


class SteroidsStartedData(_Strict):
    drug: ShortText
    dose_mg: Annotated[float, Field(gt=0, le=1000)]


class SteroidsWithheldData(_Strict):
    reason: Text


class ImagingRequestedData(_Strict):
    modality: Modality
    reason: Text | None = None

    @model_validator(mode="after")
    def _ct_needs_reason(self) -> ImagingRequestedData:
        # E1: CT instead of MRI only when MRI is contraindicated, and the reason is kept.
        if self.modality is Modality.CT_WHOLE_SPINE and self.reason is None:
            raise ValueError("reason: required when the modality is ct_whole_spine (E1)")
        return self


class ImagingPerformedData(_Strict):
    modality: Modality


_SPINE: tuple[str, ...] = (
    *(f"C{n}" for n in range(1, 8)),
    *(f"T{n}" for n in range(1, 13)),
    *(f"L{n}" for n in range(1, 6)),
    *(f"S{n}" for n in range(1, 6)),
)
"""Every vertebral level, from the top of the spine down (pathway-spec.md section 2.1)."""

_SPINE_RANK = {level: rank for rank, level in enumerate(_SPINE)}

_LEVELS_HELP = (
    "a list of vertebral levels (C1-C7, T1-T12, L1-L5, S1-S5) or ranges such as T4-T6, "
    "upper level first"
)


def _is_level_or_range(item: object) -> bool:
    if not isinstance(item, str):
        return False
    if item in _SPINE_RANK:
        return True
    upper, dash, lower = item.partition("-")
    return (
        dash == "-"
        and upper in _SPINE_RANK
        and lower in _SPINE_RANK
        and _SPINE_RANK[upper] < _SPINE_RANK[lower]
    )


def _vertebral_levels(value: object) -> list[str]:
    """Section 2.1: a single string is a one-item list; anything else is refused.

    The message never repeats the value: a typed level field can hold anything, a name
    included.
    """
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError(_LEVELS_HELP)
    for index, item in enumerate(items):
        if not _is_level_or_range(item):
            raise ValueError(f"item {index + 1} is not a level or range; {_LEVELS_HELP}")
    return list(items)


VertebralLevels = Annotated[list[str], BeforeValidator(_vertebral_levels)]


class ImagingReportedData(_Strict):
    finding: Finding
    levels: VertebralLevels | None = None
    bilsky_grade: Literal["0", "1a", "1b", "1c", "2", "3"] | None = None
    sins: Annotated[int, Field(ge=0, le=18)] | None = None
    cord_compression: bool | None = None
    suspected_histology: Histology | None = None


class BiopsyData(_Strict):
    method: ShortText | None = None
    site_agreed_with_treating_centre: bool | None = None


class HistologyReportedData(_Strict):
    malignant: bool
    histology: ShortText | None = None


class MdtListedData(_Strict):
    meeting_at: UtcDatetime
    board: Board


class MdtDecidedData(_Strict):
    plan: Plan
    decision_to_treat: bool
    intent: Literal["curative", "palliative"] | None = None
    reason: Text | None = None


class EmptyData(_Strict):
    pass


class TreatmentStartedData(_Strict):
    modality: TreatmentModality
    emergency_without_mdt_reason: Text | None = None


Grade = Literal["A", "B", "C", "D", "E"]


class OutcomeRecordedData(_Strict):
    ambulatory_status: AmbulatoryStatus
    frankel_grade: Grade | None = None
    at: ShortText
    asia_grade: Grade | None = None
    bladder: Literal["continent", "catheterised", "incontinent"] | None = None
    supersedes: EventId | None = None


class SpecialistReferredData(_Strict):
    service: Service
    organisation: ShortText | None = None


class SpecialistReviewedData(_Strict):
    service: Service
    mode: ReviewMode
    advice: Advice | None = None


class CwtUpgradedData(_Strict):
    by: ShortText


_COMMENT_NEEDED = frozenset({BreachReason.OTHER, BreachReason.CLINICAL_COMPLEXITY})


class BreachExplainedData(_Strict):
    clock: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9-]+$")]
    reason: BreachReason
    stage: BreachStage
    primary: bool = True
    comment: Text | None = None
    supersedes: EventId | None = None

    @model_validator(mode="after")
    def _comment_when_needed(self) -> BreachExplainedData:
        if self.reason in _COMMENT_NEEDED and self.comment is None:
            raise ValueError("comment: required when the reason is other or clinical_complexity")
        return self


class AlertAcknowledgedData(_Strict):
    alert_id: ShortText
    by: ShortText


class PathwayClosedData(_Strict):
    reason: ClosedReason


Reference = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[!-~]+$")]


class _Envelope(_Strict):
    event_id: EventId
    pathway: Reference
    occurred_at: UtcDatetime
    recorded_by: ShortText | None = None
    source: ShortText | None = None


class ReferralReceived(_Envelope):
    type: Literal["referral.received"]
    data: ReferralReceivedData


class TriageOverridden(_Envelope):
    type: Literal["triage.overridden"]
    data: TriageOverriddenData


class NeuroDeteriorated(_Envelope):
    type: Literal["neuro.deteriorated"]
    data: NeuroDeterioratedData


class CoordinatorContacted(_Envelope):
    type: Literal["coordinator.contacted"]
    data: CoordinatorContactedData


class SteroidsStarted(_Envelope):
    type: Literal["steroids.started"]
    data: SteroidsStartedData


class SteroidsWithheld(_Envelope):
    type: Literal["steroids.withheld"]
    data: SteroidsWithheldData


class ImagingRequested(_Envelope):
    type: Literal["imaging.requested"]
    data: ImagingRequestedData


class ImagingPerformed(_Envelope):
    type: Literal["imaging.performed"]
    data: ImagingPerformedData


class ImagingReported(_Envelope):
    type: Literal["imaging.reported"]
    data: ImagingReportedData


class BiopsyRequested(_Envelope):
    type: Literal["biopsy.requested"]
    data: BiopsyData


class BiopsyPerformed(_Envelope):
    type: Literal["biopsy.performed"]
    data: BiopsyData


class HistologyReported(_Envelope):
    type: Literal["histology.reported"]
    data: HistologyReportedData


class MdtListed(_Envelope):
    type: Literal["mdt.listed"]
    data: MdtListedData


class MdtDecided(_Envelope):
    type: Literal["mdt.decided"]
    data: MdtDecidedData


class DiagnosisCommunicated(_Envelope):
    type: Literal["diagnosis.communicated"]
    data: EmptyData


class TreatmentStarted(_Envelope):
    type: Literal["treatment.started"]
    data: TreatmentStartedData


class OutcomeRecorded(_Envelope):
    type: Literal["outcome.recorded"]
    data: OutcomeRecordedData


class SpecialistReferred(_Envelope):
    type: Literal["specialist.referred"]
    data: SpecialistReferredData


class SpecialistReviewed(_Envelope):
    type: Literal["specialist.reviewed"]
    data: SpecialistReviewedData


class CwtUpgraded(_Envelope):
    type: Literal["cwt.upgraded"]
    data: CwtUpgradedData


class BreachExplained(_Envelope):
    type: Literal["breach.explained"]
    data: BreachExplainedData


class AlertAcknowledged(_Envelope):
    type: Literal["alert.acknowledged"]
    data: AlertAcknowledgedData


class PathwayClosed(_Envelope):
    type: Literal["pathway.closed"]
    data: PathwayClosedData


PathwayEvent = Annotated[
    ReferralReceived
    | TriageOverridden
    | NeuroDeteriorated
    | CoordinatorContacted
    | SteroidsStarted
    | SteroidsWithheld
    | ImagingRequested
    | ImagingPerformed
    | ImagingReported
    | SpecialistReferred
    | SpecialistReviewed
    | BiopsyRequested
    | BiopsyPerformed
    | HistologyReported
    | MdtListed
    | MdtDecided
    | DiagnosisCommunicated
    | CwtUpgraded
    | TreatmentStarted
    | OutcomeRecorded
    | BreachExplained
    | AlertAcknowledged
    | PathwayClosed,
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[str, ...] = (
    "referral.received",
    "triage.overridden",
    "neuro.deteriorated",
    "coordinator.contacted",
    "steroids.started",
    "steroids.withheld",
    "imaging.requested",
    "imaging.performed",
    "imaging.reported",
    "specialist.referred",
    "specialist.reviewed",
    "biopsy.requested",
    "biopsy.performed",
    "histology.reported",
    "mdt.listed",
    "mdt.decided",
    "diagnosis.communicated",
    "cwt.upgraded",
    "treatment.started",
    "outcome.recorded",
    "breach.explained",
    "alert.acknowledged",
    "pathway.closed",
)
"""Every event type, in the order that breaks ties between events at the same instant (a
specialist review at the instant of a biopsy came first; a breach is explained after the
stop that breached it)."""

VERSIONED_TYPES: frozenset[str] = frozenset(
    {"specialist.referred", "specialist.reviewed", "cwt.upgraded", "breach.explained"}
)
"""Types a pathway accepts only when its ruleset lists them in ``event_types`` (section 9.1)."""

VERSIONED_FIELDS: dict[str, tuple[str, ...]] = {
    "imaging.reported": ("cord_compression", "suspected_histology"),
    "biopsy.requested": ("site_agreed_with_treating_centre",),
    "biopsy.performed": ("site_agreed_with_treating_centre",),
    "outcome.recorded": ("asia_grade", "bladder", "supersedes"),
}
"""Optional fields a pathway accepts only when its ruleset lists them in ``event_fields``."""

_ADAPTER: TypeAdapter[PathwayEvent] = TypeAdapter(PathwayEvent)


def _field_path(loc: tuple[int | str, ...], event_type: object) -> str:
    parts: list[str] = []
    for index, item in enumerate(loc):
        if index == 0 and item == event_type:
            continue  # the discriminator's branch name, not a field
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "event"


def _rejection(error: ValidationError, raw: Any) -> EventRejected:
    first = error.errors(include_input=False, include_url=False)[0]
    event_type = raw.get("type") if isinstance(raw, dict) else None
    kind = first["type"]
    if kind in {"union_tag_invalid", "union_tag_not_found"}:
        if event_type is None:
            return EventRejected("type", "field required")
        return EventRejected("type", "unknown event type")
    field = _field_path(tuple(first["loc"]), event_type)
    message = first["msg"]
    if kind == "missing":
        message = "field required"
    elif kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "timezone_aware":
        message = "a time must carry a UTC offset (naive times are ambiguous across BST/GMT)"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    if ": " in message and message.split(": ", 1)[0].isidentifier() and kind == "value_error":
        # A model validator names a sub-field in its message ("reason: required ...").
        sub, message = message.split(": ", 1)
        field = f"{field}.{sub}" if field != "event" else sub
    return EventRejected(field, message)


def parse_event(raw: str | bytes) -> PathwayEvent:
    """Validate one JSON event.

    Args:
        raw: one JSON object, as found on a line of a JSON Lines file.

    Returns:
        The typed event, its times converted to UTC.

    Raises:
        EventRejected: bad JSON, an unknown type or field, a naive time, a value outside
            an enumeration...; ``field`` names the offending field.
    """
    data = raw if isinstance(raw, bytes) else raw.encode()
    try:
        return _ADAPTER.validate_json(data)
    except ValidationError as err:
        # Raised outside this block: pydantic's error text repeats the input (NHS number,
        # names), and no traceback may carry it, not even as the exception's context.
        rejection = _rejection_of(err, data)
    raise rejection


def _rejection_of(err: ValidationError, data: bytes) -> EventRejected:
    try:
        decoded = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as bad:
        return EventRejected("event", f"not valid JSON ({bad.__class__.__name__})")
    if not isinstance(decoded, dict):
        return EventRejected("event", "an event must be a JSON object")
    return _rejection(err, decoded)


def event_to_json(event: PathwayEvent) -> str:
    """Serialise an event back to canonical JSON (sorted keys, UTC times)."""
    return json.dumps(event.model_dump(mode="json", exclude_none=True), sort_keys=True)
