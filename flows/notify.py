"""Handing accepted events to Prefect: a `handle-event` run per event, keyed by the event id.

``run_deployment`` with the event id as idempotency key means a second notification for the same
event (a retry, a re-drive) finds the run already created instead of creating another.
"""

from __future__ import annotations

import logging

from prefect.deployments.flow_runs import arun_deployment
from prefect.exceptions import ObjectNotFound

from cordwatch.effects import InboxEntry

HANDLE_EVENT = "handle-event/handle-event"
BOARD_DECISION = "board-decision/board-decision"

logger = logging.getLogger(__name__)


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


async def request_board_decision(entry: InboxEntry) -> str | None:
    """Create the suspended tumour-board form for a pathway listed for an MDT (once per listing)."""
    try:
        run = await arun_deployment(
            BOARD_DECISION,
            parameters={"pathway_id": entry.pathway_id, "listed_event_id": entry.event_id},
            flow_run_name=f"{entry.pathway_id} board decision",
            tags=[f"pathway:{entry.pathway_id}", "board-decision"],
            idempotency_key=f"board-decision:{entry.event_id}",
            timeout=0,
            as_subflow=False,
        )
    except ObjectNotFound:
        logger.warning(
            "%s: no board-decision deployment; the form was not created", entry.pathway_id
        )
        return None
    return str(run.id)
