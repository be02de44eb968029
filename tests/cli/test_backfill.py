"""`cordwatch ingest --backfill`: history is counted but owes no letter; alerts only from now.

The cohort, at the import moment NOW (SQLite and PostgreSQL):

* REF-B-OLD, referred 5 days ago and reported at 22 h: PLAN-MSCC is still running and
  breached. A real, current breach: paged once by the next watch (DEVELOPERS.md).
* REF-B-LATE, referred 5 days ago, MRI performed at 30 h: MRI-MSCC stopped late long ago. It
  owes nothing (no breach report, no page) but is a breach in the figures.
* REF-B-NOW, referred 3 h ago: STEROID-MSCC (4 h) is at risk now, so the next watch warns.
* REF-B-NEW, referred 30 min ago, within the grace: its letters are owed as for any referral.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cordwatch.cli import app
from db.repository import AUDIT, CLOCK, INBOX, OUTBOX, PATHWAY
from pathway.nhs_number import nhs_check_digit
from tests.conftest import NOW
from tests.factories import envelope
from tests.factories import referral_line as referral

DAY = timedelta(days=1)
H = timedelta(hours=1)


def _nhs(stem: str) -> str:
    check = nhs_check_digit(stem)
    assert check is not None
    return f"{stem}{check}"


def _cohort() -> list[str]:
    old, late, now, new = (
        NOW - 5 * DAY,
        NOW - 5 * DAY + H,
        NOW - 3 * H,
        NOW - 30 * timedelta(minutes=1),
    )
    return [
        referral("b-old-1", "REF-B-OLD", old, nhs=_nhs("943476591")),
        envelope(
            "b-old-2", "REF-B-OLD", "coordinator.contacted", old + 0.3 * H, {"coordinator": "Sam"}
        ),
        envelope(
            "b-old-3",
            "REF-B-OLD",
            "steroids.started",
            old + H,
            {"drug": "dexamethasone", "dose_mg": 16},
        ),
        envelope(
            "b-old-4",
            "REF-B-OLD",
            "imaging.performed",
            old + 20 * H,
            {"modality": "mri_whole_spine"},
        ),
        envelope("b-old-5", "REF-B-OLD", "imaging.reported", old + 22 * H, {"finding": "mscc"}),
        referral("b-late-1", "REF-B-LATE", late, nhs=_nhs("999000001")),
        envelope(
            "b-late-2",
            "REF-B-LATE",
            "coordinator.contacted",
            late + 0.3 * H,
            {"coordinator": "Sam"},
        ),
        envelope(
            "b-late-3",
            "REF-B-LATE",
            "steroids.started",
            late + H,
            {"drug": "dexamethasone", "dose_mg": 16},
        ),
        envelope(
            "b-late-4",
            "REF-B-LATE",
            "imaging.performed",
            late + 30 * H,
            {"modality": "mri_whole_spine"},
        ),
        referral("b-now-1", "REF-B-NOW", now, nhs=_nhs("999000002")),
        envelope(
            "b-now-2", "REF-B-NOW", "coordinator.contacted", now + 0.3 * H, {"coordinator": "Sam"}
        ),
        referral("b-new-1", "REF-B-NEW", new, nhs=_nhs("999000003")),
    ]


def _ingest(tmp_path: Path, *flags: str) -> Any:
    cohort = tmp_path / "history.jsonl"
    cohort.write_text("\n".join(_cohort()) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", str(cohort), "--as-of", NOW.isoformat(), *flags])
    assert result.exit_code == 0, result.output
    return result


def _letters(engine: Engine) -> list[tuple[str, str]]:
    """(referral reference, letter) of every letter owed."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(PATHWAY.c.reference, OUTBOX.c.payload)
            .join(PATHWAY, PATHWAY.c.id == OUTBOX.c.pathway_id)
            .where(OUTBOX.c.kind == "letter")
        )
        return sorted((r.reference, json.loads(r.payload)["letter"]) for r in rows)


