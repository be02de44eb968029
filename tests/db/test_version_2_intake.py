"""The intake stores a version-2 pathway as it stores any other (pathway-spec.md section 9),
including a pathway that reopens when a lesion report arrives after the report that ruled it out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from db.repository import CLOCK, PATHWAY
from services.intake import Intake
from tests.factories import INTAKE_T0 as T0
from tests.factories import RULES_V2, envelope
from tests.factories import referral_line as referral

H = timedelta(hours=1)
NOW = T0 + 2 * timedelta(days=1)


def test_a_late_lesion_report_reopens_a_ruled_out_pathway_in_the_database(
    engine: Engine,
) -> None:
    intake = Intake(engine, new_pathway_rules=lambda: RULES_V2)
    first = [
        referral("r-1", "REF-R", T0),
        envelope("r-2", "REF-R", "imaging.performed", T0 + H, {"modality": "mri_whole_spine"}),
        envelope(
            "r-4",
            "REF-R",
            "imaging.reported",
            T0 + 4 * H,
            {"finding": "no_malignant_spinal_lesion"},
        ),
    ]
    late = envelope(
        "r-3",
        "REF-R",
        "imaging.reported",
        T0 + 3 * H,
        {"finding": "suspected_primary_bone_tumour", "cord_compression": False},
    )

    closed = intake.ingest_lines(enumerate(first, 1), now=NOW)
    with engine.connect() as conn:
        status_before = conn.execute(select(PATHWAY.c.status)).scalar_one()
    reopened = intake.ingest_lines([(1, late)], now=NOW)
    with engine.connect() as conn:
        status_after = conn.execute(select(PATHWAY.c.status)).scalar_one()
        clocks = {row.clock_id: row.status for row in conn.execute(select(CLOCK))}

    assert (closed.accepted, reopened.accepted, reopened.rejected) == (3, 1, [])
    assert (status_before, status_after) == ("closed", "open")
    assert "SARC-REFER" in clocks
