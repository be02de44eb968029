"""The audit chain's canonical form never changes: a database written by an earlier cordwatch
(before the issue-13 restructure: two version-2 pathways ingested, a watch, letters delivered;
``tests/data/written-before-13.db``) still verifies entry by entry, with the same head hash."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cordwatch.cli import app

WRITTEN_BEFORE = Path(__file__).resolve().parent.parent / "data" / "written-before-13.db"
HEAD = "head entry 55 hash a613b9ba06670de7d721522199bfeb018b739e6c8a442b7ef6117158cc4d3ce0"


def test_a_database_written_before_the_restructure_still_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "old.db"
    shutil.copyfile(WRITTEN_BEFORE, copy)
    copy.chmod(0o600)
    monkeypatch.setenv("CORDWATCH_DATABASE_URL", f"sqlite:///{copy}")

    result = CliRunner().invoke(app, ["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert "audit chain intact: 55 entries" in result.output
    assert HEAD in result.output
