"""What the Prefect UI shows, built without Prefect: no free text, no identifiers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.views import BoardRow
from tasks.views import artifact_key, board_table, clocks_table, timeline_markdown

LONDON = ZoneInfo("Europe/London")
AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _document() -> dict[str, object]:
    return {
        "id": "PW-ABCDEF",
        "category": "suspected_mscc",
        "stage": "awaiting_decision",
        "status": "open",
        "closed_reason": None,
        "ruleset": "nice-ng234-2023.v1",
        "milestones": [
            {
                "type": "steroids.withheld",
                "at": AT.isoformat(),
                "details": {"reason": "Mrs Quill has lymphoma"},
            },
            {
                "type": "imaging.reported",
                "at": AT.isoformat(),
                "details": {"finding": "mscc", "levels": "T4 Quill"},
            },
            {
                "type": "coordinator.contacted",
                "at": AT.isoformat(),
                "details": {"coordinator": "Sam"},
            },
        ],
        "clocks": [
            {
                "id": "STEROID-MSCC",
                "limit": "4 h",
                "local": True,
                "starts_at": AT.isoformat(),
                "due_at": (AT + timedelta(hours=4)).isoformat(),
                "stopped_at": AT.isoformat(),
                "status": "excluded",
                "at_risk": False,
                "reason": "Mrs Quill has lymphoma",
            }
        ],
    }


def test_the_timeline_keeps_coded_facts_and_drops_free_text() -> None:
    text = timeline_markdown(_document(), LONDON)

    assert "finding: mscc" in text
    assert "steroids.withheld" in text
    assert "Quill" not in text
    assert "Sam" not in text


def test_the_clocks_table_never_shows_a_free_text_reason() -> None:
    rows = clocks_table(_document(), LONDON)

    assert rows[0]["clock"] == "STEROID-MSCC"
    assert rows[0]["reason"] == "recorded"
    assert rows[0]["limit"] == "4 h (local)"


def test_the_board_table_flags_red_amber_green() -> None:
    rows = [
        BoardRow(
            "PW-AAAAAA",
            "REF-1",
            "suspected_mscc",
            "awaiting_imaging",
            "MRI-MSCC",
            AT,
            timedelta(hours=-2),
            "breached",
            1,
            0,
        ),
        BoardRow(
            "PW-BBBBBB", "REF-2", "needs_review", "needs_review", None, None, None, "REVIEW", 0, 0
        ),
    ]

    table = board_table(rows, LONDON)

    assert table[0]["status"] == "RED: breached"
    assert table[0]["time left"] == "overdue 2 h 00 min"
    assert table[1]["status"] == "REVIEW: set a category"
    assert "REF-1" not in str(table)


HOSTILE = "a | b <script>alert(1)</script> *bold* [x](http://e)\nnext | row"


def _hostile_document() -> dict[str, object]:
    document = _document()
    document["milestones"] = [
        {"type": "imaging.reported", "at": AT.isoformat(), "details": {"finding": HOSTILE}},
        {"type": "pathway.closed", "at": AT.isoformat(), "details": {"reason": HOSTILE}},
    ]
    document["closed_reason"] = HOSTILE
    return document


def test_markup_in_a_value_cannot_break_the_timeline_table_or_inject_html() -> None:
    text = timeline_markdown(_hostile_document(), LONDON)

    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 3  # the header and one row per milestone, each on one line
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 4 for line in rows)  # three cells
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert "*bold*" not in text


def test_markup_in_a_finding_cannot_break_the_board_decision_form() -> None:
    from flows.board_decision import clinical_summary

    document = _hostile_document()
    document["clocks"] = []

    text = clinical_summary(document, LONDON)

    assert "<script>" not in text
    assert "\nnext" not in text
    assert "*bold*" not in text


def test_artifact_keys_are_valid_prefect_keys() -> None:
    assert artifact_key("PW-7F3K2Q", "timeline") == "pathway-pw-7f3k2q-timeline"
