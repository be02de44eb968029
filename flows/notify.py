"""Handing accepted events to Prefect: a `handle-event` run per event, keyed by the event id.

``run_deployment`` with the event id as idempotency key means a second notification for the same
event (a retry, a re-drive) finds the run already created instead of creating another.
"""

from __future__ import annotations

from prefect.deployments.flow_runs import arun_deployment

from db.inbox import InboxEntry

HANDLE_EVENT = "handle-event/handle-event"


async def notify_event(entry: InboxEntry) -> str:
    """Create the event's `handle-event` run (or find it); returns the flow run id."""
    run = await arun_deployment(
        HANDLE_EVENT,
        parameters={"event_id": entry.event_id},
        flow_run_name=entry.run_name,
        tags=entry.tags,
        idempotency_key=f"handle-event:{entry.event_id}",
        timeout=0,
        as_subflow=False,
    )
    return str(run.id)
