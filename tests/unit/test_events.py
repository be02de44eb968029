"""The event contract (pathway-spec.md section 2 and 3): what parse_event and admit refuse, and why.

A rejection names the field a feed must fix, and never repeats a patient identifier.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pathway.engine import INTAKE_SKEW, admit, evaluate
from pathway.errors import EventRejected, PathwayError
from pathway.events import (
    EVENT_TYPES,
    Category,
    ImagingRequested,
    PathwayEvent,
    ReferralReceived,
    SteroidsStarted,
    event_to_json,
    parse_event,
)
from tests.factories import (
    RULES,
    T0,
    D,
    H,
    alert_acknowledged,
    biopsy_performed,
    biopsy_requested,
    breach_explained,
    closed,
    coordinator_contacted,
    cwt_upgraded,
    diagnosis_communicated,
    envelope_json,
    histology_reported,
    imaging_performed,
    imaging_reported,
    imaging_requested,
    mdt_decided,
    mdt_listed,
    mets_referral,
    mscc_referral,
    neuro_deteriorated,
    outcome_recorded,
    overridden,
    parse,
    patient_json,
    referral,
    referral_json,
    specialist_referred,
    specialist_reviewed,
    steroids_started,
    steroids_withheld,
    treatment_started,
)

NOW = T0 + 30 * D
"""The moment of intake in admit tests: after every event they record."""


def _without(raw: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != key}


PARSE_REJECTIONS = [
    pytest.param(
        referral_json() | {"occurred_at": "2026-11-02T09:00:00"},
        "occurred_at",
        id="naive occurred_at",
    ),
    pytest.param(
        referral_json() | {"occurred_at": 1_793_610_000},
        "occurred_at",
        id="occurred_at as a number",
    ),
    pytest.param(envelope_json("referral.sent"), "type", id="unknown type"),
    pytest.param(_without(referral_json(), "type"), "type", id="missing type"),
    pytest.param(referral_json() | {"type": 7}, "type", id="type not a string"),
    pytest.param(_without(referral_json(), "event_id"), "event_id", id="missing event_id"),
    pytest.param(_without(referral_json(), "data"), "data", id="missing data"),
    pytest.param(referral_json() | {"event_id": "ris 1"}, "event_id", id="event_id with a space"),
    pytest.param(referral_json() | {"priority": "high"}, "priority", id="unknown envelope field"),
    pytest.param(
        envelope_json("coordinator.contacted", data={"coordinator": "A", "phone": "1"}),
        "data.phone",
        id="unknown data field",
    ),
    pytest.param(
        envelope_json("diagnosis.communicated", data={"by": "A"}),
        "data.by",
        id="diagnosis.communicated takes no data",
    ),
    pytest.param(
        referral_json(cancer_status="probable"), "data.cancer_status", id="cancer_status enum"
    ),
    pytest.param(referral_json(pain=["headache"]), "data.pain_features[0]", id="pain feature enum"),
    pytest.param(
        referral_json(neuro=["limb_weakness", "dizziness"]),
        "data.neuro_features[1]",
        id="neuro feature enum",
    ),
    pytest.param(
        envelope_json("imaging.performed", data={"modality": "xray"}),
        "data.modality",
        id="imaging modality enum",
    ),
    pytest.param(
        envelope_json("pathway.closed", data={"reason": "lost"}),
        "data.reason",
        id="closing reason enum",
    ),
    pytest.param(
        envelope_json("mdt.decided", data={"plan": "watch", "decision_to_treat": True}),
        "data.plan",
        id="plan enum",
    ),
    pytest.param(
        envelope_json("imaging.requested", data={"modality": "ct_whole_spine"}),
        "data.reason",
        id="CT request without a reason (E1)",
    ),
    pytest.param(
        envelope_json("steroids.started", data={"drug": "dexamethasone", "dose_mg": "16"}),
        "data.dose_mg",
        id="dose_mg as a string",
    ),
    pytest.param(
        envelope_json("steroids.started", data={"drug": "dexamethasone", "dose_mg": 0}),
        "data.dose_mg",
        id="dose_mg zero",
    ),
    pytest.param(
        envelope_json("neuro.deteriorated", data={"neuro_features": []}),
        "data.neuro_features",
        id="deterioration without a feature",
    ),
    pytest.param(
        envelope_json("mdt.listed", data={"meeting_at": "2026-11-02T10:00:00", "board": "spinal"}),
        "data.meeting_at",
        id="naive meeting_at",
    ),
    pytest.param(
        referral_json(patient=patient_json(nhs_number=None, mrn=None)),
        "data.patient",
        id="patient without nhs_number and mrn",
    ),
    pytest.param(
        referral_json(patient=patient_json(nhs_number="987 654 4321")),
        "data.patient.nhs_number",
        id="NHS number failing Modulus 11",
    ),
    pytest.param(
        referral_json(patient=patient_json(nhs_number="943476591")),
        "data.patient.nhs_number",
        id="NHS number of nine digits",
    ),
    pytest.param(
        referral_json(patient=patient_json(date_of_birth="31/01/1950")),
        "data.patient.date_of_birth",
        id="date_of_birth not ISO",
    ),
]


@pytest.mark.parametrize(("raw", "field"), PARSE_REJECTIONS)
def test_parse_event_rejection_names_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(EventRejected) as rejected:
        parse(raw)

    assert rejected.value.field == field
    assert str(rejected.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("{not json", id="not JSON"),
        pytest.param(b"\xff\xfe{", id="not UTF-8"),
        pytest.param("[1, 2]", id="a JSON list"),
        pytest.param('"referral.received"', id="a JSON string"),
    ],
)
def test_parse_event_refuses_anything_but_a_json_object_as_a_whole(raw: str | bytes) -> None:
    with pytest.raises(EventRejected) as rejected:
        parse_event(raw)

    assert rejected.value.field == "event"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(
            referral_json() | {"occurred_at": "2026-11-02T09:00:00"},
            "a time must carry a UTC offset (naive times are ambiguous across BST/GMT)",
            id="naive time",
        ),
        pytest.param(referral_json() | {"priority": "high"}, "unknown field", id="unknown field"),
        pytest.param(_without(referral_json(), "pathway"), "field required", id="missing field"),
        pytest.param(envelope_json("referral.sent"), "unknown event type", id="unknown type"),
        pytest.param(
            envelope_json("imaging.requested", data={"modality": "ct_whole_spine"}),
            "required when the modality is ct_whole_spine (E1)",
            id="model rule naming a sub-field",
        ),
    ],
)
def test_rejection_reasons_are_words_a_feed_can_act_on(raw: dict[str, Any], reason: str) -> None:
    with pytest.raises(EventRejected) as rejected:
        parse(raw)

    assert rejected.value.reason == reason


@pytest.mark.parametrize(
    "patient",
    [
        pytest.param(patient_json(nhs_number="987 654 4321"), id="invalid NHS number"),
        pytest.param(patient_json(nhs_number="1111111111"), id="repdigit NHS number"),
        pytest.param(patient_json(nhs_number="98765 44321 0"), id="eleven digits"),
    ],
)
def test_a_rejected_nhs_number_is_never_repeated(patient: dict[str, Any]) -> None:
    with pytest.raises(EventRejected) as rejected:
        parse(referral_json(patient=patient))

    digits = patient["nhs_number"].replace(" ", "")
    assert digits not in str(rejected.value).replace(" ", "")
    assert patient["family_name"] not in str(rejected.value)


def test_a_rejection_chains_no_error_that_repeats_the_nhs_number() -> None:
    raw = referral_json(patient=patient_json(nhs_number="987 654 4321"))

    with pytest.raises(EventRejected) as rejected:
        parse(raw)

    chained = rejected.value.__cause__ or rejected.value.__context__
    assert "987 654 4321" not in str(chained)


def test_a_rejection_is_a_pathway_error_and_a_value_error() -> None:
    with pytest.raises(EventRejected) as rejected:
        parse(envelope_json("referral.sent"))

    assert isinstance(rejected.value, PathwayError)
    assert isinstance(rejected.value, ValueError)


ONE_OF_EACH_TYPE: list[PathwayEvent] = [
    mscc_referral(),
    overridden(T0 + H, Category.SUSPECTED_SPINAL_METASTASES.value),
    neuro_deteriorated(T0 + H),
    coordinator_contacted(T0 + H),
    steroids_started(T0 + H),
    steroids_withheld(T0 + H),
    imaging_requested(T0 + H, "ct_whole_spine", "pacemaker"),
    imaging_performed(T0 + H),
    imaging_reported(T0 + H),
    specialist_referred(T0 + H),
    specialist_reviewed(T0 + H),
    biopsy_requested(T0 + H),
    biopsy_performed(T0 + H),
    histology_reported(T0 + H),
    mdt_listed(T0 + H),
    mdt_decided(T0 + H),
    diagnosis_communicated(T0 + H),
    cwt_upgraded(T0 + H),
    treatment_started(T0 + H),
    outcome_recorded(T0 + H),
    breach_explained(T0 + H, "MRI-MSCC"),
    alert_acknowledged(T0 + H),
    closed(T0 + H),
]


def test_the_factories_build_every_event_type() -> None:
    assert [e.type for e in ONE_OF_EACH_TYPE] == list(EVENT_TYPES)


@pytest.mark.parametrize("event", ONE_OF_EACH_TYPE, ids=lambda e: e.type)
def test_every_event_type_round_trips_through_canonical_json(event: PathwayEvent) -> None:
    text = event_to_json(event)

    assert parse_event(text) == event
    assert json.loads(text) == json.loads(event_to_json(parse_event(text.encode())))


def test_occurred_at_with_an_offset_is_kept_as_the_same_instant_in_utc() -> None:
    raw = referral_json() | {"occurred_at": "2026-06-02T10:00:00+01:00"}

    event = parse(raw)

    assert event.occurred_at == datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "written",
    [
        pytest.param("9434765919", id="plain"),
        pytest.param("943 476 5919", id="spaces"),
        pytest.param("943-476-5919", id="dashes"),
    ],
)
def test_a_referral_keeps_the_nhs_number_as_ten_digits(written: str) -> None:
    event = referral(patient=patient_json(nhs_number=written))

    assert event.data.patient.nhs_number == "9434765919"


def test_a_referral_with_an_mrn_only_is_accepted() -> None:
    event = referral(patient=patient_json(nhs_number=None))

    assert isinstance(event, ReferralReceived)
    assert event.data.patient.nhs_number is None
    assert event.data.patient.mrn == "MRN-0001"


def test_a_ct_request_with_its_reason_is_accepted() -> None:
    event = imaging_requested(T0, "ct_whole_spine", "MRI-incompatible pacemaker")

    assert isinstance(event, ImagingRequested)
    assert event.data.reason == "MRI-incompatible pacemaker"


def test_an_integer_dose_is_a_number() -> None:
    event = steroids_started(T0, dose_mg=16)

    assert isinstance(event, SteroidsStarted)
    assert event.data.dose_mg == 16.0


def _rejected_by_admit(
    recorded: list[PathwayEvent], event: PathwayEvent, now: datetime = NOW
) -> EventRejected:
    with pytest.raises(EventRejected) as rejected:
        admit(recorded, event, rules=RULES, now=now)
    return rejected.value


ADMIT_REJECTIONS = [
    pytest.param(
        [mscc_referral()],
        coordinator_contacted(T0 - H),
        NOW,
        "occurred_at",
        id="event before the referral",
    ),
    pytest.param(
        [mscc_referral()],
        coordinator_contacted(NOW + INTAKE_SKEW + timedelta(seconds=1)),
        NOW,
        "occurred_at",
        id="event later than intake beyond the skew",
    ),
    pytest.param(
        [],
        mscc_referral(at=NOW + H),
        NOW,
        "occurred_at",
        id="referral later than intake",
    ),
    pytest.param(
        [],
        coordinator_contacted(T0 + H),
        NOW,
        "pathway",
        id="unknown pathway without a referral",
    ),
    pytest.param(
        [mscc_referral()],
        mscc_referral(at=T0 + H),
        NOW,
        "type",
        id="second referral",
    ),
    pytest.param(
        [mscc_referral()],
        imaging_reported(T0 + H),
        NOW,
        "occurred_at",
        id="report before any scan",
    ),
    pytest.param(
        [mscc_referral(), imaging_performed(T0 + 2 * H)],
        imaging_reported(T0 + H),
        NOW,
        "occurred_at",
        id="report dated before its scan",
    ),
    pytest.param(
        [mscc_referral()],
        treatment_started(T0 + H),
        NOW,
        "data.emergency_without_mdt_reason",
        id="treatment without a decision or an emergency reason (E5)",
    ),
    pytest.param(
        [mscc_referral()],
        diagnosis_communicated(T0 + H),
        NOW,
        "occurred_at",
        id="diagnosis communicated before any report",
    ),
    pytest.param(
        [mscc_referral(), biopsy_requested(T0 + H)],
        histology_reported(T0 + 2 * H),
        NOW,
        "occurred_at",
        id="histology before a biopsy is performed",
    ),
    pytest.param(
        [],
        referral(patient=patient_json(date_of_birth="2026-11-03")),
        NOW,
        "data.patient.date_of_birth",
        id="date_of_birth after the referral",
    ),
    pytest.param(
        [],
        referral(symptom_onset="2026-11-03"),
        NOW,
        "data.symptom_onset",
        id="symptom_onset after the referral",
    ),
    pytest.param(
        [mscc_referral(), closed(T0 + H)],
        coordinator_contacted(T0 + 2 * H),
        NOW,
        "type",
        id="milestone on a closed pathway",
    ),
    pytest.param(
        [mscc_referral(), imaging_performed(T0 + 2 * H)],
        closed(T0 + H),
        NOW,
        "occurred_at",
        id="closing dated before a recorded milestone",
    ),
]


@pytest.mark.parametrize(("recorded", "event", "now", "field"), ADMIT_REJECTIONS)
def test_admit_rejection_names_the_field(
    recorded: list[PathwayEvent], event: PathwayEvent, now: datetime, field: str
) -> None:
    rejected = _rejected_by_admit(recorded, event, now)

    assert rejected.field == field


def test_admit_blames_the_late_event_when_it_would_break_a_recorded_one() -> None:
    recorded = [mscc_referral(), imaging_performed(T0 + 2 * H)]

    rejected = _rejected_by_admit(recorded, closed(T0 + H))

    assert rejected.reason.startswith("out of clinical order")


def test_admit_accepts_an_event_within_the_intake_skew() -> None:
    view = admit([mscc_referral()], coordinator_contacted(NOW + INTAKE_SKEW), rules=RULES, now=NOW)

    assert [m.type for m in view.milestones] == ["referral.received", "coordinator.contacted"]


def test_admit_accepts_treatment_before_the_mdt_with_an_emergency_reason() -> None:
    event = treatment_started(T0 + H, "radiotherapy", "cord compression out of hours")

    view = admit([mscc_referral()], event, rules=RULES, now=NOW)

    assert view.milestones[-1].type == "treatment.started"


@pytest.mark.parametrize(
    "late",
    [
        pytest.param(outcome_recorded(T0 + 2 * H), id="outcome.recorded"),
        pytest.param(alert_acknowledged(T0 + 2 * H), id="alert.acknowledged"),
    ],
)
def test_a_closed_pathway_accepts_outcomes_and_acknowledgements(late: PathwayEvent) -> None:
    view = admit([mscc_referral(), closed(T0 + H)], late, rules=RULES, now=NOW)

    assert view.is_closed
    assert view.milestones[-1].type == late.type


def test_admit_of_a_late_arrival_equals_evaluating_everything() -> None:
    recorded = [mscc_referral(), coordinator_contacted(T0 + 2 * H)]
    late = imaging_performed(T0 + H)

    view = admit(recorded, late, rules=RULES, now=NOW)

    assert view == evaluate([*recorded, late], RULES)


def test_admit_uses_the_current_view_when_given() -> None:
    recorded: list[PathwayEvent] = [mets_referral()]
    current = evaluate(recorded, RULES)

    view = admit(recorded, coordinator_contacted(T0 + H), rules=RULES, now=NOW, current=current)

    assert view == evaluate([*recorded, coordinator_contacted(T0 + H)], RULES)


def test_admit_refolds_when_the_current_view_has_no_fold_state() -> None:
    recorded: list[PathwayEvent] = [mets_referral()]
    current = evaluate(recorded, RULES)
    stored = dataclasses.replace(current, fold=None)

    view = admit(recorded, coordinator_contacted(T0 + H), rules=RULES, now=NOW, current=stored)

    assert view == evaluate([*recorded, coordinator_contacted(T0 + H)], RULES)


def test_evaluate_of_no_events_is_an_unknown_pathway() -> None:
    with pytest.raises(EventRejected) as rejected:
        evaluate([], RULES)

    assert rejected.value.field == "pathway"


def test_evaluate_names_the_event_that_breaks_a_prerequisite() -> None:
    bad = coordinator_contacted(T0 + 2 * H)

    with pytest.raises(EventRejected) as rejected:
        evaluate([mscc_referral(), closed(T0 + H), bad], RULES)

    assert rejected.value.field == "type"
    assert getattr(rejected.value, "event_id", None) == bad.event_id
