"""Bad input: every malformed or invalid event in tests/data/bad_events.jsonl is rejected with the
field named, and nothing but its audit entry is written (SQLite and PostgreSQL, intake and CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cordwatch.cli import app
from cordwatch.intake import Intake
from db.repository import AUDIT, CLOCK, INBOX, MILESTONE, OUTBOX, PATHWAY, PATIENT
from tests.conftest import NOW

DATA = Path(__file__).resolve().parent.parent / "data"
EXPECTED: list[dict[str, Any]] = json.loads(
    (DATA / "bad_events_expected.json").read_text(encoding="utf-8")
)


def _lines(name: str) -> list[tuple[int | None, str]]:
    text = (DATA / name).read_text(encoding="utf-8")
    return [(n, line) for n, line in enumerate(text.splitlines(), 1)]


def _state(engine: Engine) -> list[list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return [
            sorted(tuple(str(v) for v in row) for row in conn.execute(select(table)))
            for table in (PATIENT, PATHWAY, INBOX, MILESTONE, CLOCK, OUTBOX)
        ]


def _audit_rejections(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(AUDIT).where(AUDIT.c.action == "event.rejected")))


def test_the_file_holds_at_least_thirty_bad_events() -> None:
    assert len(EXPECTED) >= 30
    assert len(_lines("bad_events.jsonl")) == len(EXPECTED)


def test_every_bad_event_is_rejected_naming_its_field_and_nothing_is_written(
    engine: Engine, intake: Intake
) -> None:
    assert intake.ingest_lines(_lines("bad_events_base.jsonl"), now=NOW).rejected == []
    before = _state(engine)

    result = intake.ingest_lines(_lines("bad_events.jsonl"), now=NOW)

    assert result.accepted == 0
    got = {r.line: r for r in result.rejected}
    for expected in EXPECTED:
        rejection = got[expected["line"]]
        assert rejection.field == expected["field"], (expected, rejection)
        assert expected["reason_contains"] in rejection.reason, (expected, rejection)
    assert _state(engine) == before
    audited = _audit_rejections(engine)
    assert len(audited) == len(EXPECTED)
    for row in audited:
        assert row.field
        assert row.reason
        assert "Canary" not in row.reason
        assert "Badinput" not in row.reason
        assert "9434765919" not in row.reason.replace(" ", "")


def test_the_cli_reports_each_rejection_as_json_and_exits_1(engine: Engine) -> None:
    runner = CliRunner()
    base = runner.invoke(
        app, ["ingest", str(DATA / "bad_events_base.jsonl"), "--as-of", NOW.isoformat()]
    )
    assert base.exit_code == 0, base.output

    result = runner.invoke(
        app, ["ingest", str(DATA / "bad_events.jsonl"), "--json", "--as-of", NOW.isoformat()]
    )

    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["accepted"] == 0
    assert [r["line"] for r in report["rejected"]] == [e["line"] for e in EXPECTED]
    assert all(set(r) == {"line", "event_id", "field", "reason"} for r in report["rejected"])
