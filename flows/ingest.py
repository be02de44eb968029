"""The `ingest` flow: bulk files and backfills applied in-process in batches, with a progress artifact."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.runtime import flow_run

from cordwatch.effects import mark_processed
from cordwatch.intake import Intake, IntakeResult
from cordwatch.settings import get_settings
from db.engine import make_engine
from tasks.views import publish_board, publish_pathway_views

PER_PATHWAY_VIEWS_LIMIT = 300
"""Above this many pathways touched, a bulk load refreshes the board only (not every timeline)."""


def _run_name() -> str:
    """``ingest cohort.jsonl``: the file's name, not its folder."""
    return f"ingest {Path(str(flow_run.parameters.get('path', ''))).name}"


@flow(name="ingest", flow_run_name=_run_name)
async def ingest_file(path: str, as_of: datetime | None = None) -> dict[str, Any]:
    """Apply a JSON Lines file in batches; one run instead of one run per event."""
    settings = get_settings()
    now = as_of or datetime.now(UTC)
    source = Path(path)
    lines = source.read_text(encoding="utf-8").splitlines()
    total = max(len(lines), 1)
    progress = await acreate_progress_artifact(
        0.0, key="ingest-progress", description=f"ingest of {source.name}"
    )
    engine = make_engine(settings.url())
    intake = Intake(engine, new_pathway_rules=settings.pinned_rules, mark_processed=False)
    result = IntakeResult()
    size = settings.intake_batch_size
    for start in range(0, len(lines), size):
        numbered = [(start + n, line) for n, line in enumerate(lines[start : start + size], 1)]
        result.merge(intake.ingest_lines(numbered, now=now, batch_size=size))
        await aupdate_progress_artifact(progress, 100.0 * min(start + size, total) / total)
    for event_id in result.accepted_event_ids:
        mark_processed(engine, event_id, at=now)
    engine.dispose()
    if len(result.pathway_ids) <= PER_PATHWAY_VIEWS_LIMIT:
        for pathway_id in sorted(result.pathway_ids):
            await publish_pathway_views(pathway_id, now)
    await publish_board(now)
    get_run_logger().info(
        "%d accepted, %d duplicates, %d rejected",
        result.accepted,
        result.duplicates,
        len(result.rejected),
    )
    return result.as_dict()
