"""`cordwatch report` and `cordwatch timeline` on a simulated cohort in a real database.

The figures themselves are checked by hand in test_figures.py; here: the database queries feed
them, every output format is written, and no patient identifier leaves.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cordwatch.cli import app
from db.repository import PATHWAY, PATIENT
from pathway.simulation import simulate_cohort
from services.intake import Intake

runner = CliRunner()
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
AS_OF = START + timedelta(days=21)


@pytest.fixture
def cohort(engine: Engine, intake: Intake) -> list[str]:
    """Forty simulated pathways referred over two weeks; returns every patient identifier."""
    events = simulate_cohort(patients=40, seed=7, start=START, span_days=14, horizon=AS_OF)
    intake.ingest_lines(((n, json.dumps(e)) for n, e in enumerate(events, 1)), now=AS_OF)
    with engine.connect() as conn:
        patients = conn.execute(select(PATIENT)).all()
    identifiers = [p.nhs_number for p in patients if p.nhs_number]
    identifiers += [p.mrn for p in patients if p.mrn]
    identifiers += [p.family_name for p in patients]
    identifiers += [p.date_of_birth.isoformat() for p in patients]
    return identifiers


def run(*args: str) -> str:
    result = runner.invoke(app, [*args, "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 0, result.stdout
    return result.stdout


def test_the_report_counts_every_simulated_pathway(engine: Engine, cohort: list[str]) -> None:
    document = json.loads(run("report", "--from", "2026-11-02", "--to", "2026-11-16", "--json"))

    with engine.connect() as conn:
        pathways = len(conn.execute(select(PATHWAY.c.id)).all())
    assert sum(document["pathways"].values()) == pathways == 40
    for row in document["clocks"]:
        excluded = sum(row["excluded_by_reason"].values())
        assert row["started"] == row["met"] + row["breached"] + excluded + row["running"]


def test_a_period_without_referrals_is_empty(engine: Engine, cohort: list[str]) -> None:
    document = json.loads(run("report", "--from", "2026-01-01", "--to", "2026-01-31", "--json"))

    assert (document["pathways"], document["clocks"], document["breaches"]) == ({}, [], [])


def test_every_report_format_is_written_without_patient_identifiers(
    engine: Engine, cohort: list[str], tmp_path: Path
) -> None:
    html = tmp_path / "report.html"
    csv_dir = tmp_path / "csv"

    text = run("report", "--from", "2026-11-02", "--to", "2026-11-16")
    run("report", "--from", "2026-11-02", "--to", "2026-11-16", "--html", str(html))
    run("report", "--from", "2026-11-02", "--to", "2026-11-16", "--csv", str(csv_dir))

    written = [text, html.read_text(encoding="utf-8")]
    written += [p.read_text(encoding="utf-8") for p in sorted(csv_dir.glob("*.csv"))]
    assert sorted(p.name for p in csv_dir.glob("*.csv")) == [
        "breaches.csv",
        "clocks.csv",
        "kpis.csv",
        "weekly.csv",
    ]
    assert "Compliance by week" in written[1]
    assert [i for i in cohort for w in written if i in w] == []


def test_the_timeline_orders_milestones_clocks_and_arrival(
    engine: Engine, cohort: list[str], tmp_path: Path
) -> None:
    with engine.connect() as conn:
        pathway_id = conn.execute(select(PATHWAY.c.id).order_by(PATHWAY.c.referred_at)).first()
    assert pathway_id is not None

    document = json.loads(run("timeline", pathway_id[0], "--json"))
    run("timeline", pathway_id[0], "--png", str(tmp_path / "t.png"))
    run("timeline", pathway_id[0], "--html", str(tmp_path / "t.html"))

    times = [item["at"] for item in document["items"]]
    kinds = {item["kind"] for item in document["items"]}
    assert times == sorted(times)
    assert {"milestone", "clock.started", "clock.due"} <= kinds
    assert document["items"][0]["what"] == "referral.received"
    assert document["items"][0]["received_at"] == AS_OF.isoformat()
    assert (tmp_path / "t.png").read_bytes().startswith(b"\x89PNG")
    page = (tmp_path / "t.html").read_text(encoding="utf-8")
    assert [i for i in cohort if i in page or i in json.dumps(document)] == []


def test_an_unknown_pathway_has_no_timeline(engine: Engine) -> None:
    result = runner.invoke(app, ["timeline", "PW-NOPE"])

    assert result.exit_code == 1