def _watch(engine: Engine, at: datetime) -> list[tuple[str, str, str]]:
    """(reference, clock, level) of every alert one watch at ``at`` queues."""
    result = CliRunner().invoke(
        app, ["watch", "--once", "--no-deliver", "--json", "--as-of", at.isoformat()]
    )
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        references = {
            r.id: r.reference for r in conn.execute(select(PATHWAY.c.id, PATHWAY.c.reference))
        }
    queued = json.loads(result.output)["queued"]
    return sorted((references[a["pathway_id"]], a["clock_id"], a["level"]) for a in queued)


def _breached(engine: Engine, reference: str, clock_id: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(CLOCK.c.status)
                .join(PATHWAY, PATHWAY.c.id == CLOCK.c.pathway_id)
                .where(PATHWAY.c.reference == reference, CLOCK.c.clock_id == clock_id)
            ).scalar_one()
        )


def test_a_backfill_owes_letters_only_for_events_within_the_grace(
    engine: Engine, tmp_path: Path
) -> None:
    _ingest(tmp_path, "--backfill")

    assert _letters(engine) == [
        ("REF-B-NEW", "patient_information"),
        ("REF-B-NEW", "referral_acknowledgement"),
    ]
    assert _breached(engine, "REF-B-LATE", "MRI-MSCC") == "breached"  # still in the figures


def test_after_a_backfill_the_watch_pages_only_what_is_at_risk_or_breached_from_now(
    engine: Engine, tmp_path: Path
) -> None:
    _ingest(tmp_path, "--backfill")
    later = NOW + 5 * timedelta(minutes=1)

    first = _watch(engine, later)
    again = _watch(engine, later + timedelta(minutes=1))

    assert ("REF-B-NOW", "STEROID-MSCC", "at_risk") in first
    assert ("REF-B-OLD", "PLAN-MSCC", "breach") in first
    assert not [a for a in first if a[0] == "REF-B-LATE" and a[1] == "MRI-MSCC"]
    assert not [a for a in again if a[2] == "breach"]


def test_a_backfill_is_audited_with_its_counts(engine: Engine, tmp_path: Path) -> None:
    _ingest(tmp_path, "--backfill")

    with engine.connect() as conn:
        details = conn.execute(
            select(AUDIT.c.details).where(AUDIT.c.action == "ingest.backfill")
        ).scalar_one()

    assert json.loads(details) == {
        "accepted": 12,
        "duplicates": 0,
        "grace_minutes": 60,
        "history": 11,
        "import_moment": NOW.isoformat(),
        "rejected": 0,
    }


def test_without_backfill_every_event_owes_its_letters_as_before(
    engine: Engine, tmp_path: Path
) -> None:
    _ingest(tmp_path)

    letters = _letters(engine)

    assert ("REF-B-OLD", "referral_acknowledgement") in letters
    assert ("REF-B-OLD", "imaging_outcome") in letters
    assert ("REF-B-LATE", "breach_report") in letters
    with engine.connect() as conn:
        assert (
            conn.execute(select(AUDIT).where(AUDIT.c.action == "ingest.backfill")).first() is None
        )


def test_the_demo_imports_its_cohort_as_a_backfill(engine: Engine) -> None:
    result = CliRunner().invoke(app, ["demo", "--patients", "8", "--as-of", NOW.isoformat()])

    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        occurred = dict(conn.execute(select(INBOX.c.event_id, INBOX.c.occurred_at)).tuples().all())
        letters = [
            json.loads(p)
            for p in conn.execute(
                select(OUTBOX.c.payload).where(OUTBOX.c.kind == "letter")
            ).scalars()
        ]
        audited = conn.execute(
            select(AUDIT.c.details).where(AUDIT.c.action == "ingest.backfill")
        ).scalar_one()
    assert json.loads(audited)["history"] > 0
    assert all(
        letter["event_id"] is not None and occurred[letter["event_id"]] >= NOW - H
        for letter in letters
    )
