"""New pathways pin ruleset version 2 (the default; ``CORDWATCH_RULESET_VERSION=1`` keeps a
service on version 1): a version-2 pathway end to end through ``cordwatch ingest``; pathways
already pinned to version 1 keep version 1 and its clocks (pathway-spec.md section 9)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cordwatch.cli import app
from services.settings import get_settings
from tests.conftest import NOW
from tests.factories import referral_json


def _line(ref: str, number: int, type_: str, at: datetime, data: dict[str, Any]) -> str:
    return json.dumps(
        {
            "event_id": f"{ref}-{number}",
            "pathway": ref,
            "type": type_,
            "occurred_at": at.isoformat(),
            "source": "test",
            "data": data,
        }
    )


def _version_2_pathway(ref: str, start: datetime) -> list[str]:
    h = timedelta(hours=1)
    referral = referral_json(ref=ref, at=start, event_id=f"{ref}-0", cancer_status="suspected")
    return [
        json.dumps(referral),
        _line(ref, 1, "imaging.performed", start + h, {"modality": "mri_whole_spine"}),
        _line(
            ref,
            2,
            "imaging.reported",
            start + 2 * h,
            {
                "finding": "suspected_primary_bone_tumour",
                "cord_compression": False,
                "suspected_histology": "chondrosarcoma",
                "levels": ["T10", "T11-T12"],
                "sins": 9,
            },
        ),
        _line(ref, 3, "biopsy.requested", start + 3 * h, {"method": "CT-guided"}),
        _line(ref, 4, "specialist.referred", start + 4 * h, {"service": "bone_sarcoma_centre"}),
        _line(
            ref,
            5,
            "breach.explained",
            start + 5 * h,
            {
                "clock": "COORD-MSCC",
                "reason": "coordinator_unavailable",
                "stage": "coordinator_triage",
            },
        ),
        _line(
            ref,
            6,
            "specialist.reviewed",
            start + 6 * h,
            {
                "service": "bone_sarcoma_centre",
                "mode": "virtual_clinic",
                "advice": "biopsy_at_treating_centre",
            },
        ),
        _line(ref, 7, "cwt.upgraded", start + 7 * h, {"by": "Dr Consultant"}),
        _line(
            ref,
            8,
            "outcome.recorded",
            start + 8 * h,
            {"at": "presentation", "ambulatory_status": "with_aid", "asia_grade": "D"},
        ),
    ]


@pytest.fixture
def version_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORDWATCH_RULESET_VERSION", raising=False)
    get_settings.cache_clear()


def test_the_default_ruleset_version_is_2(engine: Engine, version_2: None) -> None:
    assert get_settings().ruleset_version == 2


def test_a_version_2_pathway_is_ingested_shown_and_on_the_board(
    engine: Engine, version_2: None, tmp_path: Path
) -> None:
    runner = CliRunner()
    source = tmp_path / "v2.jsonl"
    source.write_text("\n".join(_version_2_pathway("REF-V2", NOW - timedelta(hours=20))) + "\n")

    ingested = runner.invoke(app, ["ingest", str(source), "--json", "--as-of", NOW.isoformat()])
    shown = json.loads(
        runner.invoke(app, ["show", "REF-V2", "--json", "--as-of", NOW.isoformat()]).output
    )
    board = runner.invoke(app, ["board", "--json", "--as-of", NOW.isoformat()])
    timeline = runner.invoke(app, ["timeline", "REF-V2", "--as-of", NOW.isoformat()])

    assert json.loads(ingested.output) == {"accepted": 9, "duplicates": 0, "rejected": []}
    assert shown["ruleset"] == "nice-ng234-2023.v2"
    clocks = {c["id"] for c in shown["clocks"]}
    assert {"SARC-REFER", "SARC-REVIEW", "SPINE-OPINION"} <= clocks
    assert board.exit_code == 0, board.output
    assert timeline.exit_code == 0, timeline.output


def test_a_version_1_pathway_refuses_version_2_events_after_version_2_becomes_the_default(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    start = NOW - timedelta(hours=20)
    lines = _version_2_pathway("REF-V1", start)
    first = tmp_path / "referral.jsonl"
    first.write_text(lines[0] + "\n" + lines[1] + "\n")
    monkeypatch.setenv("CORDWATCH_RULESET_VERSION", "1")
    get_settings.cache_clear()
    runner.invoke(app, ["ingest", str(first), "--as-of", NOW.isoformat()])
    monkeypatch.delenv("CORDWATCH_RULESET_VERSION")
    get_settings.cache_clear()
    rest = tmp_path / "rest.jsonl"
    rest.write_text("\n".join(lines[2:]) + "\n")

    result = json.loads(
        runner.invoke(app, ["ingest", str(rest), "--json", "--as-of", NOW.isoformat()]).output
    )
    shown = json.loads(
        runner.invoke(app, ["show", "REF-V1", "--json", "--as-of", NOW.isoformat()]).output
    )

    assert shown["ruleset"] == "nice-ng234-2023.v1"
    fields = {r["field"] for r in result["rejected"]}
    assert fields == {"data.finding", "type", "data.asia_grade"}
    assert result["accepted"] == 1  # the biopsy request: version 1 knows it


def _version_1_surgery_then_radiotherapy(ref: str, start: datetime) -> list[str]:
    """A version-1 pathway whose RT-24H breaches by design (post-operative radiotherapy weeks
    later): version 2 would not run RT-24H for this plan, so its clocks show the pinned version."""
    h = timedelta(hours=1)
    referral = referral_json(ref=ref, at=start, event_id=f"{ref}-0")
    return [
        json.dumps(referral),
        _line(ref, 1, "imaging.performed", start + h, {"modality": "mri_whole_spine"}),
        _line(ref, 2, "imaging.reported", start + 2 * h, {"finding": "mscc", "levels": ["T10"]}),
        _line(
            ref,
            3,
            "mdt.decided",
            start + 3 * h,
            {"plan": "surgery_then_radiotherapy", "decision_to_treat": True},
        ),
        _line(ref, 4, "treatment.started", start + 20 * h, {"modality": "surgery"}),
    ]


def test_a_version_1_pathway_keeps_its_clocks_after_version_2_becomes_the_default(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    start = NOW - timedelta(days=3)
    lines = _version_1_surgery_then_radiotherapy("REF-KEPT", start)
    before = tmp_path / "before.jsonl"
    before.write_text("\n".join(lines[:4]) + "\n")
    monkeypatch.setenv("CORDWATCH_RULESET_VERSION", "1")
    get_settings.cache_clear()
    runner.invoke(app, ["ingest", str(before), "--as-of", NOW.isoformat()])
    shown_under_1 = runner.invoke(app, ["show", "REF-KEPT", "--json", "--as-of", NOW.isoformat()])
    monkeypatch.delenv("CORDWATCH_RULESET_VERSION")
    get_settings.cache_clear()
    after = tmp_path / "after.jsonl"
    after.write_text(lines[4] + "\n")

    ingested = json.loads(
        runner.invoke(app, ["ingest", str(after), "--json", "--as-of", NOW.isoformat()]).output
    )
    shown = json.loads(
        runner.invoke(app, ["show", "REF-KEPT", "--json", "--as-of", NOW.isoformat()]).output
    )

    assert ingested == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert shown["ruleset"] == "nice-ng234-2023.v1"
    clocks = {c["id"]: c for c in shown["clocks"]}
    before_clocks = {c["id"]: c for c in json.loads(shown_under_1.output)["clocks"]}
    assert set(clocks) == set(before_clocks)
    assert "POSTOP-RT" not in clocks
    # Version 1's RT-24H still runs for this plan and is breached, as version 1 says.
    assert clocks["RT-24H"]["status"] == "breached"
    assert clocks["SURGERY"]["status"] == "met"
