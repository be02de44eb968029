"""Flow-run names are shown to everyone with the Prefect UI: they never carry a file's name."""

from __future__ import annotations

import re

from flows.ingest import opaque_run_name


def test_the_ingest_run_name_is_opaque_even_for_a_file_named_after_a_patient() -> None:
    name = opaque_run_name("/srv/feeds/ann-example-9434765919.jsonl")

    assert re.fullmatch(r"ingest [0-9a-f]{8}", name)
    assert "ann" not in name
    assert "9434765919" not in name


def test_the_same_path_always_gets_the_same_run_name() -> None:
    assert opaque_run_name("cohort.jsonl") == opaque_run_name("cohort.jsonl")
    assert opaque_run_name("cohort.jsonl") != opaque_run_name("cohort2.jsonl")
