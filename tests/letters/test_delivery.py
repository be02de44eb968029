"""Delivery on SQLite and PostgreSQL: each letter produced and sent once, across replays and
retries; e-mail through a real local SMTP server with the PDF intact; failures visible."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from db.letters import LETTER, LETTER_TEMPLATE
from db.repository import AUDIT, OUTBOX
from services.intake import Intake
from services.settings import get_settings
from services.watch import run_watch
from tasks.effects import run_pending_effects
from tests.alerts.receivers import SmtpReceiver
from tests.conftest import RULES
from tests.letters.canonical import CANONICAL_FILE, INTAKE_AT

NOW = INTAKE_AT + timedelta(minutes=1)


def _ingest(intake: Intake, path: Path = CANONICAL_FILE) -> None:
    lines = list(enumerate(path.read_text().splitlines(), start=1))
    result = intake.ingest_lines(lines, now=INTAKE_AT)
    assert not result.rejected


def _deliver(at: datetime = NOW) -> dict[str, int]:
    return asyncio.run(run_pending_effects(None, at, kinds={"letter"}))


def _letters(engine: Engine) -> list[dict]:  # type: ignore[type-arg]
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(LETTER).order_by(LETTER.c.key))]


@pytest.fixture
def smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    config = tmp_path / "apprise.yml"
    config.write_text(
        f'urls:\n  - "{receiver.url("gp-inbox@example.org")}":\n      - tag: letters-gp\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("CORDWATCH_ALERT_CONFIG_PATH", str(config))
    get_settings.cache_clear()
    yield receiver
    receiver.close()


def test_each_letter_is_produced_recorded_and_sent_once(intake: Intake, engine: Engine) -> None:
    _ingest(intake)
    assert _deliver() == {"sent": 10}
    letters = _letters(engine)
    assert len(letters) == 10
    for letter in letters:
        assert letter["status"] == "sent"
        assert letter["channel"] == "folder"
        assert letter["pathway_id"].startswith("PW-")
        for fmt, column in (
            ("html", "html_sha256"),
            ("pdf", "pdf_sha256"),
            ("text", "text_sha256"),
        ):
            data = Path(letter[f"{fmt}_path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == letter[column]
        assert Path(letter["pdf_path"]).parent.name == letter["pathway_id"]
    with engine.connect() as conn:
        versions = conn.execute(select(func.count()).select_from(LETTER_TEMPLATE)).scalar()
        actions = [
            r.action
            for r in conn.execute(select(AUDIT.c.action).where(AUDIT.c.source == "letters"))
        ]
    assert versions == 7  # one version per letter's templates
    assert actions.count("letter.produced") == 10
    assert actions.count("letter.sent") == 10
    # The template sources are kept: the exact wording sent can be shown later.
    with engine.connect() as conn:
        sources = conn.execute(
            select(LETTER_TEMPLATE.c.sources).where(
                LETTER_TEMPLATE.c.version == letters[0]["template_version"]
            )
        ).scalar_one()
    assert f"{letters[0]['name']}.txt.j2" in json.loads(sources)

    # A replay of the whole file, a second delivery run and a watch send nothing again.
    replay = intake.ingest_lines(list(enumerate(CANONICAL_FILE.read_text().splitlines())), now=NOW)
    assert replay.duplicates == 12
    assert _deliver(NOW + timedelta(minutes=1)) == {}
    run_watch(engine, as_of=NOW + timedelta(minutes=2))
    assert _deliver(NOW + timedelta(minutes=3)) == {}
    assert len(_letters(engine)) == 10


def test_letters_to_a_role_with_email_arrive_with_the_pdf_intact(
    intake: Intake, engine: Engine, smtp: SmtpReceiver
) -> None:
    _ingest(intake)
    assert _deliver() == {"sent": 10}
    gp_letters = [letter for letter in _letters(engine) if letter["recipient"] == "gp"]
    assert {letter["channel"] for letter in gp_letters} == {"folder+email"}
    assert len(smtp.messages) == len(gp_letters) == 3
    received = {}
    for message in smtp.messages:
        assert message["To"] == "gp-inbox@example.org"
        for part in message.walk():
            if part.get_filename():
                received[part.get_filename()] = part.get_payload(decode=True)
        body = message.as_string()
        for identifier in ("Margaret", "Okafor", "9434765919", "RX1-448213"):
            assert identifier not in body.split("Content-Disposition")[0]
    for letter in gp_letters:
        pdf = Path(letter["pdf_path"])
        assert received[pdf.name] == pdf.read_bytes()
    # Delivered once: later runs send no second e-mail.
    _deliver(NOW + timedelta(minutes=5))
    assert len(smtp.messages) == 3


def test_a_failing_delivery_is_retried_visible_and_finally_undelivered(
    intake: Intake, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the letters folder should be", encoding="utf-8")
    monkeypatch.setenv("CORDWATCH_LETTERS_DIR", str(blocked))
    monkeypatch.setenv("CORDWATCH_LETTER_DELIVERY_ATTEMPTS", "2")
    get_settings.cache_clear()
    _ingest(intake)
    assert _deliver() == {"pending": 10}
    with engine.connect() as conn:
        rows = conn.execute(select(OUTBOX).where(OUTBOX.c.kind == "letter")).all()
    assert {r.attempts for r in rows} == {1}
    assert {json.loads(r.result)["error"] for r in rows} == {"NotADirectoryError"}
    assert _deliver(NOW + timedelta(minutes=1)) == {"undelivered": 10}
    with engine.connect() as conn:
        undelivered = conn.execute(
            select(func.count()).select_from(AUDIT).where(AUDIT.c.action == "letter.undelivered")
        ).scalar()
    assert undelivered == 10
    assert _letters(engine) == []  # nothing half-written


def test_a_recovered_folder_delivers_on_the_next_attempt(
    intake: Intake, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "letters"
    blocked.write_text("in the way", encoding="utf-8")
    monkeypatch.setenv("CORDWATCH_LETTERS_DIR", str(blocked))
    get_settings.cache_clear()
    _ingest(intake)
    assert _deliver() == {"pending": 10}
    blocked.unlink()
    assert _deliver(NOW + timedelta(minutes=1)) == {"sent": 10}
    assert {letter["attempts"] for letter in _letters(engine)} == {2}


def _referral_line(at: datetime) -> str:
    lines = CANONICAL_FILE.read_text().splitlines()
    first = json.loads(lines[0])
    first["occurred_at"] = at.isoformat()
    return json.dumps(first)


def test_a_breach_seen_by_the_watch_and_then_stopped_late_is_reported_once(
    engine: Engine,
) -> None:
    referred = datetime(2026, 11, 9, 8, 30, tzinfo=UTC)
    intake = Intake(engine, new_pathway_rules=lambda: RULES)
    intake.ingest_lines([(1, _referral_line(referred))], now=referred + timedelta(minutes=1))
    # The watch sees COORD-MSCC running past its due time: breach alert and breach report.
    run_watch(engine, as_of=referred + timedelta(hours=2))
    with engine.connect() as conn:
        keys = [k for (k,) in conn.execute(select(OUTBOX.c.key).where(OUTBOX.c.kind == "letter"))]
    assert sum(":breach_report:" in k for k in keys) == 1
    # The coordinator contact then arrives late: the clock stops breached, no second report.
    late = json.loads(CANONICAL_FILE.read_text().splitlines()[2])
    late["occurred_at"] = (referred + timedelta(hours=3)).isoformat()
    result = intake.ingest_lines([(1, json.dumps(late))], now=referred + timedelta(hours=3))
    assert not result.rejected
    with engine.connect() as conn:
        reports = conn.execute(
            select(OUTBOX.c.key).where(OUTBOX.c.key.contains(":breach_report:"))
        ).all()
    assert len(reports) == 1
    counts = _deliver(referred + timedelta(hours=3, minutes=1))
    assert counts["sent"] == 3  # acknowledgement, patient information, breach report


def test_undelivered_letters_show_on_the_coordinator_board(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.views import board

    blocked = tmp_path / "letters"
    blocked.write_text("in the way", encoding="utf-8")
    monkeypatch.setenv("CORDWATCH_LETTERS_DIR", str(blocked))
    monkeypatch.setenv("CORDWATCH_LETTER_DELIVERY_ATTEMPTS", "1")
    get_settings.cache_clear()
    referred = datetime(2026, 11, 9, 8, 30, tzinfo=UTC)
    intake = Intake(engine, new_pathway_rules=lambda: RULES)
    intake.ingest_lines([(1, _referral_line(referred))], now=referred + timedelta(minutes=1))
    assert _deliver(referred + timedelta(minutes=2)) == {"undelivered": 2}
    with engine.connect() as conn:
        rows = board(conn, as_of=referred + timedelta(minutes=3))
    assert [row.undelivered_letters for row in rows] == [2]
    assert rows[0].as_dict()["undelivered_letters"] == 2


def test_a_batch_of_letters_renders_on_worker_processes(
    intake: Intake, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.letters import POOL_FROM, deliver_pending_letters

    monkeypatch.setenv("CORDWATCH_LETTER_RENDER_PROCESSES", "2")
    get_settings.cache_clear()
    _ingest(intake)
    assert POOL_FROM <= 10
    assert asyncio.run(deliver_pending_letters(NOW)) == {"sent": 10}
    for letter in _letters(engine):
        assert Path(letter["pdf_path"]).read_bytes().startswith(b"%PDF-")
        assert letter["status"] == "sent"
    assert asyncio.run(deliver_pending_letters(NOW + timedelta(minutes=1))) == {}


def test_the_pathway_timeline_shows_each_letter_produced_and_sent(
    intake: Intake, engine: Engine
) -> None:
    from services.audit_report import pathway_timeline

    _ingest(intake)
    _deliver()
    with engine.connect() as conn:
        timeline = pathway_timeline(conn, "REF-2026-0042", as_of=NOW)
    lines = [item.what for item in timeline.items if item.kind == "audit"]
    assert "letter.produced treatment_summary" in lines
    assert lines.count("letter.sent mdt_outcome") == 3


def test_a_template_version_recorded_by_a_concurrent_letter_is_not_a_failure(
    engine: Engine,
) -> None:
    """Two letters of one template produced at once both find the version new; the second
    insert meets the first's row. Ordered for certain: the test's own transaction inserts the
    version and holds it uncommitted until the letter's transaction is seen waiting for it."""
    import threading

    from sqlalchemy import insert, text

    from db.engine import transaction
    from db.letters import record_template

    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers at BEGIN IMMEDIATE: the race cannot happen")
    version, sources, name = "0123456789abcdef", '{"x.txt.j2": "x"}', "referral_ack"
    failures: list[BaseException] = []

    def the_other_letter() -> None:
        try:
            with transaction(engine) as conn:
                record_template(conn, version, name, sources, NOW)
                conn.execute(text("SELECT 1"))  # the transaction goes on after the conflict
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    with engine.connect() as first, first.begin():
        first.execute(
            insert(LETTER_TEMPLATE).values(
                version=version, name=name, sources=sources, first_used_at=NOW
            )
        )
        other = threading.Thread(target=the_other_letter)
        other.start()
        waiting = threading.Event()
        with engine.connect() as probe:
            for _ in range(6000):  # up to a minute for the other insert to reach the lock
                lock_waits = probe.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                ).scalar_one()
                probe.rollback()
                if lock_waits:
                    break
                waiting.wait(0.01)
            assert lock_waits, "the other letter never waited for the version's row"
    other.join()

    assert failures == []
    with engine.connect() as conn:
        kept = conn.execute(select(func.count()).select_from(LETTER_TEMPLATE)).scalar_one()
    assert kept == 1


def test_a_watch_out_of_letter_time_leaves_the_rest_pending_untouched_for_the_next(
    intake: Intake, engine: Engine
) -> None:
    """A backlog of letters (a bulk intake) never holds a deadline watch past its interval:
    past its budget no letter is started, and the next run produces them."""
    from tasks.letters import deliver_pending_letters

    _ingest(intake)

    deferred = asyncio.run(deliver_pending_letters(NOW, budget_seconds=0))
    untouched = [(letter["status"], letter["attempts"]) for letter in _letters(engine)]
    later = asyncio.run(deliver_pending_letters(NOW + timedelta(minutes=1)))

    assert deferred == {"deferred": 10}
    assert untouched == []  # no letter row produced, no attempt counted
    assert later == {"sent": 10}
