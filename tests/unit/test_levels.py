"""Vertebral levels of an imaging report (pathway-spec.md section 2.1), for every ruleset version.

A list of levels or ranges (upper level first); a single string is a one-item list; anything else
is refused naming ``data.levels``, without repeating what was sent.
"""

from __future__ import annotations

from typing import Any

import pytest

from pathway.errors import EventRejected
from pathway.events import ImagingReported
from pathway.letter_context import levels_words
from tests.factories import T0, envelope_json, parse


def _report(levels: Any) -> dict[str, Any]:
    return envelope_json("imaging.reported", T0, {"finding": "mscc", "levels": levels})


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        pytest.param(["T10"], ["T10"], id="one level in a list"),
        pytest.param("T10", ["T10"], id="a single string is a one-item list"),
        pytest.param(["T4-T6", "L2"], ["T4-T6", "L2"], id="a range and a level"),
        pytest.param(["C1", "C7", "T1", "T12", "L1", "L5", "S1", "S5"], None, id="every region"),
        pytest.param("T12-L2", ["T12-L2"], id="a range across the thoracolumbar junction"),
        pytest.param("C7-T1", ["C7-T1"], id="a range across the cervicothoracic junction"),
    ],
)
def test_levels_are_a_list_of_levels_or_ranges(sent: Any, kept: list[str] | None) -> None:
    event = parse(_report(sent))

    assert isinstance(event, ImagingReported)
    assert event.data.levels == (sent if kept is None else kept)


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param("T13", id="no thirteenth thoracic vertebra"),
        pytest.param("C8", id="C8 is a nerve root, not a vertebra"),
        pytest.param("L6", id="L6"),
        pytest.param("S0", id="S0"),
        pytest.param("t10", id="lower case"),
        pytest.param(" T10", id="surrounding space"),
        pytest.param("T6-T4", id="range with the lower level first"),
        pytest.param("T4-T4", id="range of one level"),
        pytest.param("T4-", id="open range"),
        pytest.param("T4-T6-T8", id="range of three"),
        pytest.param("T7 Mrs Smith", id="free text"),
        pytest.param([], id="empty list"),
        pytest.param(["T4", 5], id="a number in the list"),
        pytest.param(10, id="a number"),
        pytest.param({"level": "T4"}, id="an object"),
        pytest.param("", id="empty string"),
    ],
)
def test_anything_else_is_refused_naming_data_levels(sent: Any) -> None:
    with pytest.raises(EventRejected) as rejected:
        parse(_report(sent))

    assert rejected.value.field == "data.levels"
    assert "Smith" not in str(rejected.value)


def test_a_refusal_says_which_item_is_wrong() -> None:
    with pytest.raises(EventRejected) as rejected:
        parse(_report(["T4", "T13"]))

    assert "item 2" in rejected.value.reason


@pytest.mark.parametrize(
    ("levels", "words"),
    [
        pytest.param(["T4-T6", "L2"], "T4-T6, L2", id="a list joined"),
        pytest.param("T8-T9", "T8-T9", id="an old string kept"),
        pytest.param(None, None, id="none"),
        pytest.param([], None, id="empty"),
    ],
)
def test_letters_show_the_levels_as_one_line(
    levels: list[str] | str | None, words: str | None
) -> None:
    assert levels_words(levels) == words
