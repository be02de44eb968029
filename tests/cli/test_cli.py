"""The command line on a real database: help, ingest, record, show and board."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cordwatch.cli import app
from tests.conftest import NOW
from tests.factories import pathway_lines

COMMANDS = [[], ["db"], ["db", "upgrade"], ["ingest"], ["record"], ["show"], ["board"], ["simulate"],
            ["demo"], ["serve"], ["watch"]]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "cordwatch")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])

    assert result.exit_code == 0
    assert "Usage" in result.output


def _ingest(tmp_text: str, path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:  # noqa: PTH123
        handle.write(tmp_text)


def test_ingest_record_show_and_board(engine: Engine, tmp_path: object) -> None:
    runner = CliRunner()
    start = NOW - timedelta(hours=30)
    source = f"{tmp_path}/cohort.jsonl"
    _ingest(
        "\n".join(
            pathway_lines("REF-C1", start, "c1")[:1]
            + pathway_lines("REF-C2", NOW - timedelta(hours=2), "c2")[:1]
        )
        + "\n",
        source,
    )

    first = runner.invoke(app, ["ingest", source, "--json", "--as-of", NOW.isoformat()])
    replay = runner.invoke(app, ["ingest", source, "--json", "--as-of", NOW.isoformat()])
    recorded = runner.invoke(
        app,
        [
            "record",
            "REF-C1",
            "coordinator.contacted",
            "--at",
            (start + timedelta(minutes=30)).isoformat(),
            "--by",
            "Sam",
            "--data",
            "coordinator=Sam",
            "--as-of",
            NOW.isoformat(),
        ],
    )
    shown = json.loads(
        runner.invoke(app, ["show", "REF-C1", "--json", "--as-of", NOW.isoformat()]).output
    )
    by_id = json.loads(
        runner.invoke(app, ["show", shown["id"], "--json", "--as-of", NOW.isoformat()]).output
    )
    early = json.loads(
        runner.invoke(
            app,
            ["show", "REF-C1", "--json", "--as-of", (start + timedelta(minutes=10)).isoformat()],
        ).output
    )
    board = json.loads(runner.invoke(app, ["board", "--json", "--as-of", NOW.isoformat()]).output)

    assert json.loads(first.output) == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert json.loads(replay.output)["duplicates"] == 2
    assert recorded.exit_code == 0, recorded.output
    assert {
        "id",
        "reference",
        "category",
        "stage",
        "status",
        "closed_reason",
        "ruleset",
        "milestones",
        "clocks",
    } <= set(shown)
    assert by_id == shown
    assert shown["id"].startswith("PW-")
    clocks = {c["id"]: c for c in shown["clocks"]}
    assert clocks["COORD-MSCC"]["status"] == "met"
    assert clocks["MRI-MSCC"]["status"] == "breached"
    assert clocks["MRI-MSCC"]["due_at"] == (start + timedelta(hours=24)).isoformat()
    assert {"id", "starts_at", "due_at", "stopped_at", "status", "at_risk", "reason"} <= set(
        clocks["MRI-MSCC"]
    )
    assert [m["type"] for m in early["milestones"]] == ["referral.received"]
    assert [p["reference"] for p in board["pathways"]] == ["REF-C1", "REF-C2"]
    assert board["pathways"][0]["mark"] == "breached"
    assert board["pathways"][1]["mark"] == "breached"  # COORD-MSCC: 2 h since referral, 1 h SLA


def test_bad_record_input_names_the_field(engine: Engine) -> None:
    runner = CliRunner()

    naive = runner.invoke(
        app, ["record", "REF-X", "coordinator.contacted", "--at", "2026-11-24T09:00"]
    )
    unknown = runner.invoke(
        app,
        [
            "record",
            "REF-X",
            "coordinator.contacted",
            "--at",
            "2026-11-24T09:00Z",
            "--data",
            "coordinator=S",
            "--as-of",
            NOW.isoformat(),
        ],
    )
    missing = runner.invoke(app, ["show", "REF-NONE", "--json"])

    assert naive.exit_code == 2  # a usage error: nothing was read or recorded
    assert "Invalid value for --at: give a UTC offset" in " ".join(
        naive.stderr.replace("│", " ").split()
    )
    assert unknown.exit_code == 1
    assert "pathway: unknown pathway" in unknown.output
    assert missing.exit_code == 1


def test_simulate_is_deterministic_for_a_seed() -> None:
    runner = CliRunner()
    args = [
        "simulate",
        "--patients",
        "5",
        "--seed",
        "3",
        "--start",
        "2026-03-01",
        "--as-of",
        NOW.isoformat(),
    ]

    first = runner.invoke(app, args).output
    second = runner.invoke(app, args).output

    assert first == second
    assert all(json.loads(line)["event_id"].startswith("sim-3-") for line in first.splitlines())


def test_record_for_a_mistyped_internal_id_says_no_pathway_has_it(engine: Engine) -> None:
    result = CliRunner().invoke(
        app,
        ["record", "PW-ABC123", "coordinator.contacted", "--at", NOW.isoformat()],
    )

    assert result.exit_code == 1
    assert result.stderr.strip() == "no pathway with id PW-ABC123"
