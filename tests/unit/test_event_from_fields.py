"""An event cordwatch records itself (an acknowledgement) is built from typed fields
(``pathway.events.event_from_fields``) and checked exactly as the same event read as a line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pathway.errors import EventRejected
from pathway.events import event_from_fields, parse_event
from tests.factories import T0


def acknowledgement(**overrides: Any) -> dict[str, Any]:
    fields = {
        "event_id": "ack-AL-23456789",
        "type": "alert.acknowledged",
        "pathway": "REF-1",
        "occurred_at": T0,
        "recorded_by": "Dr Ada Smith",
        "source": "cordwatch-cli",
        "data": {"alert_id": "AL-23456789", "by": "Dr Ada Smith"},
    }
    return {**fields, **overrides}


def as_line(fields: dict[str, Any]) -> str:
    return json.dumps({**fields, "occurred_at": fields["occurred_at"].isoformat()})


def test_an_acknowledgement_from_fields_is_the_event_its_line_would_be() -> None:
    fields = acknowledgement()

    assert event_from_fields(fields) == parse_event(as_line(fields))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"recorded_by": "Ada\nNHS number: 943"}, "recorded_by", id="a forged line"),
        pytest.param({"data": {"alert_id": "AL-1", "by": " "}}, "data.by", id="a blank name"),
        pytest.param({"pathway": "PW-ABC123"}, "pathway", id="an internal id as reference"),
    ],
)
def test_a_refused_field_is_named_as_for_a_line(overrides: dict[str, Any], field: str) -> None:
    fields = acknowledgement(**overrides)

    with pytest.raises(EventRejected) as from_fields:
        event_from_fields(fields)
    with pytest.raises(EventRejected) as from_line:
        parse_event(as_line(fields))

    assert (from_fields.value.field, from_fields.value.reason) == (field, from_line.value.reason)
    assert from_fields.value.event_id == "ack-AL-23456789"
