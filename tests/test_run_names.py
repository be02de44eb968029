"""Flow-run names are shown to everyone with the Prefect UI: they never carry a file's name."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from flows.ingest import opaque_run_name


def test_the_ingest_run_name_is_opaque_even_for_a_file_named_after_a_patient() -> None:
    name = opaque_run_name("/srv/feeds/ann-example-9434765919.jsonl")

    assert re.fullmatch(r"ingest [0-9a-f]{8}", name)
    assert "ann" not in name
    assert "9434765919" not in name


def test_the_same_path_always_gets_the_same_run_name() -> None:
    assert opaque_run_name("cohort.jsonl") == opaque_run_name("cohort.jsonl")
    assert opaque_run_name("cohort.jsonl") != opaque_run_name("cohort2.jsonl")


def test_a_staged_file_for_the_ingest_deployment_has_an_opaque_owner_only_name(
    tmp_path: Path,
) -> None:
    """The `path` parameter is shown in the Prefect UI like the run name."""
    from flows.ingest import stage_for_ingest

    staged = stage_for_ingest(b'{"event_id": "e1"}\n', tmp_path)
    again = stage_for_ingest(b'{"event_id": "e1"}\n', tmp_path)

    assert staged == again
    assert staged.parent == tmp_path / "imports"
    assert re.fullmatch(r"[0-9a-f]{16}\.jsonl", staged.name)
    assert staged.stat().st_mode & 0o777 == 0o600
    assert staged.read_bytes() == b'{"event_id": "e1"}\n'


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("PW-7F3K2Q", "PW-7F3K2Q explain breach"),
        ("Ann Example 9434765919", "explain breach"),
        ("REF-2026-0042", "explain breach"),
    ],
    ids=["a PW- id", "a name typed in the form", "a referral reference"],
)
def test_the_explain_breach_run_is_named_by_the_pw_id_only(
    value: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form's pathway field is typed by hand: only an exact ``PW-`` id reaches the name."""
    import flows.explain_breach

    runtime = SimpleNamespace(parameters={"pathway_id": value})
    monkeypatch.setattr(flows.explain_breach, "flow_run", runtime)

    assert flows.explain_breach.run_name() == name
