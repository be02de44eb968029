"""The `handle-event` flow: one short run per accepted event, named and tagged by pathway."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_client, get_run_logger
from prefect.runtime import flow_run

from db.engine import reading
from tasks.effects import run_pending_effects
from tasks.inbox import load_entry, mark_event_processed
from tasks.views import emit_pathway_event, publish_pathway_views


def _run_name() -> str:
    """``PW-7F3K2Q imaging.reported`` (looked up from the inbox: parameters hold only the event id)."""
    from db.engine import engine_for
    from db.inbox import find_inbox_entries
    from services.settings import get_settings

    event_id = str(flow_run.parameters.get("event_id", ""))
    with reading(engine_for(get_settings().url())) as conn:
        found = find_inbox_entries(conn, [event_id])
    return found[0].run_name if found else "unknown event"


@flow(name="handle-event", flow_run_name=_run_name, retries=2, retry_delay_seconds=10)
async def handle_event(event_id: str) -> dict[str, Any]:
    """Run an accepted event's effects, publish its pathway's views, and mark it processed."""
    logger = get_run_logger()
    now = datetime.now(UTC)
    entry = load_entry(event_id)
    run_id = flow_run.id
    if run_id:
        async with get_client() as client:
            await client.update_flow_run(run_id, tags=entry.tags)
    await publish_pathway_views(entry.pathway_id, now)
    emit_pathway_event(entry, now)
    effects = await run_pending_effects(entry.pathway_id, now)
    newly = mark_event_processed(event_id, now)
    logger.info(
        "%s %s %s", entry.pathway_id, entry.type, "processed" if newly else "was already processed"
    )
    return {
        "pathway": entry.pathway_id,
        "type": entry.type,
        "newly_processed": newly,
        "effects": effects,
    }
