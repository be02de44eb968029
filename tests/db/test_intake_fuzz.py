"""A property-based fuzzer of the real intake on a real database (SQLite and PostgreSQL).

Over arbitrary bytes and over valid events mutated (keys dropped or given twice, values of
another type, deep nesting, huge or odd numbers, odd Unicode, odd times, other encodings):

* the intake never raises;
* every non-blank line is accepted, a duplicate, or rejected naming a field;
* a rejected line changes nothing but its own audit entry, which repeats no patient value.

CI runs a bounded number of examples per database (about 20 s in all); set
``CORDWATCH_FUZZ_EXAMPLES`` for a longer run, e.g. ``CORDWATCH_FUZZ_EXAMPLES=20000 pytest
tests/db/test_intake_fuzz.py``.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from db.repository import AUDIT, CLOCK, INBOX, MILESTONE, OUTBOX, PATHWAY, PATIENT
from services.intake import Intake
from tests.conftest import NOW, RULES
from tests.factories import INTAKE_T0 as T0

EXAMPLES = int(os.environ.get("CORDWATCH_FUZZ_EXAMPLES", "120"))

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # the examples are generated afresh: nothing is written to the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

REF = "REF-FUZZ-1"
CANARIES = ("Canary", "Badinput", "9434765919")


def _envelope(event_id: str, type_: str, data: dict[str, Any], *, ref: str = REF) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "pathway": ref,
        "type": type_,
        "occurred_at": (T0 + timedelta(hours=2)).isoformat(),
        "recorded_by": "fuzz-feed",
        "source": "fuzz",
        "data": data,
    }


def _referral(event_id: str, ref: str) -> dict[str, Any]:
    event = _envelope(
        event_id,
        "referral.received",
        {
            "patient": {
                "nhs_number": "943 476 5919",
                "mrn": "MRN-FUZZ",
                "given_name": "Canary",
                "family_name": "Badinput",
                "date_of_birth": "1950-01-01",
                "sex": "female",
            },
            "referrer": {"name": "Dr R", "organisation": "GP", "contact": "01632 960111"},
            "cancer_status": "known",
            "primary_site": "breast",
            "pain_features": ["nocturnal_pain"],
            "neuro_features": ["limb_weakness"],
            "ambulatory_status": "with_aid",
            "symptom_onset": "2026-10-01",
        },
        ref=ref,
    )
    event["occurred_at"] = T0.isoformat()
    return event


VALID: list[dict[str, Any]] = [
    _referral("fz-new", "REF-FUZZ-NEW"),
    _envelope("fz-coord", "coordinator.contacted", {"coordinator": "Sam Lee"}),
    _envelope("fz-ster", "steroids.started", {"drug": "dexamethasone", "dose_mg": 16}),
    _envelope("fz-held", "steroids.withheld", {"reason": "suspected lymphoma"}),
    _envelope(
        "fz-ctreq", "imaging.requested", {"modality": "ct_whole_spine", "reason": "pacemaker"}
    ),
    _envelope("fz-mri", "imaging.performed", {"modality": "mri_whole_spine"}),
    _envelope(
        "fz-mdt",
        "mdt.listed",
        {"meeting_at": (T0 + timedelta(days=1)).isoformat(), "board": "spinal"},
    ),
    _envelope("fz-tri", "triage.overridden", {"category": "suspected_mscc", "reason": "review"}),
    _envelope("fz-ack", "alert.acknowledged", {"alert_id": "AL-NONE", "by": "Dr Lead"}),
    _envelope("fz-out", "outcome.recorded", {"ambulatory_status": "independent", "at": "week 6"}),
    _envelope("fz-hist", "histology.reported", {"malignant": True, "histology": "adenocarcinoma"}),
]

ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\u200d",
        "\u3164",
        "Ann\nNHS number: 123 456 7890",
        "x\x00",
        "\u202eevil",
        "\u2066",
        "\u2028",
        "\ud800",
        "\udfff\ud800",
        "PW-7F3K2Q",
        "pw-aaaaaa",
        "[bold]x[/bold]",
        "Zoë",
        "A" * 201,
        "A" * 501,
        "\U0001f600",
        "1796115600",
        "1796115600000",
    ]
) | st.text(max_size=30)

ODD_TIME = st.sampled_from(
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-23:59",
        "1900-01-01T00:00:00+14:00",
        "2100-12-31T23:59:59-23:59",
        "1970-01-01T00:00:00+00:00",
        "1999-12-31T23:59:59Z",
        "2026-11-20T09:00:00",
        "2026-11-20 09:00:00+00:00",
        "2026-02-30T09:00:00+00:00",
        "2026-11-20T25:00:00+00:00",
        "1796115600",
        "1796115600000",
        "0001-01-01",
        "2026-11-20",
    ]
) | st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat())

ODD_NUMBER = (
    st.sampled_from(
        [0, -1, 1e-300, 1e308, -0.0, 0.1, 0.09999, 1000, 1000.0001, 2**63, 10**30, True, False]
    )
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers()
)

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_TEXT, inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


def _set(value: Any, path: tuple[Any, ...], new: Any) -> None:
    for step in path[:-1]:
        value = value[step]
    value[path[-1]] = new


def _drop(value: Any, path: tuple[Any, ...]) -> None:
    for step in path[:-1]:
        value = value[step]
    del value[path[-1]]


def _dump(value: Any, duplicate: tuple[Any, ...] | None, here: tuple[Any, ...] = ()) -> str:
    """JSON text of ``value``; the key at path ``duplicate`` is written twice."""
    if isinstance(value, dict):
        parts = []
        for key, child in value.items():
            text = _dump(child, duplicate, (*here, key))
            parts.append(f"{json.dumps(key)}: {text}")
            if duplicate == (*here, key):
                parts.append(f"{json.dumps(key)}: {json.dumps('second')}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(c, duplicate, (*here, n)) for n, c in enumerate(value)) + "]"
    return json.dumps(value)


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    event = json.loads(json.dumps(draw(st.sampled_from(VALID))))
    duplicate: tuple[Any, ...] | None = None
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(event)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(
            st.sampled_from(
                ["drop", "duplicate", "text", "time", "number", "json", "nest", "add", "key"]
            )
        )
        if action == "drop":
            _drop(event, path)
        elif action == "duplicate" and isinstance(path[-1], str):
            duplicate = path
        elif action == "text":
            _set(event, path, draw(ODD_TEXT))
        elif action == "time":
            _set(event, path, draw(ODD_TIME))
        elif action == "number":
            _set(event, path, draw(ODD_NUMBER))
        elif action == "json":
            _set(event, path, draw(ANY_JSON))
        elif action == "nest":
            depth = draw(st.sampled_from([2, 31, 32, 33, 200]))
            _set(event, path, json.loads("[" * depth + "]" * depth))
        elif action == "add":
            event[draw(ODD_TEXT)] = draw(ANY_JSON)
        else:
            parent = event
            for step in path[:-1]:
                parent = parent[step]
            if isinstance(parent, dict):
                parent[draw(ODD_TEXT)] = parent.pop(path[-1])
    try:
        text = _dump(event, duplicate)
    except (ValueError, RecursionError):
        text = json.dumps({"event_id": "unprintable"})
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        # Nesting deeper than the parser's recursion limit, spliced in as text.
        text = text.replace('"data": ', '"data": ' + "[" * 1100 + "]" * 1100 + ", ", 1)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "latin-1", "bom"]))
    if encoding == "bom":
        data = b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    elif encoding == "utf-8":
        data = text.encode("utf-8", "surrogatepass")
    else:
        data = text.encode(encoding, "replace")
    if draw(st.booleans()):
        flips = draw(st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=3))
        mutable = bytearray(data)
        for position, byte in flips:
            if mutable:
                mutable[position % len(mutable)] = byte
        data = bytes(mutable)
    return data.replace(b"\n", b" ")


def _state(engine: Engine) -> list[list[tuple[str, ...]]]:
    with engine.connect() as conn:
        return [
            sorted(tuple(str(v) for v in row) for row in conn.execute(select(table)))
            for table in (PATIENT, PATHWAY, INBOX, MILESTONE, CLOCK, OUTBOX)
        ]


def _audit(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        rejected = conn.execute(
            select(func.count()).select_from(AUDIT).where(AUDIT.c.action == "event.rejected")
        ).scalar_one()
        other = conn.execute(
            select(func.count()).select_from(AUDIT).where(AUDIT.c.action != "event.rejected")
        ).scalar_one()
    return int(rejected), int(other)


def _check_one_line(engine: Engine, intake: Intake, line: bytes) -> None:
    before, (rejected_before, other_before) = _state(engine), _audit(engine)

    result = intake.ingest_lines([(7, line)], now=NOW)

    if not line.strip():
        assert (result.accepted, result.duplicates, result.rejected) == (0, 0, [])
        return
    assert result.accepted + result.duplicates + len(result.rejected) == 1
    if result.accepted:
        return
    after, (rejected_after, other_after) = _state(engine), _audit(engine)
    assert after == before
    assert other_after == other_before
    if result.duplicates:
        assert rejected_after == rejected_before
        return
    [rejection] = result.rejected
    assert rejection.line == 7
    assert rejection.field
    assert rejection.reason
    assert len(rejection.field) <= 200
    for canary in CANARIES:
        assert canary not in rejection.reason
    assert "\n" not in rejection.field + rejection.reason
    assert rejected_after == rejected_before + 1


@pytest.fixture
def fuzz_intake(engine: Engine) -> Intake:
    intake = Intake(engine, new_pathway_rules=lambda: RULES)
    base = [_referral("fz-base", REF), VALID[2]]
    assert (
        intake.ingest_lines([(n, json.dumps(e)) for n, e in enumerate(base)], now=NOW).rejected
        == []
    )
    return intake


@FUZZ
@given(line=st.binary(max_size=400))
def test_arbitrary_bytes_never_break_the_intake(
    engine: Engine, fuzz_intake: Intake, line: bytes
) -> None:
    _check_one_line(engine, fuzz_intake, line)


@FUZZ
@given(line=mutated_events())
def test_mutated_events_are_accepted_or_rejected_naming_a_field_and_change_nothing_else(
    engine: Engine, fuzz_intake: Intake, line: bytes
) -> None:
    _check_one_line(engine, fuzz_intake, line)
