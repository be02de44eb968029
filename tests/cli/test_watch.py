"""`cordwatch watch --once`: the deadline watch in-process, reporting what it queued."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import Engine
from typer.testing import CliRunner

from cordwatch.cli import app
from services.intake import Intake
from tests.conftest import NOW, RULES
from tests.factories import pathway_lines

T0 = NOW - timedelta(hours=3)


def test_watch_once_queues_owed_alerts_once_and_redrives(engine: Engine) -> None:
    # Referred 3 h ago, coordinator contacted at 20 min: STEROID-MSCC (4 h) is past 50 % and
    # 75 %, MRI-MSCC (24 h) is not yet at 50 %. First seen past both, the clock owes only the
    # 75 % warning (pathway/alerts.py: never two near-identical AT RISK messages at once).
    Intake(engine, new_pathway_rules=lambda: RULES, mark_processed=False).ingest_lines(
        enumerate(pathway_lines("REF-W1", T0, "w1")[:2], 1), now=NOW
    )
    runner = CliRunner()
    later = (NOW + timedelta(minutes=5)).isoformat()  # past the 2-minute re-drive grace

    first = runner.invoke(app, ["watch", "--once", "--json", "--as-of", later])
    again = runner.invoke(app, ["watch", "--once", "--json", "--as-of", later])

    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    assert sorted((a["clock_id"], a["level"], a["step"]) for a in report["queued"]) == [
        ("STEROID-MSCC", "at_risk", 2),
    ]
    assert report["clocks_at_risk"] == 1
    assert sorted(report["redriven"]) == ["w1-1", "w1-2"]
    repeat = json.loads(again.output)
    assert repeat["queued"] == []
    assert repeat["redriven"] == []


def test_watch_needs_once() -> None:
    result = CliRunner().invoke(app, ["watch"])

    assert result.exit_code == 2
    assert "only --once is supported here; `cordwatch serve` schedules" in " ".join(
        result.stderr.replace("│", " ").split()
    )
