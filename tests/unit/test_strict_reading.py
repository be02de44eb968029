"""The strict reading of one line (pathway-spec.md section 2.1): bytes, UTF-8, JSON, then the models.

Whatever a line holds, :func:`parse_event` either returns an event or raises
:class:`EventRejected` naming a field: never an ``OverflowError``, ``RecursionError`` or
``UnicodeDecodeError`` that would end a whole file's intake. A rejection never repeats a value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from pathway import events
from pathway.engine import admit
from pathway.errors import EventRejected
from pathway.events import (
    Board,
    MdtListedData,
    PathwayEvent,
    Patient,
    parse_event,
    parse_stored_event,
)
from tests.factories import (
    RULES,
    T0,
    D,
    envelope_json,
    mscc_referral,
    patient_json,
    referral,
    referral_json,
)

NOW = T0 + 30 * D

FORGED = "Ann\nNHS number: 123 456 7890"


def _contacted(**overrides: Any) -> dict[str, Any]:
    return envelope_json("coordinator.contacted", data={"coordinator": "Sam"}) | overrides


def _listed(meeting_at: str) -> dict[str, Any]:
    return envelope_json("mdt.listed", data={"meeting_at": meeting_at, "board": "spinal"})


def _steroids(dose_mg: Any) -> dict[str, Any]:
    return envelope_json("steroids.started", data={"drug": "dexamethasone", "dose_mg": dose_mg})


def _rejected(raw: str | bytes | dict[str, Any]) -> EventRejected:
    line = json.dumps(raw) if isinstance(raw, dict) else raw
    with pytest.raises(EventRejected) as rejected:
        parse_event(line)
    return rejected.value


def _nested(depth: int) -> str:
    inner = "[" * depth + "]" * depth
    return json.dumps(_contacted())[:-1] + f', "deep": {inner}}}'


TIMES = [
    pytest.param(
        _contacted(occurred_at="0001-01-01T00:00:00+14:00"), "occurred_at", id="year 1 +14:00"
    ),
    pytest.param(
        _contacted(occurred_at="9999-12-31T23:59:59-23:59"), "occurred_at", id="year 9999 -23:59"
    ),
    pytest.param(_listed("0001-01-01T00:00:00+14:00"), "data.meeting_at", id="meeting year 1"),
    pytest.param(_contacted(occurred_at="1796115600"), "occurred_at", id="epoch seconds as text"),
    pytest.param(_contacted(occurred_at="1796115600000"), "occurred_at", id="epoch milliseconds"),
    pytest.param(_contacted(occurred_at=1796115600), "occurred_at", id="a plain number"),
    pytest.param(_contacted(occurred_at=1796115600.5), "occurred_at", id="a plain float"),
    pytest.param(_contacted(occurred_at="1970-01-01T00:00:00+00:00"), "occurred_at", id="1970"),
    pytest.param(_contacted(occurred_at="1999-12-31T23:59:59+00:00"), "occurred_at", id="1999"),
    pytest.param(
        referral_json(patient=patient_json(date_of_birth="0001-01-01")),
        "data.patient.date_of_birth",
        id="date of birth in year 1",
    ),
    pytest.param(
        referral_json(patient=patient_json(date_of_birth="1899-12-31")),
        "data.patient.date_of_birth",
        id="date of birth before 1900",
    ),
    pytest.param(
        referral_json(patient=patient_json(date_of_birth="19500131")),
        "data.patient.date_of_birth",
        id="date of birth without separators",
    ),
    pytest.param(
        referral_json(patient=patient_json(date_of_birth="1796115600")),
        "data.patient.date_of_birth",
        id="date of birth as epoch text",
    ),
    pytest.param(
        referral_json(symptom_onset="0001-01-01"), "data.symptom_onset", id="onset in year 1"
    ),
]


@pytest.mark.parametrize(("raw", "field"), TIMES)
def test_an_implausible_or_guessed_time_is_refused_naming_its_field(
    raw: dict[str, Any], field: str
) -> None:
    assert _rejected(raw).field == field


VALUES = [
    pytest.param(_steroids(1e-300), "data.dose_mg", id="dose 1e-300"),
    pytest.param(_steroids(0.05), "data.dose_mg", id="dose below 0.1 mg"),
    pytest.param(_steroids(1001), "data.dose_mg", id="dose above 1000 mg"),
    pytest.param(
        '{"event_id": "e1", "pathway": "REF-1", "type": "steroids.started", '
        '"occurred_at": "2026-11-02T09:00:00+00:00", '
        '"data": {"drug": "dexamethasone", "dose_mg": NaN}}',
        "event",
        id="NaN is not JSON",
    ),
    pytest.param(
        '{"event_id": "e1", "pathway": "REF-1", "type": "steroids.started", '
        '"occurred_at": "2026-11-02T09:00:00+00:00", '
        '"data": {"drug": "dexamethasone", "dose_mg": ' + "9" * 5000 + "}}",
        "event",
        id="a 5000-digit number",
    ),
]


@pytest.mark.parametrize(("raw", "field"), VALUES)
def test_an_impossible_value_is_refused_naming_its_field(
    raw: dict[str, Any] | str, field: str
) -> None:
    assert _rejected(raw).field == field


def test_a_dose_of_a_tenth_of_a_milligram_is_accepted() -> None:
    assert parse_event(json.dumps(_steroids(0.1))).type == "steroids.started"


STRUCTURE = [
    pytest.param(_nested(1000), "deep", id="nested 1000 deep"),
    pytest.param(_nested(40), "deep", id="nested 40 deep"),
    pytest.param(
        json.dumps(_contacted())[:-1] + ', "event_id": "other"}',
        "event_id",
        id="duplicate envelope key",
    ),
    pytest.param(
        json.dumps(_contacted()).replace('"Sam"', '"Sam", "coordinator": "Kim"'),
        "data.coordinator",
        id="duplicate data key",
    ),
    pytest.param(
        json.dumps(referral_json()).replace(
            '"given_name": "Ada"', '"given_name": "Ada", "given_name": "Eve"'
        ),
        "data.patient.given_name",
        id="duplicate nested key",
    ),
    pytest.param("Zo\xeb".encode("latin-1"), "event", id="Latin-1 bytes"),
    pytest.param(json.dumps(_contacted()).encode("utf-16"), "event", id="UTF-16 line"),
    pytest.param(json.dumps(_contacted()).encode("utf-16-le"), "event", id="UTF-16LE line"),
    pytest.param(
        json.dumps(_contacted(recorded_by="x" * 100)).replace("x" * 100, "x" * (1 << 20)),
        "event",
        id="a line over 1 MiB",
    ),
]


@pytest.mark.parametrize(("raw", "field"), STRUCTURE)
def test_a_malformed_line_is_refused_on_its_own_naming_a_field(
    raw: str | bytes, field: str
) -> None:
    assert _rejected(raw).field == field


def test_a_duplicate_key_that_is_not_a_safe_name_is_not_echoed() -> None:
    line = (
        json.dumps(_contacted())[:-1]
        + ', "Ann Example 9434765919": 1, "Ann Example 9434765919": 2}'
    )

    rejected = _rejected(line)

    assert rejected.field == "event"
    assert "duplicate" in rejected.reason
    assert "Ann" not in str(rejected)


@pytest.mark.parametrize("key", ["priority", "x.y_2"])
def test_an_unknown_key_with_a_safe_name_is_named(key: str) -> None:
    rejected = _rejected(_contacted() | {key: 1})

    assert rejected.field == key
    assert rejected.reason == "unknown field"


@pytest.mark.parametrize(
    "key",
    [
        "Ann Example 9434765919",
        "<script>alert(1)</script>",
        "[red]boom[/red]",
        "a" * 41,
        "given\nname",
        "",
    ],
)
def test_an_unknown_key_with_an_unsafe_name_is_not_echoed(key: str) -> None:
    rejected = _rejected(envelope_json("coordinator.contacted", data={"coordinator": "S", key: 1}))

    assert rejected.field == "data"
    assert rejected.reason == "an unknown field"
    assert key not in str(rejected) or key == ""


def test_a_byte_order_mark_before_the_first_event_is_ignored() -> None:
    line = b"\xef\xbb\xbf" + json.dumps(_contacted()).encode()

    assert parse_event(line).type == "coordinator.contacted"


def test_a_byte_order_mark_decoded_into_text_is_ignored_too() -> None:
    assert parse_event("\ufeff" + json.dumps(_contacted())).type == "coordinator.contacted"


@pytest.mark.parametrize("reference", ["PW-7F3K2Q", "pw-7f3k2q", "Pw-ABCDEF", "PW-123456"])
def test_a_reference_in_the_form_of_an_internal_id_is_refused(reference: str) -> None:
    assert _rejected(referral_json(ref=reference)).field == "pathway"


@pytest.mark.parametrize("reference", ["PW-12345", "PW-1234567", "REF-PW-123456", "PWX123456"])
def test_a_reference_merely_resembling_an_internal_id_is_accepted(reference: str) -> None:
    assert parse_event(json.dumps(referral_json(ref=reference))).pathway == reference


BAD_TEXT = [
    pytest.param(FORGED, id="newline"),
    pytest.param("Ann\r", id="carriage return"),
    pytest.param("Ann\tLee", id="tab"),
    pytest.param("Ann\x00", id="NUL"),
    pytest.param("Ann\x7f", id="DEL"),
    pytest.param("Ann\x85Lee", id="C1 next line"),
    pytest.param("   ", id="only spaces"),
    pytest.param("\u200d", id="only a zero-width joiner"),
    pytest.param("\u200b \u2060\ufeff", id="only invisible characters"),
    pytest.param("\u3164", id="only a Hangul filler"),
    pytest.param("Ann\u202eeL", id="right-to-left override"),
    pytest.param("Ann\u202a", id="left-to-right embedding"),
    pytest.param("Ann\u2066x\u2069", id="bidi isolate"),
    pytest.param("Ann\u2028Lee", id="line separator"),
    pytest.param("Ann\u2029Lee", id="paragraph separator"),
    pytest.param("A" * 501, id="longer than any stored text"),
]

TEXT_FIELDS = [
    pytest.param(
        lambda v: referral_json(patient=patient_json(given_name=v)),
        "data.patient.given_name",
        id="given_name",
    ),
    pytest.param(
        lambda v: referral_json(patient=patient_json(family_name=v)),
        "data.patient.family_name",
        id="family_name",
    ),
    pytest.param(
        lambda v: referral_json(patient=patient_json(mrn=v)), "data.patient.mrn", id="mrn"
    ),
    pytest.param(
        lambda v: referral_json(referrer={"name": v, "organisation": "GP"}),
        "data.referrer.name",
        id="referrer name",
    ),
    pytest.param(
        lambda v: referral_json(referrer={"name": "Dr R", "organisation": "GP", "contact": v}),
        "data.referrer.contact",
        id="referrer contact",
    ),
    pytest.param(lambda v: referral_json(primary_site=v), "data.primary_site", id="primary_site"),
    pytest.param(lambda v: _contacted(recorded_by=v), "recorded_by", id="recorded_by"),
    pytest.param(lambda v: _contacted(source=v), "source", id="source"),
    pytest.param(
        lambda v: envelope_json("coordinator.contacted", data={"coordinator": v}),
        "data.coordinator",
        id="coordinator",
    ),
    pytest.param(
        lambda v: envelope_json(
            "triage.overridden", data={"category": "suspected_mscc", "reason": v}
        ),
        "data.reason",
        id="override reason",
    ),
    pytest.param(
        lambda v: envelope_json("steroids.started", data={"drug": v, "dose_mg": 16}),
        "data.drug",
        id="drug",
    ),
    pytest.param(
        lambda v: envelope_json("alert.acknowledged", data={"alert_id": "AL-1", "by": v}),
        "data.by",
        id="acknowledged by",
    ),
    pytest.param(
        lambda v: envelope_json("histology.reported", data={"malignant": True, "histology": v}),
        "data.histology",
        id="histology",
    ),
]


@pytest.mark.parametrize("value", BAD_TEXT)
@pytest.mark.parametrize(("build", "field"), TEXT_FIELDS)
def test_free_text_that_could_forge_or_hide_a_line_is_refused_naming_the_field(
    build: Any, field: str, value: str
) -> None:
    rejected = _rejected(build(value))

    assert rejected.field == field
    assert value.strip() == "" or value not in str(rejected)
    assert "123 456 7890" not in str(rejected)


@pytest.mark.parametrize(
    "name", ["Zoë", "O'Brien", "José María", "محمد", "שרה", "Nguyễn", "Ann-Marie", " Ann "]
)
def test_real_names_in_any_script_are_accepted(name: str) -> None:
    event = parse_event(json.dumps(referral_json(patient=patient_json(given_name=name))))

    assert event.type == "referral.received"


def test_a_name_of_two_hundred_characters_is_accepted_and_one_more_is_not() -> None:
    parse_event(json.dumps(referral_json(patient=patient_json(family_name="A" * 200))))

    assert _rejected(referral_json(patient=patient_json(family_name="A" * 201))).field == (
        "data.patient.family_name"
    )


def _admit_rejection(event: PathwayEvent, recorded: Sequence[PathwayEvent] = ()) -> str:
    with pytest.raises(EventRejected) as rejected:
        admit(recorded, event, rules=RULES, now=NOW)
    return rejected.value.field


def _meeting(at: datetime) -> PathwayEvent:
    return parse_event(json.dumps(_listed(at.isoformat()) | {"occurred_at": (T0 + D).isoformat()}))


ADMISSION = [
    pytest.param(
        lambda: referral(symptom_onset="1949-12-31"), "data.symptom_onset", id="onset before birth"
    ),
    pytest.param(
        lambda: referral(symptom_onset="2016-11-01"),
        "data.symptom_onset",
        id="onset more than 10 years before the referral",
    ),
    pytest.param(
        lambda: _meeting(datetime(1900, 1, 2, tzinfo=T0.tzinfo)),
        "data.meeting_at",
        id="meeting in 1900",
    ),
    pytest.param(lambda: _meeting(T0 + D - 367 * D), "data.meeting_at", id="meeting a year before"),
    pytest.param(lambda: _meeting(T0 + D + 367 * D), "data.meeting_at", id="meeting a year after"),
]


@pytest.mark.parametrize(("build", "field"), ADMISSION)
def test_a_clinically_impossible_date_is_refused_at_admission(build: Any, field: str) -> None:
    event = build()
    recorded = [] if event.type == "referral.received" else [mscc_referral()]

    assert _admit_rejection(event, recorded) == field


def test_plausible_dates_at_the_bounds_are_admitted() -> None:
    referral_event = referral(
        patient=patient_json(date_of_birth="1900-01-01"), symptom_onset="2016-11-03"
    )
    view = admit([], referral_event, rules=RULES, now=NOW)

    admit(
        [referral_event], _meeting(T0 + D + timedelta(days=365)), rules=RULES, now=NOW, current=view
    )


def test_a_stored_event_admitted_under_older_rules_is_read_back_as_stored() -> None:
    stored = json.dumps(
        referral_json(ref="PW-7F3K2Q", patient=patient_json(given_name="Ann\nLee"))
        | {"occurred_at": "1970-01-01T00:00:00+00:00"}
    )

    event = parse_stored_event(stored)

    assert event.pathway == "PW-7F3K2Q"
    assert _rejected(stored).field in {"pathway", "occurred_at", "data.patient.given_name"}


def test_a_damaged_stored_event_is_refused_as_a_whole() -> None:
    with pytest.raises(EventRejected) as rejected:
        parse_stored_event('{"type": "referral.received"}')

    assert rejected.value.field == "event"


def test_models_built_in_code_take_datetime_and_date_values() -> None:
    listed = MdtListedData(meeting_at=T0, board=Board.SPINAL)
    patient = Patient(mrn="M1", given_name="Ann", family_name="Lee", date_of_birth=date(1950, 1, 1))

    assert listed.meeting_at == T0
    assert patient.date_of_birth == date(1950, 1, 1)


def test_brackets_and_escaped_quotes_inside_strings_do_not_count_as_nesting() -> None:
    text = "[[[[" * 10 + '\\" {{{{' * 10
    line = json.dumps(_contacted(recorded_by=text))

    assert parse_event(line).recorded_by == text


def test_a_nesting_under_a_key_with_an_escape_is_refused_without_naming_it() -> None:
    line = '{"a\\"b": ' + "[" * 40 + "]" * 40 + "}"

    assert _rejected(line).field == "event"


def test_ten_years_before_29_february_counts_from_28_february() -> None:
    leap_day = datetime(2028, 2, 29, 9, 0, tzinfo=T0.tzinfo)
    onset_ok = referral(at=leap_day, symptom_onset="2018-02-28")
    onset_late = referral(at=leap_day, event_id="late", symptom_onset="2018-02-27")

    admit([], onset_ok, rules=RULES, now=leap_day)
    with pytest.raises(EventRejected) as rejected:
        admit([], onset_late, rules=RULES, now=leap_day)

    assert rejected.value.field == "data.symptom_onset"


@pytest.mark.parametrize(
    ("line", "field", "hidden"),
    [
        pytest.param(
            '{"data": {"neuro_features": [{"a": 1, "a": 2}]}}',
            "data.neuro_features[0].a",
            False,
            id="inside a list",
        ),
        pytest.param('{"Ann Lee": {"a": 1, "a": 2}}', "event", True, id="below an unsafe key"),
        pytest.param(
            '{"data": {"Ann Lee": [{"a": 1, "a": 2}]}}', "data", True, id="deeper below one"
        ),
    ],
)
def test_a_duplicate_key_is_named_by_its_path_unless_the_path_holds_an_unsafe_key(
    line: str, field: str, hidden: bool
) -> None:
    rejected = _rejected(line)

    assert rejected.field == field
    assert ("not shown" in rejected.reason) is hidden
    assert "Ann" not in str(rejected)


@pytest.mark.parametrize(
    "name", ["Ann\u00a0Lee", "\u0915\u094d\u200d\u0937", "\U0001f469\u200d\U0001f52c"]
)
def test_text_with_a_no_break_space_or_a_joiner_between_letters_is_accepted(name: str) -> None:
    event = parse_event(json.dumps(referral_json(patient=patient_json(given_name=name))))

    assert event.type == "referral.received"


def test_the_duplicate_search_finds_nothing_in_an_object_without_one() -> None:
    assert events._first_duplicate({"data": [{"a": 1}]}) is None
