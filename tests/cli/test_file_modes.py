"""Files that hold patient data are readable by their owner only (0600 files, 0700 folders)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cordwatch.cli import app
from services.settings import get_settings
from tests.letters.canonical import CANONICAL_FILE, INTAKE_AT


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The usual 022: whatever is owner-only below is so because cordwatch made it so."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cordwatch-data"
    monkeypatch.setenv("CORDWATCH_DATABASE_URL", f"sqlite:///{folder / 'cordwatch.db'}")
    monkeypatch.setenv("CORDWATCH_LETTERS_DIR", str(folder / "letters"))
    monkeypatch.setenv("CORDWATCH_REPORT_DIR", str(folder / "reports"))
    get_settings.cache_clear()
    return folder


def _modes(folder: Path) -> dict[str, str]:
    found = {folder.name: oct(stat.S_IMODE(folder.stat().st_mode))}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = oct(stat.S_IMODE(path.stat().st_mode))
    return found


def _not_owner_only(folder: Path) -> dict[str, str]:
    return {
        name: mode
        for name, mode in _modes(folder).items()
        if int(mode, 8) & 0o077 or ((folder / name).is_dir() and int(mode, 8) != 0o700)
    }


def test_ingest_letters_and_reports_write_owner_only_files(
    data: Path, permissive_umask: None, version_1: None
) -> None:
    runner = CliRunner()
    day = "2026-11-09"
    reports = data / "reports"

    ingest = runner.invoke(app, ["ingest", str(CANONICAL_FILE), "--as-of", INTAKE_AT.isoformat()])
    reports.mkdir(mode=0o700)  # the operator's own folder; what cordwatch writes in it is private
    moment = (INTAKE_AT + timedelta(minutes=1)).isoformat()
    deliver = runner.invoke(app, ["letter", "deliver", "--as-of", moment])
    html = runner.invoke(
        app, ["report", "--from", day, "--to", day, "--html", str(reports / "r.html")]
    )
    csv = runner.invoke(app, ["report", "--from", day, "--to", day, "--csv", str(reports / "csv")])
    timeline = runner.invoke(
        app, ["timeline", "REF-2026-0042", "--html", str(reports / "t.html"), "--as-of", moment]
    )

    assert [r.exit_code for r in (ingest, deliver, html, csv, timeline)] == [0] * 5, [
        r.output for r in (ingest, deliver, html, csv, timeline)
    ]
    modes = _modes(data)
    assert "cordwatch.db" in modes
    assert any(name.endswith(".pdf") for name in modes)
    assert any(name.endswith(".csv") for name in modes)
    assert _not_owner_only(data) == {}


def test_the_command_line_tightens_an_existing_data_folder(tmp_path: Path) -> None:
    folder = tmp_path / "cordwatch-data"
    (folder / "letters" / "PW-AAAAAA").mkdir(parents=True, mode=0o755)
    for path in (folder, folder / "letters", folder / "letters" / "PW-AAAAAA"):
        path.chmod(0o755)
    letter = folder / "letters" / "PW-AAAAAA" / "letter.pdf"
    letter.write_bytes(b"%PDF-")
    letter.chmod(0o644)
    (folder / "demo-cohort.jsonl").write_text("{}\n", encoding="utf-8")
    (folder / "demo-cohort.jsonl").chmod(0o644)
    environment = os.environ | {
        "CORDWATCH_DATABASE_URL": f"sqlite:///{folder / 'cordwatch.db'}",
        "CORDWATCH_LETTERS_DIR": str(folder / "letters"),
    }

    done = subprocess.run(
        [sys.executable, "-c", "from cordwatch.cli import main; main()", "db", "upgrade"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert _not_owner_only(folder) == {}
