"""Every cordwatch deployment, for `cordwatch serve` (prefect.yaml declares the same for workers).

The watch and heartbeat intervals and the report's time zone come from the settings
(``CORDWATCH_WATCH_INTERVAL_SECONDS``, ``CORDWATCH_TIMEZONE``): the heartbeat presumes the watch
dead after 3 of the same intervals, so the schedule and the alarm must never disagree.
``prefect.yaml`` is static YAML holding the defaults; a test keeps the two in step.
"""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from flows.alerts import acknowledge_alert, heartbeat_check
from flows.board_decision import board_decision
from flows.deadline_watch import deadline_watch
from flows.explain_breach import explain_breach
from flows.handle_event import handle_event
from flows.ingest import ingest_file
from flows.report import performance_report_flow
from pathway.breaches import EXPLAIN_BREACH_DEPLOYMENT
from services.settings import Settings, get_settings

REPORT_CRON = "0 7 * * 1"  # Mondays 07:00 (service time zone): last week's figures


def _every(seconds: int) -> str:
    return "Every minute" if seconds == 60 else f"Every {seconds} s"


def all_deployments(settings: Settings | None = None) -> list[RunnerDeployment]:
    """handle-event, deadline-watch and heartbeat-check (every watch interval),
    acknowledge-alert, board-decision, explain-breach, ingest and performance-report (weekly)."""
    # One watch (and one heartbeat, one report) at a time, as prefect.yaml declares: a watch
    # that outlasts its interval (a backlog of letters) must not be joined by another that
    # competes for the same rows; the next one waits for its slot.
    settings = settings or get_settings()
    interval = settings.watch_interval_seconds
    return [
        RunnerDeployment.from_flow(
            handle_event,
            entrypoint_type=EntrypointType.MODULE_PATH,
            name="handle-event",
            concurrency_limit=4,
            description="One run per accepted event (named and tagged by pathway).",
        ),
        RunnerDeployment.from_flow(
            deadline_watch,
            entrypoint_type=EntrypointType.MODULE_PATH,
            name="deadline-watch",
            concurrency_limit=1,
            interval=interval,
            description=f"{_every(interval)}: alerts owed, lost events re-driven, the "
            "coordinator board.",
        ),
        RunnerDeployment.from_flow(
            heartbeat_check,
            entrypoint_type=EntrypointType.MODULE_PATH,
            name="heartbeat-check",
            concurrency_limit=1,
            interval=interval,
            description=f"{_every(interval)}, independently of the watch: alert ops when the "
            "deadline watch has not completed a sweep for 3 intervals.",
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
            explain_breach,
            entrypoint_type=EntrypointType.MODULE_PATH,
            name=EXPLAIN_BREACH_DEPLOYMENT,
            description="Record why a clock breached (version-2 pathways): Run, Custom run, "
            "then the pathway's PW- id, the clock, the reason and stage.",
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
            concurrency_limit=1,
            schedule=Cron(REPORT_CRON, timezone=settings.timezone),
            description="Weekly (Monday 07:00) and on demand: KPI table and HTML report link.",
        ),
    ]
