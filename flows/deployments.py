"""Every cordwatch deployment, for `cordwatch serve` (prefect.yaml declares the same for workers)."""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment
from prefect.types.entrypoint import EntrypointType

from flows.board_decision import board_decision
from flows.deadline_watch import deadline_watch
from flows.handle_event import handle_event
from flows.ingest import ingest_file

WATCH_INTERVAL_SECONDS = 60


def all_deployments() -> list[RunnerDeployment]:
    """handle-event, deadline-watch (every minute), board-decision and ingest."""
    return [
        RunnerDeployment.from_flow(
            handle_event,
            entrypoint_type=EntrypointType.MODULE_PATH,
            name="handle-event",
            description="One run per accepted event (named and tagged by pathway).",
        ),
        RunnerDeployment.from_flow(
            deadline_watch,
            entrypoint_type=EntrypointType.MODULE_PATH,
            name="deadline-watch",
            interval=WATCH_INTERVAL_SECONDS,
            description="Every minute: alerts owed, lost events re-driven, the coordinator board.",
        ),
        RunnerDeployment.from_flow(
            board_decision,
            entrypoint_type=EntrypointType.MODULE_PATH,
            name="board-decision",
            description="The tumour board's decision form (a suspended run).",
        ),
        RunnerDeployment.from_flow(
            ingest_file,
            entrypoint_type=EntrypointType.MODULE_PATH,
            name="ingest",
            description="Bulk files and backfills, in batches.",
        ),
    ]
