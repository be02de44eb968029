"""Data that looks like Rich markup prints as text: one pathway must not break the worklist."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cordwatch.cli import app
from tests.conftest import NOW
from tests.factories import envelope
from tests.factories import referral_line as referral

REFERENCE = "[/red][/][b]:ok:"
CORRECTOR = "Dr [/] [bold]Markup[/bold] [/red]"


@pytest.fixture
def markup_pathway(engine: Engine, tmp_path: Path) -> str:
    start = NOW - timedelta(hours=30)
    lines = [
        referral("m-1", REFERENCE, start),
        json.dumps(
            json.loads(
                envelope(
                    "m-2",
                    REFERENCE,
                    "coordinator.contacted",
                    start + timedelta(minutes=20),
                    {"coordinator": CORRECTOR},
                )
            )
            | {"recorded_by": CORRECTOR, "source": "[/]pas[bold]"}
        ),
    ]
    source = tmp_path / "markup.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", str(source), "--as-of", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    return REFERENCE


@pytest.mark.parametrize("command", ["board", "show", "timeline"])
def test_markup_in_data_prints_literally(markup_pathway: str, command: str) -> None:
    arguments = [command] if command == "board" else [command, markup_pathway]

    result = CliRunner().invoke(app, [*arguments, "--as-of", NOW.isoformat()])

    assert result.exit_code == 0, result.output
    assert REFERENCE in result.output


def test_timeline_prints_the_recorder_literally(markup_pathway: str) -> None:
    result = CliRunner().invoke(app, ["timeline", markup_pathway, "--as-of", NOW.isoformat()])

    assert result.exit_code == 0, result.output
    assert "[/red]" in result.output
    assert "[bold]Markup[/bold]" in " ".join(result.output.split())


def test_a_rejected_line_with_markup_is_reported_literally(engine: Engine, tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text(
        json.dumps({"event_id": "[/red]", "pathway": "[/]", "type": "[bold]"}) + "\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(app, ["ingest", str(source), "--as-of", NOW.isoformat()])

    assert result.exit_code == 1
    assert "rejected line 1 (event [/red])" in result.output
