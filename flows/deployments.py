"""Every cordwatch deployment, for `cordwatch serve` (prefect.yaml declares the same for workers)."""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from flows.alerts import acknowledge_alert, heartbeat_check
from flows.board_decision import board_decision
from flows.deadline_watch import deadline_watch
from flows.handle_event import handle_event
from flows.ingest import ingest_file
from flows.report import performance_report_flow

WATCH_INTERVAL_SECONDS = 60
REPORT_CRON = "0 7 * * 1"  # Mondays 07:00 (service time zone): last week's figures


def all_deployments() -> list[RunnerDeployment]:
    """handle-event, deadline-watch (every minute), board-decision, ingest and performance-report."""
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
            heartbeat_check,
            entrypoint_type=EntrypointType.MODULE_PATH,
            name="heartbeat-check",
            interval=WATCH_INTERVAL_SECONDS,
            description="Every minute, independently of the watch: alert ops when the deadline "
            "watch has not completed a sweep for 3 intervals.",
        ),
        RunnerDeployment.from_flow(
            acknowledge_alert,
            entrypoint_type=EntrypointType.MODULE_PATH,
            name="acknowledge-alert",
            description="Acknowledge an alert (its AL- id and your name): stops its escalation.",
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
        RunnerDeployment.from_flow(
            performance_report_flow,
            entrypoint_type=EntrypointType.MODULE_PATH,
            name="performance-report",
            schedule=Cron(REPORT_CRON, timezone="Europe/London"),
            description="Weekly (Monday 07:00) and on demand: KPI table and HTML report link.",
        ),
    ]
