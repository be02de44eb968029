"""The `ingest` flow: bulk files and backfills applied in-process in batches, with a progress artifact."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.runtime import flow_run

from db.engine import engine_for
from db.inbox import mark_processed
from db.private import private_folder, write_private
from services.intake import Intake, IntakeResult
from services.settings import get_settings
from tasks.views import publish_board, publish_pathway_views

PER_PATHWAY_VIEWS_LIMIT = 300
"""Above this many pathways touched, a bulk load refreshes the board only (not every timeline)."""


def opaque_run_name(path: str) -> str:
    """``ingest 3f2a9c1e``: the first 8 hex digits of the path's SHA-256, never the name.

    A file may be named after a patient ("smith-ann.jsonl"), and run names are shown to
    everyone who can open the Prefect UI. The same path gives the same name, so an operator
    who knows which file was sent can still find its run.
    """
    return f"ingest {hashlib.sha256(path.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def stage_for_ingest(content: bytes, folder: Path) -> Path:
    """Write a file to hand to the `ingest` deployment under a name that says nothing.

    Flow parameters are shown in the Prefect UI, and the ``path`` parameter is the file's
    path: cordwatch's own callers (the demo) stage the content as
    ``<folder>/imports/<SHA-256, 16 hex>.jsonl``, owner-only, so neither the run name nor the
    parameter carries a name a person gave the file.
    """
    imports = private_folder(folder / "imports")
    staged = imports / f"{hashlib.sha256(content).hexdigest()[:16]}.jsonl"
    write_private(staged, content)
    return staged


def _run_name() -> str:
    return opaque_run_name(str(flow_run.parameters.get("path", "")))


def _numbered_lines(source: Path) -> Iterator[tuple[int, bytes]]:
    # Bytes, line by line: a line that is not UTF-8 is refused on its own, and no separator
    # inside a line (U+2028, which str.splitlines() splits on) cuts an event in two.
    with source.open("rb") as handle:
        yield from enumerate(handle, start=1)


@flow(name="ingest", flow_run_name=_run_name)
async def ingest_file(
    path: str, as_of: datetime | None = None, backfill: bool = False
) -> dict[str, Any]:
    """Apply a JSON Lines file in batches; one run instead of one run per event.

    ``backfill``: the file is history (a service adopting cordwatch): events more than an hour
    before the run's moment owe no letter; clocks, breaches and figures are as usual.
    """
    settings = get_settings()
    now = as_of or datetime.now(UTC)
    source = Path(path)
    total = max(source.stat().st_size, 1)
    progress = await acreate_progress_artifact(
        0.0, key="ingest-progress", description=f"{opaque_run_name(path)}: {total} bytes"
    )
    engine = engine_for(settings.url())
    intake = Intake(
        engine, new_pathway_rules=settings.pinned_rules, mark_processed=False, backfill=backfill
    )
    result = IntakeResult()
    size = settings.intake_batch_size
    read = 0
    batch: list[tuple[int | None, bytes]] = []
    for number, line in _numbered_lines(source):
        batch.append((number, line))
        read += len(line)
        if len(batch) >= size:
            result.merge(intake.ingest_lines(batch, now=now, batch_size=size))
            await aupdate_progress_artifact(progress, 100.0 * read / total)
            batch = []
    if batch:
        result.merge(intake.ingest_lines(batch, now=now, batch_size=size))
    await aupdate_progress_artifact(progress, 100.0)
    if backfill:
        intake.audit_backfill(result, now=now)
    for event_id in result.accepted_event_ids:
        mark_processed(engine, event_id, at=now)
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
