"""The board lists the breaches of version-2 pathways still waiting for their reason
(``breach.explained``, pathway-spec.md 9.1), open and closed pathways alike; an explained
breach drops off and stays breached; version-1 pathways are never listed."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cordwatch.cli import app
from services.settings import get_settings
from tests.conftest import NOW
from tests.factories import referral_json

H = timedelta(hours=1)
START = NOW - 40 * H


def _line(ref: str, number: int, type_: str, hours: float, data: dict[str, Any]) -> str:
    return json.dumps(
        {
            "event_id": f"{ref}-{number}",
            "pathway": ref,
            "type": type_,
            "occurred_at": (START + hours * H).isoformat(),
            "source": "test",
            "data": data,
        }
    )


def _late_mri(ref: str) -> list[str]:
    """Coordinator and steroids on time, MRI 30 h after the referral: MRI-MSCC breached."""
    return [
        json.dumps(referral_json(ref=ref, at=START, event_id=f"{ref}-0")),
        _line(ref, 1, "coordinator.contacted", 0.5, {"coordinator": "Sam Lee"}),
        _line(ref, 2, "steroids.started", 1, {"drug": "dexamethasone", "dose_mg": 16}),
        _line(ref, 3, "imaging.performed", 30, {"modality": "mri_whole_spine"}),
    ]


def _ingest(
    tmp_path: Path, lines: list[str], version: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORDWATCH_RULESET_VERSION", str(version))
    get_settings.cache_clear()
    source = tmp_path / f"v{version}.jsonl"
    source.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["ingest", str(source), "--json", "--as-of", NOW.isoformat()])
    assert json.loads(result.output)["rejected"] == [], result.output


def _board() -> dict[str, Any]:
    result = CliRunner().invoke(app, ["board", "--json", "--as-of", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.output)
    return document


def _id(ref: str) -> str:
    shown = CliRunner().invoke(app, ["show", ref, "--json", "--as-of", NOW.isoformat()])
    identifier: str = json.loads(shown.output)["id"]
    return identifier


def test_the_board_lists_unexplained_breaches_of_version_2_pathways_only(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(tmp_path, _late_mri("REF-V1"), 1, monkeypatch)
    _ingest(tmp_path, _late_mri("REF-V2"), 2, monkeypatch)

    document = _board()
    text = CliRunner().invoke(app, ["board", "--as-of", NOW.isoformat()]).output

    assert document["unexplained_breaches"] == {
        "count": 1,
        "breaches": [
            {
                "id": _id("REF-V2"),
                "reference": "REF-V2",
                "pathway_status": "open",
                "clock": "MRI-MSCC",
                "clock_starts_at": START.isoformat(),
                "breached_since": (START + 24 * H).isoformat(),
                "still_running": False,
            }
        ],
    }
    assert "Breaches to explain: 1" in text
    assert "explain-breach" in text


def test_an_explained_breach_drops_off_the_board_and_stays_breached(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(tmp_path, _late_mri("REF-V2"), 2, monkeypatch)
    pathway_id = _id("REF-V2")

    recorded = CliRunner().invoke(
        app,
        [
            "record",
            pathway_id,
            "breach.explained",
            "--at",
            (NOW - H).isoformat(),
            "--by",
            "Sam Lee",
            "--data",
            "clock=MRI-MSCC",
            "--data",
            "reason=imaging_capacity",
            "--data",
            "stage=imaging",
            "--as-of",
            NOW.isoformat(),
        ],
    )
    document = _board()
    text = CliRunner().invoke(app, ["board", "--as-of", NOW.isoformat()]).output
    shown = json.loads(
        CliRunner().invoke(app, ["show", pathway_id, "--json", "--as-of", NOW.isoformat()]).output
    )

    assert recorded.exit_code == 0, recorded.output
    assert document["unexplained_breaches"] == {"count": 0, "breaches": []}
    assert "Breaches to explain" not in text
    mri = next(c for c in shown["clocks"] if c["id"] == "MRI-MSCC")
    assert mri["status"] == "breached"


def test_a_contributing_reason_alone_keeps_the_breach_on_the_board_and_a_closed_pathway_stays(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        *_late_mri("REF-V2"),
        _line("REF-V2", 4, "pathway.closed", 35, {"reason": "transferred"}),
        _line(
            "REF-V2",
            5,
            "breach.explained",
            36,
            {
                "clock": "MRI-MSCC",
                "reason": "imaging_capacity",
                "stage": "imaging",
                "primary": False,
            },
        ),
    ]
    _ingest(tmp_path, lines, 2, monkeypatch)

    (breach,) = _board()["unexplained_breaches"]["breaches"]

    assert breach["pathway_status"] == "closed"
    assert breach["clock"] == "MRI-MSCC"


def test_a_breach_still_running_is_listed_from_its_due_time(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(tmp_path, _late_mri("REF-V2")[:3], 2, monkeypatch)

    breaches = _board()["unexplained_breaches"]["breaches"]

    assert [(b["clock"], b["still_running"]) for b in breaches] == [("MRI-MSCC", True)]
