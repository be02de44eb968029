"""A pathway is found by exactly one key: its internal id, or else its referral reference.

A referral whose reference copied another pathway's ``PW-`` id used to capture that id:
``show`` and ``record`` then acted on the wrong patient (SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from cordwatch.cli import app
from db.repository import PATHWAY, find_pathway, get_pathway, table
from services.intake import Intake
from tests.conftest import NOW
from tests.factories import INTAKE_T0 as T0
from tests.factories import referral_line as referral

H = timedelta(hours=1)


def _pathway_id(engine: Engine, reference: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(select(PATHWAY.c.id).where(PATHWAY.c.reference == reference)).scalar_one()
        )


def test_a_referral_whose_reference_is_another_pathways_id_is_refused(
    engine: Engine, intake: Intake
) -> None:
    intake.ingest_lines([(1, referral("a-1", "REF-A", T0))], now=NOW)
    taken = _pathway_id(engine, "REF-A")

    result = intake.ingest_lines([(1, referral("b-1", taken, T0, nhs="4010232137"))], now=NOW)

    assert [(r.field, r.event_id) for r in result.rejected] == [("pathway", "b-1")]
    assert "internal id" in result.rejected[0].reason
    with engine.connect() as conn:
        assert get_pathway(conn, taken).reference == "REF-A"


def test_show_and_record_by_internal_id_act_on_that_pathway(engine: Engine, intake: Intake) -> None:
    intake.ingest_lines([(1, referral("a-1", "REF-A", T0))], now=NOW)
    intake.ingest_lines([(1, referral("b-1", "REF-B", T0, nhs="4010232137"))], now=NOW)
    pathway_id = _pathway_id(engine, "REF-A")
    runner = CliRunner()

    shown = runner.invoke(app, ["show", pathway_id, "--json", "--as-of", NOW.isoformat()])
    recorded = runner.invoke(
        app,
        [
            "record",
            pathway_id,
            "coordinator.contacted",
            "--at",
            (T0 + H).isoformat(),
            "--data",
            "coordinator=Sam Lee",
            "--json",
            "--as-of",
            NOW.isoformat(),
        ],
    )

    assert json.loads(shown.output)["reference"] == "REF-A"
    assert recorded.exit_code == 0, recorded.output
    with engine.connect() as conn:
        milestones = conn.execute(
            select(table("milestone").c.pathway_id).where(
                table("milestone").c.type == "coordinator.contacted"
            )
        ).all()
    assert [row.pathway_id for row in milestones] == [pathway_id]


def test_an_id_is_found_by_id_even_when_a_legacy_reference_copies_it(
    engine: Engine, intake: Intake
) -> None:
    intake.ingest_lines([(1, referral("a-1", "REF-A", T0))], now=NOW)
    intake.ingest_lines([(1, referral("b-1", "REF-B", T0, nhs="4010232137"))], now=NOW)
    victim = _pathway_id(engine, "REF-A")
    with engine.begin() as conn:  # stored before such references were refused
        conn.execute(update(PATHWAY).where(PATHWAY.c.reference == "REF-B").values(reference=victim))

    with engine.connect() as conn:
        found = find_pathway(conn, victim)

    assert found is not None
    assert found.id == victim
    assert found.reference == "REF-A"


def test_a_legacy_reference_in_the_id_form_naming_no_id_is_still_found(
    engine: Engine, intake: Intake
) -> None:
    intake.ingest_lines([(1, referral("b-1", "REF-B", T0))], now=NOW)
    with engine.begin() as conn:
        conn.execute(update(PATHWAY).values(reference="PW-ZZZZZZ"))

    with engine.connect() as conn:
        found = find_pathway(conn, "PW-ZZZZZZ")
        lower = find_pathway(conn, "pw-zzzzzz")

    assert found is not None
    assert found.reference == "PW-ZZZZZZ"
    assert lower is None
