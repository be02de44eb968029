"""The `performance-report` flow under Prefect's test harness (the session fixture in conftest).

Two suspected-MSCC pathways are referred on Tuesday 3 November 2026 at 09:00 UTC (GMT, so
local time is UTC). The flow runs as of Monday 9 November 07:00, the moment of the weekly
schedule, so it reports the last full week, Monday 2 to Sunday 8 November:

* R1: coordinator at +20 min, dexamethasone at +1 h, MRI at +20 h, reported MSCC at +22 h.
* R2: coordinator at +20 min, dexamethasone at +1 h, MRI at +30 h (6 h late), reported MSCC
  at +32 h.

Neither has a tumour-board decision, so both PLAN-MSCC clocks (24 h from the report) are
still running past their due time on 9 November: breached.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from sqlalchemy import Engine

from db.audit import verify_chain
from db.engine import make_engine
from db.migrate import upgrade
from flows.report import performance_report_flow
from services.intake import Intake
from services.settings import get_settings
from tests.conftest import NOW, RULES
from tests.factories import envelope
from tests.factories import referral_line as referral
from tests.flows.conftest import everything_prefect_holds, identifiers

pytestmark = pytest.mark.prefect

REFERRED = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
AS_OF = datetime(2026, 11, 9, 7, 0, tzinfo=UTC)


def _pathway(ref: str, prefix: str, nhs: str, mri_after_hours: int) -> list[str]:
    def at(hours: float) -> datetime:
        return REFERRED + timedelta(hours=hours)

    return [
        referral(f"{prefix}-1", ref, REFERRED, nhs=nhs),
        envelope(f"{prefix}-2", ref, "coordinator.contacted", at(1 / 3), {"coordinator": "Sam"}),
        envelope(
            f"{prefix}-3",
            ref,
            "steroids.started",
            at(1),
            {"drug": "dexamethasone", "dose_mg": 16},
        ),
        envelope(
            f"{prefix}-4",
            ref,
            "imaging.performed",
            at(mri_after_hours),
            {"modality": "mri_whole_spine"},
        ),
        envelope(
            f"{prefix}-5", ref, "imaging.reported", at(mri_after_hours + 2), {"finding": "mscc"}
        ),
    ]


@pytest.fixture
def cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, set[str]]]:
    """The two pathways in a SQLite file; returns the engine and every patient identifier."""
    url = f"sqlite:///{tmp_path / 'report.db'}"
    monkeypatch.setenv("CORDWATCH_DATABASE_URL", url)
    monkeypatch.setenv("CORDWATCH_REPORT_DIR", str(tmp_path / "reports"))
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    lines = _pathway("REF-R1", "r1", "9990000018", 20) + _pathway("REF-R2", "r2", "9990000026", 30)
    intake = Intake(engine, new_pathway_rules=lambda: RULES)
    assert intake.ingest_lines(enumerate(lines, 1), now=NOW).rejected == []
    yield engine, identifiers([json.loads(line) for line in lines])
    engine.dispose()


async def _artifact(key: str) -> Any:
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=1
        )
    assert len(found) == 1, key
    return found[0]


def test_the_weekly_report_publishes_its_headline_figures_and_a_link(
    cohort: tuple[Engine, set[str]], tmp_path: Path
) -> None:
    engine, canaries = cohort

    result = asyncio.run(performance_report_flow(as_of=AS_OF))
    table = asyncio.run(_artifact("performance-report"))
    link = asyncio.run(_artifact("performance-report-link"))
    held = asyncio.run(everything_prefect_holds())

    html = Path(result["html"])
    with engine.connect() as conn:
        chain = verify_chain(conn)
    # The last full week before Monday 9 November, written where CORDWATCH_REPORT_DIR says.
    assert result == {
        "start": "2026-11-02",
        "end": "2026-11-08",
        "html": str(tmp_path / "reports" / "performance-2026-11-02-to-2026-11-08.html"),
        "audit_chain_ok": True,
    }
    page = html.read_text(encoding="utf-8")
    assert "Compliance by week" in page
    rows = {row["measure"]: row for row in json.loads(table.data)}
    # K1 (MRI-MSCC, 24 h): R1 at 20 h met, R2 at 30 h breached: 1 of 2, 50.0 %, no national %.
    assert rows["K1 MRI within 24 h, suspected MSCC"] == {
        "measure": "K1 MRI within 24 h, suspected MSCC",
        "on time": "1 of 2",
        "%": "50.0 %",
        "target": "no national %",
        "target met": "-",
    }
    # K6 (STEROID-MSCC, 4 h): both at 1 h: 2 of 2.
    assert rows["K6 Dexamethasone within the local SLA"]["on time"] == "2 of 2"
    # K14: two pathways scanned, MSCC confirmed in both.
    assert rows["K14 MRI yield (MSCC confirmed of pathways scanned)"]["on time"] == "2 of 2"
    # The link artifact: the HTML file, the breaches (R2's MRI-MSCC and both PLAN-MSCC), the
    # pathways referred, and the audit chain's head as verify finds it.
    assert html.as_uri() in link.data
    assert "3 breaches; pathways referred: suspected mscc 2" in link.data
    assert f"intact: {chain.entries} entries" in link.data
    assert f"head hash `{chain.head_hash}` (entry {chain.head_id})" in link.data
    assert table.description == "MSCC pathway performance 2026-11-02 to 2026-11-08"
    # Nothing Prefect holds, nor the HTML file, names a patient.
    assert "performance-report-link" in held
    assert sorted(c for c in canaries if c in held or c in page) == []
