"""Inbound pathway events: the JSON envelope of pathway-spec.md sections 2 and 3, validated strictly.

Every event is a frozen pydantic model. Unknown fields, naive times, unknown types and values
outside the enumerations are rejected; :func:`parse_event` turns pydantic's errors into one
:class:`~pathway.errors.EventRejected` naming the field, so a feed can be told exactly what to fix.

:func:`parse_event` is the one strict reading of a line that every door shares (files, stdin,
``record``, the forms, later HL7/FHIR adapters): bytes, then UTF-8 (one leading BOM dropped),
then JSON with no duplicate keys, bounded depth and size, then the models with bounded values
and plausible dates (section 2.1). Whatever a line holds, it raises nothing but
:class:`~pathway.errors.EventRejected`, so one bad line never ends a file's intake.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
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
    Strict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pathway.errors import EventRejected
from pathway.nhs_number import normalise_nhs_number


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


FIRST_YEAR = 1900
LAST_YEAR = 2100
"""Every time and date of an event lies in these years (section 2.1)."""

EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)
"""No referral or milestone of a pathway cordwatch watches happened before this (DEVELOPERS.md)."""

MIN_DOSE_MG = 0.1
MAX_DOSE_MG = 1000.0

MAX_LINE_BYTES = 1 << 20
"""A line longer than 1 MiB is refused unread: a real event is well under 10 KiB."""

MAX_DEPTH = 32
"""JSON nested deeper than this is refused before it is parsed (a real event nests 4 deep)."""

_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.]{1,40}")
_EVENT_ID = re.compile(r"[!-~]{1,128}")
_INTERNAL_ID_FORM = re.compile(r"[Pp][Ww]-.{6}", re.DOTALL)

_FORBIDDEN_FORMAT = frozenset(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]
)  # bidi embeddings, overrides and isolates; line and paragraph separators
_BLANK_LETTERS = frozenset([0x034F, 0x115F, 0x1160, 0x2800, 0x3164, 0xFFA0])
"""Characters that render as nothing although Unicode does not class them as spaces."""


def _stored(info: ValidationInfo) -> bool:
    """True when re-reading an event the intake stored (:func:`parse_stored_event`)."""
    return isinstance(info.context, dict) and info.context.get("stored") is True


def _free_text(value: str, info: ValidationInfo) -> str:
    if _stored(info):
        return value
    if value.isprintable() and not _only_blank_letters(value):
        # The usual case, decided in C: isprintable() is false for every character of Cc,
        # Cf, Cs, Zl, Zp and Zs but the ASCII space, so only a blank value is left to refuse.
        return value
    # A line break in a name prints a forged line in a letter ("NHS number: ..."); a bidi
    # override shows text in another order than stored; NUL cannot be stored on PostgreSQL.
    for character in value:
        if unicodedata.category(character) in {"Cc", "Cs"} or ord(character) in _FORBIDDEN_FORMAT:
            raise ValueError(
                "control characters (line breaks, NUL, bidi controls) are not allowed in text"
            )
    if all(_invisible(character) for character in value):
        raise ValueError("is blank (only spaces or invisible characters)")
    return value


def _only_blank_letters(value: str) -> bool:
    return all(character == " " or ord(character) in _BLANK_LETTERS for character in value)


def _invisible(character: str) -> bool:
    return (
        character.isspace()
        or unicodedata.category(character) in {"Cf", "Zs", "Zl", "Zp"}
        or ord(character) in _BLANK_LETTERS
    )


def _iso_time_text(value: object) -> object:
    # pydantic reads "1796115600" (and milliseconds) as a Unix time: a guess, never allowed.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _ISO_TIME.match(value) is None:
        raise ValueError(
            "a time must be ISO 8601 text with a UTC offset (a bare number is not a time)"
        )
    return value


def _iso_date_text(value: object) -> object:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or _ISO_DATE.fullmatch(value) is None:
        raise ValueError("a date must be ISO 8601 text (YYYY-MM-DD)")
    return value


def _to_utc(value: datetime, info: ValidationInfo) -> datetime:
    # Checked before the conversion: year 1 at +14:00 is before year 1 in UTC (OverflowError).
    # A stored time is already in UTC, so it converts safely whatever its year.
    if not _stored(info) and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"outside the years {FIRST_YEAR}-{LAST_YEAR}")
    return value.astimezone(UTC)


def _plausible_occurrence(value: datetime, info: ValidationInfo) -> datetime:
    if not _stored(info) and value < EARLIEST_OCCURRED_AT:
        raise ValueError("before 2000: not a plausible time for a pathway event")
    return value


def _plausible_date(value: date, info: ValidationInfo) -> date:
    if not _stored(info) and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"outside the years {FIRST_YEAR}-{LAST_YEAR}")
    return value


def _not_an_internal_id(value: str, info: ValidationInfo) -> str:
    # `show PW-...` would find this referral instead of the pathway with that internal id.
    if not _stored(info) and _INTERNAL_ID_FORM.fullmatch(value):
        raise ValueError(
            "has the form of an internal id (PW- and six characters); a referral reference may not"
        )
    return value


# Lax inside, because the text was checked first: strict mode reads no str passed on by a
# validator, and lax mode alone would guess a Unix time from a number.
UtcDatetime = Annotated[
    AwareDatetime, Strict(False), BeforeValidator(_iso_time_text), AfterValidator(_to_utc)
]
OccurredAt = Annotated[UtcDatetime, AfterValidator(_plausible_occurrence)]
PlausibleDate = Annotated[
    date, Strict(False), BeforeValidator(_iso_date_text), AfterValidator(_plausible_date)
]
Text = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_free_text)]
"""Free text (reasons): no control characters, not blank, at most 500 characters."""
ShortText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_free_text)]
"""Names and short free text: as :data:`Text`, at most the 200 characters a column stores."""
EventId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[!-~]+$")]


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
    date_of_birth: PlausibleDate
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
    symptom_onset: PlausibleDate | None = None


class TriageOverriddenData(_Strict):
    category: Category
    reason: Text


class NeuroDeterioratedData(_Strict):
    neuro_features: Annotated[list[NeuroFeature], Field(min_length=1)]


class CoordinatorContactedData(_Strict):
    coordinator: ShortText


class SteroidsStartedData(_Strict):
    drug: ShortText
    dose_mg: Annotated[float, Field(gt=0, le=MAX_DOSE_MG, allow_inf_nan=False)]

    @field_validator("dose_mg")
    @classmethod
    def _plausible_dose(cls, value: float, info: ValidationInfo) -> float:
        if not _stored(info) and value < MIN_DOSE_MG:
            raise ValueError(f"less than {MIN_DOSE_MG} mg: a unit or typing error")
        return value


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


def is_level_or_range(item: object) -> bool:
    """True for one vertebral level (``T7``) or a range of them, upper first (``T4-T6``)."""
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
        if not is_level_or_range(item):
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


Reference = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[!-~]+$"),
    AfterValidator(_not_an_internal_id),
]


class _Envelope(_Strict):
    event_id: EventId
    pathway: Reference
    occurred_at: OccurredAt
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


def _safe_name(name: str) -> bool:
    return _SAFE_NAME.fullmatch(name) is not None


def _field_path(loc: tuple[int | str, ...], event_type: object) -> tuple[str, bool]:
    """The dotted path of ``loc``, and whether it had to stop short of a name not safe to echo."""
    parts: list[str] = []
    for index, item in enumerate(loc):
        if index == 0 and item == event_type:
            continue  # the discriminator's branch name, not a field
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif not _safe_name(item):
            # An unknown key is the feed's text (perhaps a name): echoed only when it is a
            # short plain identifier, never into output or the audit trail otherwise.
            return "".join(parts) or "event", True
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "event", False


def _rejection(error: ValidationError, raw: dict[str, Any], event_id: str | None) -> EventRejected:
    first = error.errors(include_input=False, include_url=False)[0]
    event_type = raw.get("type")
    kind = first["type"]
    if kind in {"union_tag_invalid", "union_tag_not_found"}:
        if event_type is None:
            return EventRejected("type", "field required", event_id=event_id)
        return EventRejected("type", "unknown event type", event_id=event_id)
    field, hidden = _field_path(tuple(first["loc"]), event_type)
    message = first["msg"]
    if hidden:
        message = "an unknown field"
    elif kind == "missing":
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
    return EventRejected(field, message, event_id=event_id)


class _Object(dict[str, Any]):
    """A decoded JSON object that remembers the first key it was given twice."""

    duplicate: str | None = None


def _loads(text: str) -> tuple[Any, bool]:
    """The decoded JSON, and whether any object in it was given a key twice."""
    duplicated = False

    def pairs_to_object(pairs: list[tuple[str, Any]]) -> _Object:
        nonlocal duplicated
        decoded = _Object(pairs)
        if len(decoded) != len(pairs):
            duplicated = True
            counts = Counter(key for key, _value in pairs)
            decoded.duplicate = next(key for key, _value in pairs if counts[key] > 1)
        return decoded

    decoded = json.loads(text, object_pairs_hook=pairs_to_object, parse_constant=_no_constant)
    return decoded, duplicated


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _nesting_too_deep(data: bytes) -> str | None:
    """The top-level key under which ``data`` nests deeper than :data:`MAX_DEPTH`, if it does.

    Scanned before parsing, because the parser recurses: 1,000 levels raise RecursionError.
    """
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return None  # the usual case, decided in C
    depth = 0
    in_string = escaped = False
    start = 0
    before = 0  # the significant byte before the current string
    key = b""
    for index, byte in enumerate(data):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
                if depth == 1 and before in {0x7B, 0x2C}:  # a key of the top-level object
                    key = data[start:index]
            continue
        if byte == 0x22:
            in_string, start = True, index + 1
            continue
        if byte in {0x5B, 0x7B}:
            depth += 1
            if depth > MAX_DEPTH:
                name = key.decode("ascii", "replace")
                return name if _safe_name(name) else "event"
        elif byte in {0x5D, 0x7D}:
            depth -= 1
        if byte not in {0x20, 0x09, 0x0A, 0x0D}:
            before = byte
    return None


def _first_duplicate(decoded: Any) -> tuple[str, bool] | None:
    """The path of the first key given twice in one object, and whether its name is hidden.

    Below a key that is not safe to echo, the path stops at that key's parent.
    """
    stack: list[tuple[str, bool, Any]] = [("", False, decoded)]
    while stack:
        path, opaque, value = stack.pop()
        children: list[tuple[str, bool, Any]] = []
        if isinstance(value, _Object):
            if value.duplicate is not None:
                if opaque or not _safe_name(value.duplicate):
                    return path or "event", True
                return (f"{path}.{value.duplicate}" if path else value.duplicate), False
            for key, child in value.items():
                if opaque or not _safe_name(key):
                    children.append((path, True, child))
                else:
                    children.append((f"{path}.{key}" if path else key, False, child))
        elif isinstance(value, list):
            children = [
                (path if opaque else f"{path or 'event'}[{n}]", opaque, child)
                for n, child in enumerate(value)
            ]
        stack.extend(reversed(children))
    return None


def _decode(raw: str | bytes) -> tuple[bytes, Any, bool]:
    """Bytes to UTF-8 to JSON, strictly: the bytes pydantic reads, the decoded value, and
    whether a key was given twice in one of its objects."""
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    if len(data) > MAX_LINE_BYTES:
        raise EventRejected("event", "a line longer than 1 MiB is not read")
    data = data.removeprefix(b"\xef\xbb\xbf")  # one byte order mark, as at the start of a file
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # A Latin-1 or UTF-16 file; the bytes are not repeated (they may be a name).
        rejection = EventRejected("event", "not valid UTF-8 text (a Latin-1 or UTF-16 file?)")
    else:
        deep = _nesting_too_deep(data)
        if deep is not None:
            raise EventRejected(deep, f"nested more than {MAX_DEPTH} levels deep")
        try:
            decoded, duplicated = _loads(text)
        except (ValueError, RecursionError) as bad:
            # ValueError covers JSONDecodeError and a number of more than 4,300 digits.
            rejection = EventRejected("event", f"not valid JSON ({bad.__class__.__name__})")
        else:
            return data, decoded, duplicated
    raise rejection


def parse_event(raw: str | bytes) -> PathwayEvent:
    """Read one line strictly: bytes, UTF-8, JSON, then the event models.

    Args:
        raw: one JSON object, as found on a line of a JSON Lines file (bytes as read, or
            text); one leading byte order mark is ignored.

    Returns:
        The typed event, its times converted to UTC.

    Raises:
        EventRejected: the only exception, whatever the line holds: not UTF-8, bad JSON, a
            key given twice, nesting deeper than :data:`MAX_DEPTH`, an unknown type or
            field, a naive or implausible time, a value outside an enumeration or its
            bounds, free text with control characters...; ``field`` names the offending
            field and ``event_id`` the line's event id when it has a well-formed one.
    """
    data, decoded, duplicated = _decode(raw)
    if not isinstance(decoded, dict):
        raise EventRejected("event", "an event must be a JSON object")
    event_id = decoded.get("event_id")
    event_id = event_id if isinstance(event_id, str) and _EVENT_ID.fullmatch(event_id) else None
    duplicate = _first_duplicate(decoded) if duplicated else None
    if duplicate is not None:
        field, hidden = duplicate
        what = "a key (not shown)" if hidden else "this key"
        raise EventRejected(
            field, f"duplicate key: {what} is given twice in one JSON object", event_id=event_id
        )
    try:
        return _ADAPTER.validate_json(data)
    except ValidationError as err:
        # Raised outside this block: pydantic's error text repeats the input (NHS number,
        # names), and no traceback may carry it, not even as the exception's context.
        rejection = _rejection(err, decoded, event_id)
    raise rejection


def event_from_fields(fields: Mapping[str, Any]) -> PathwayEvent:
    """Build an event cordwatch itself records (an acknowledgement typed at the command line,
    a form's answer) from its fields, checked exactly as a line read by :func:`parse_event`,
    without writing it to JSON and reading it back.

    Raises:
        EventRejected: as :func:`parse_event`, naming the offending field.
    """
    event_id = fields.get("event_id")
    event_id = event_id if isinstance(event_id, str) and _EVENT_ID.fullmatch(event_id) else None
    try:
        return _ADAPTER.validate_python(dict(fields))
    except ValidationError as err:
        rejection = _rejection(err, dict(fields), event_id)  # raised outside: see parse_event
    raise rejection


def parse_stored_event(payload: str | bytes) -> PathwayEvent:
    """Re-read an event the intake stored (its canonical JSON, :func:`event_to_json`).

    It was admitted under the rules of its time: the plausibility rules added since (free
    text, time and date bounds, dose, id-shaped references) are not applied again, so a
    pathway stored before a rule was tightened still loads and still takes new events. The
    types, enumerations and offsets are still checked.

    Raises:
        EventRejected: the payload is not an event at all (a damaged row).
    """
    data = payload if isinstance(payload, bytes) else payload.encode("utf-8", "surrogatepass")
    try:
        return _ADAPTER.validate_json(data, context={"stored": True})
    except ValidationError as err:
        rejection = EventRejected("event", f"stored event unreadable ({err.error_count()} errors)")
    raise rejection


def event_to_json(event: PathwayEvent) -> str:
    """Serialise an event back to canonical JSON (sorted keys, UTC times)."""
    return json.dumps(event.model_dump(mode="json", exclude_none=True), sort_keys=True)
