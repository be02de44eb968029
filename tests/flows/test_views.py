"""What the Prefect UI shows, built without Prefect: no free text, no identifiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cordwatch.views import BoardRow
from tasks.views import board_table, clocks_table, timeline_markdown

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
