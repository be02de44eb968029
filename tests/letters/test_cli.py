"""The letter commands on a real database: list, preview in every format, deliver, bad input."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from cordwatch.cli import app
from db.letters import LETTER
from tests.letters.canonical import CANONICAL_FILE, INTAKE_AT

AS_OF = "2026-11-25T12:05:00+00:00"

pytestmark = pytest.mark.usefixtures("version_1")  # the canonical pathway is version-1 data


@pytest.mark.parametrize(
    "command",
    [["letters"], ["letter"], ["letter", "preview"], ["letter", "deliver"], ["letter", "show"]],
)
def test_every_letter_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def _ingest(runner: CliRunner) -> None:
    result = runner.invoke(app, ["ingest", str(CANONICAL_FILE), "--as-of", INTAKE_AT.isoformat()])
    assert result.exit_code == 0, result.output


def test_list_preview_and_deliver(engine: Engine) -> None:
    runner = CliRunner()
    _ingest(runner)
    owed = json.loads(runner.invoke(app, ["letters", "REF-2026-0042", "--json"]).output)
    assert len(owed["letters"]) == 10
    assert {letter["status"] for letter in owed["letters"]} == {"pending"}

    text = runner.invoke(
        app,
        ["letter", "preview", "mdt_outcome", "--pathway", "REF-2026-0042", "--to", "patient",
         "--as-of", AS_OF],
    )  # fmt: skip
    assert text.exit_code == 0, text.output
    assert "We recommend radiotherapy (treatment with high-energy X-rays)." in text.output
    html = runner.invoke(
        app,
        ["letter", "preview", "imaging_request", "--pathway", owed["pathway"], "--format", "html",
         "--as-of", AS_OF],
    )  # fmt: skip
    assert html.exit_code == 0
    assert html.output.startswith("<!DOCTYPE html>")
    pdf = runner.invoke(
        app,
        ["letter", "preview", "breach_report", "--pathway", "REF-2026-0042", "--format", "pdf",
         "--as-of", AS_OF, "--output", "breach.pdf"],
    )  # fmt: skip
    assert pdf.exit_code == 0, pdf.output
    with open("breach.pdf", "rb") as handle:  # noqa: PTH123
        assert handle.read(5) == b"%PDF-"
    with engine.connect() as conn:  # a preview records nothing
        assert conn.execute(select(func.count()).select_from(LETTER)).scalar() == 0

    delivered = runner.invoke(app, ["letter", "deliver", "--as-of", AS_OF, "--json"])
    assert json.loads(delivered.output) == {"sent": 10}
    listed = json.loads(runner.invoke(app, ["letters", "REF-2026-0042", "--json"]).output)
    assert {letter["status"] for letter in listed["letters"]} == {"sent"}
    assert all(letter["id"].startswith("LT-") for letter in listed["letters"])
    table = runner.invoke(app, ["letters", "REF-2026-0042"])
    assert "treatment_summary" in table.output
    again = runner.invoke(app, ["letter", "deliver", "--as-of", AS_OF])
    assert "no letters owed" in again.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["letter", "preview", "discharge", "--pathway", "REF-2026-0042"], 1,
         "NAME: unknown letter 'discharge'; letters: referral_acknowledgement,"),
        (["letter", "preview", "imaging_request", "--pathway", "REF-NONE"], 1,
         "no pathway with reference or id 'REF-NONE'"),
        (["letter", "preview", "imaging_request", "--pathway", "REF-2026-0042", "--to", "gp"], 1,
         "recipient: imaging_request is not addressed to gp"),
        (["letter", "preview", "imaging_request", "--pathway", "REF-2026-0042", "--to", "vet"], 2,
         "Invalid value for --to: unknown recipient 'vet'"),
        (["letter", "preview", "imaging_request", "--pathway", "REF-2026-0042", "--as-of",
          "2026-11-25T12:00"], 2, "Invalid value for --as-of: give a UTC offset"),
        (["letters", "REF-NONE"], 1, "no pathway with reference or id 'REF-NONE'"),
    ],
)  # fmt: skip
def test_bad_letter_commands_say_what_is_wrong(
    engine: Engine, args: list[str], code: int, message: str
) -> None:
    """Exit 1: the command refused what it was asked; 2: a usage error, before anything is read."""
    runner = CliRunner()
    _ingest(runner)
    result = runner.invoke(app, args)
    assert result.exit_code == code
    assert message in " ".join(result.stderr.replace("│", " ").split())


def test_show_says_which_wording_was_sent_and_notices_a_changed_file(engine: Engine) -> None:
    runner = CliRunner()
    _ingest(runner)
    runner.invoke(app, ["letter", "deliver", "--as-of", AS_OF])
    listed = json.loads(runner.invoke(app, ["letters", "REF-2026-0042", "--json"]).output)
    summary = next(x for x in listed["letters"] if x["letter"] == "treatment_summary")

    shown = runner.invoke(app, ["letter", "show", summary["id"], "--json", "--sources"])
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.output)
    assert record["files_check"] == {"html": "intact", "pdf": "intact", "txt": "intact"}
    assert record["template_version"] == summary["template_version"]
    assert "The MSCC pathway of" in record["template_sources"]["treatment_summary.txt.j2"]
    table = runner.invoke(app, ["letter", "show", summary["id"]])
    assert "intact" in table.output

    with open(summary["files"]["txt"], "a", encoding="utf-8") as handle:  # noqa: PTH123
        handle.write("An extra line nobody sent.\n")
    changed = runner.invoke(app, ["letter", "show", summary["id"]])
    assert changed.exit_code == 1
    assert "changed since it was sent" in changed.output
    missing = runner.invoke(app, ["letter", "show", "LT-NOTHING"])
    assert missing.exit_code == 1
    assert "no letter with id" in missing.output


def test_show_notices_a_file_changed_together_with_its_recorded_hash(engine: Engine) -> None:
    import hashlib

    from sqlalchemy import update

    runner = CliRunner()
    _ingest(runner)
    runner.invoke(app, ["letter", "deliver", "--as-of", AS_OF])
    listed = json.loads(runner.invoke(app, ["letters", "REF-2026-0042", "--json"]).output)
    summary = next(x for x in listed["letters"] if x["letter"] == "treatment_summary")
    with open(summary["files"]["txt"], "a", encoding="utf-8") as handle:  # noqa: PTH123
        handle.write("An extra line nobody sent.\n")
    with open(summary["files"]["txt"], "rb") as handle:  # noqa: PTH123
        forged = hashlib.sha256(handle.read()).hexdigest()
    with engine.begin() as conn:  # the letter table has no triggers: its row can be edited
        conn.execute(update(LETTER).where(LETTER.c.id == summary["id"]).values(text_sha256=forged))

    shown = runner.invoke(app, ["letter", "show", summary["id"], "--json"])

    assert shown.exit_code == 1
    record = json.loads(shown.output)
    assert record["files_check"]["txt"].startswith("changed since it was sent")
    assert "audit" in record["files_check"]["txt"]
    assert record["files_check"]["pdf"] == "intact"
