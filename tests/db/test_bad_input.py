"""Bad input: every malformed or invalid event in tests/data/bad_events.jsonl is rejected with the
field named, and nothing but its audit entry is written (SQLite and PostgreSQL, intake and CLI)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from cordwatch.cli import app
from db.repository import AUDIT, CLOCK, INBOX, MILESTONE, OUTBOX, PATHWAY, PATIENT, table
from services.intake import Intake
from tests.conftest import NOW, RULES
from tests.factories import INTAKE_T0 as T0
from tests.factories import envelope
from tests.factories import referral_line as referral

H = timedelta(hours=1)

DATA = Path(__file__).resolve().parent.parent / "data"
EXPECTED: list[dict[str, Any]] = json.loads(
    (DATA / "bad_events_expected.json").read_text(encoding="utf-8")
)


def _lines(name: str) -> list[tuple[int | None, bytes]]:
    # Bytes, as the CLI reads them: some bad lines are not UTF-8 on purpose.
    raw = (DATA / name).read_bytes()
    return [(n, line) for n, line in enumerate(raw.split(b"\n")[:-1], 1)]


def _state(engine: Engine) -> list[list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return [
            sorted(tuple(str(v) for v in row) for row in conn.execute(select(table)))
            for table in (PATIENT, PATHWAY, INBOX, MILESTONE, CLOCK, OUTBOX)
        ]


def _audit_rejections(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(AUDIT).where(AUDIT.c.action == "event.rejected")))


def test_the_file_holds_at_least_seventy_bad_events() -> None:
    assert len(EXPECTED) >= 70
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
        for text in (row.field, row.reason, row.event_id or ""):
            assert "Canary" not in text
            assert "Badinput" not in text
            assert "[bold]" not in text
            assert "\n" not in text


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


def _referral_line(n: int) -> bytes:
    return json.dumps(
        {
            "event_id": f"bulk-{n}",
            "pathway": f"REF-BULK-{n}",
            "type": "referral.received",
            "occurred_at": "2026-11-20T08:00:00+00:00",
            "data": {
                "patient": {
                    "mrn": f"MRN-BULK-{n}",
                    "given_name": "Canary",
                    "family_name": "Badinput",
                    "date_of_birth": "1950-01-01",
                },
                "referrer": {"name": "Dr R", "organisation": "GP"},
                "cancer_status": "known",
                "pain_features": [],
                "neuro_features": ["limb_weakness"],
            },
        }
    ).encode()


def _unreadable_lines() -> list[bytes]:
    """One line of each kind that used to end `cordwatch ingest` with a traceback."""
    good = _referral_line(0)
    deep = b"[" * 1000 + b"]" * 1000
    return [
        good.replace(b"2026-11-20T08:00:00+00:00", b"0001-01-01T00:00:00+14:00"),
        good.replace(b"2026-11-20T08:00:00+00:00", b"9999-12-31T23:59:59-23:59"),
        good.replace(b'"cancer_status"', b'"deep": ' + deep + b', "cancer_status"'),
        good.replace(b"Canary", "Zoë".encode("latin-1")),
        b"\xff\xfe" + good.decode().encode("utf-16-le"),
        good.replace(b"Badinput", b"Bad\\u0000input"),  # DataError on PostgreSQL
        good.replace(b'"1950-01-01"', b'"0001-01-01"'),
        good.replace(b'"limb_weakness"]', b'"limb_weakness"], "x": ' + b"9" * 5000),
    ]


def test_bad_lines_among_1200_referrals_never_stop_the_file(engine: Engine, tmp_path: Path) -> None:
    bad = _unreadable_lines()
    lines: list[bytes] = []
    bad_at: list[int] = []
    for n in range(1, 1201):
        if n % 150 == 75:
            lines.append(bad[len(bad_at)].replace(b"bulk-0", b"bad-%d" % n))
            bad_at.append(len(lines))
        lines.append(_referral_line(n))
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")

    result = CliRunner().invoke(app, ["ingest", str(source), "--json", "--as-of", NOW.isoformat()])

    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["accepted"] == 1200
    assert [r["line"] for r in report["rejected"]] == bad_at
    assert all(r["field"] for r in report["rejected"])
    with engine.connect() as conn:
        assert len(list(conn.execute(select(PATHWAY.c.id)))) == 1200
    assert len(_audit_rejections(engine)) == len(bad)


def test_bytes_on_stdin_that_are_not_utf8_are_refused_line_by_line(engine: Engine) -> None:
    good = _referral_line(1)
    latin = _referral_line(2).replace(b"Canary", "Zoë".encode("latin-1"))

    result = CliRunner().invoke(
        app,
        ["ingest", "-", "--json", "--as-of", NOW.isoformat()],
        input=latin + b"\n" + good + b"\n",
    )

    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["accepted"] == 1
    assert [(r["line"], r["field"]) for r in report["rejected"]] == [(1, "event")]
    assert "UTF-8" in report["rejected"][0]["reason"]


def test_a_utf16_file_is_refused_line_by_line_without_a_traceback(
    engine: Engine, tmp_path: Path
) -> None:
    source = tmp_path / "utf16.jsonl"
    text = (_referral_line(1) + b"\n" + _referral_line(2) + b"\n").decode()
    source.write_bytes(text.encode("utf-16"))

    result = CliRunner().invoke(app, ["ingest", str(source), "--json", "--as-of", NOW.isoformat()])

    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["accepted"] == 0
    assert {r["field"] for r in report["rejected"]} == {"event"}
    # Two events, and the NUL byte that ends the last UTF-16 newline, alone on a "line".
    assert [r["line"] for r in report["rejected"]] == [1, 2, 3]


def test_a_byte_order_mark_at_the_start_of_a_file_loses_no_event(
    engine: Engine, tmp_path: Path
) -> None:
    source = tmp_path / "bom.jsonl"
    source.write_bytes(b"\xef\xbb\xbf" + _referral_line(1) + b"\n" + _referral_line(2) + b"\n")

    result = CliRunner().invoke(app, ["ingest", str(source), "--json", "--as-of", NOW.isoformat()])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["accepted"] == 2


def test_an_acknowledgement_dated_before_its_alert_was_raised_is_refused(
    engine: Engine, intake: Intake
) -> None:
    intake.ingest_lines([(1, referral("a-1", "REF-A", T0))], now=NOW)
    pathway_id = _pathway_id(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(table("alert")).values(
                id="AL-TEST01",
                key="alert:test",
                pathway_id=pathway_id,
                clock_id="MRI-MSCC",
                clock_starts_at=T0,
                level="breach",
                step=1,
                tags="coordinator",
                created_at=T0 + 24 * H,
            )
        )

    def ack(event_id: str, at: timedelta) -> str:
        data = {"alert_id": "AL-TEST01", "by": "Dr Lead"}
        return envelope(event_id, "REF-A", "alert.acknowledged", T0 + at, data)

    early = intake.ingest_lines([(1, ack("ack-early", 23 * H))], now=NOW)
    later = intake.ingest_lines([(1, ack("ack-later", 25 * H))], now=NOW)

    assert [(r.field, r.reason) for r in early.rejected] == [
        ("occurred_at", "before the alert was raised")
    ]
    assert later.rejected == []
    assert later.accepted == 1


def _pathway_id(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(PATHWAY.c.id)).scalar_one())


def test_a_pathway_stored_before_the_stricter_rules_still_loads_and_takes_events(
    engine: Engine, intake: Intake
) -> None:
    """Stored events were admitted under the rules of their time: re-reading never refuses them."""
    intake.ingest_lines([(1, referral("legacy-1", "REF-LEGACY", T0))], now=NOW)
    with engine.begin() as conn:
        payload = json.loads(conn.execute(select(INBOX.c.payload)).scalar_one())
        payload["data"]["patient"]["given_name"] = "Ann\nLee"
        payload["data"]["referrer"]["name"] = "   "
        conn.execute(INBOX.update().values(payload=json.dumps(payload)))
    fresh = Intake(engine, new_pathway_rules=lambda: RULES)

    data = {"coordinator": "Sam Lee"}
    result = fresh.ingest_lines(
        [(1, envelope("legacy-2", "REF-LEGACY", "coordinator.contacted", T0 + H, data))], now=NOW
    )
    shown = CliRunner().invoke(app, ["show", "REF-LEGACY", "--json", "--as-of", NOW.isoformat()])

    assert (result.accepted, result.rejected) == (1, [])
    assert shown.exit_code == 0, shown.output
