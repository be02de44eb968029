"""The `deadline-watch` flow, scheduled every minute: alerts owed, events re-driven, the board."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task

from db.engine import engine_for
from services.settings import get_settings
from services.watch import WatchReport, configured_escalation, run_watch
from tasks.alerts import deliver_pending_alerts
from tasks.effects import run_pending_effects
from tasks.letters import deliver_pending_letters
from tasks.views import emit_pathway_event, publish_board, publish_pathway_views


@task(name="sweep-deadlines")
def sweep_deadlines(as_of: datetime, now: datetime) -> WatchReport:
    """Queue the alerts owed at ``as_of`` and process events whose notification was lost."""
    settings = get_settings()
    return run_watch(
        engine_for(settings.url()),
        as_of=as_of,
        now=now,
        escalation=configured_escalation(settings),
    )


async def deliver_owed(moment: datetime) -> dict[str, int]:
    """Deliver everything owed at ``moment``: counts by ``"alert sent"``, ``"letter pending"``...

    Alerts first and concurrently (tasks/alerts.py); then letters, on worker processes when
    many are owed (tasks/letters.py), for at most half a watch interval (the rest wait for the
    next watch, ``letter deferred``); then any other pending effect. The scheduled watch and
    ``cordwatch watch --once`` both end with this, so a watch run from cron alerts too.
    """
    alerts = await deliver_pending_alerts(moment)
    letters = await deliver_pending_letters(
        moment, budget_seconds=get_settings().watch_interval_seconds / 2
    )
    effects = await run_pending_effects(None, moment)
    for status, count in alerts.items():
        effects[f"alert {status}"] = count
    for status, count in letters.items():
        effects[f"letter {status}"] = count
    return effects


@flow(name="deadline-watch", flow_run_name="deadline watch")
async def deadline_watch(as_of: datetime | None = None) -> dict[str, Any]:
    """Compute the clocks at risk or breached, queue their alerts once, publish the coordinator board."""
    now = datetime.now(UTC)
    moment = as_of or now
    report = sweep_deadlines(moment, now)
    if report.preview:
        # A moment in the future: what would be owed then, with nothing queued or sent, and
        # no board published (the coordinators' board always shows the present).
        get_run_logger().warning(
            "as_of %s is in the future: preview only, nothing queued", moment.isoformat()
        )
        return report.as_dict()
    for entry in report.redriven:
        await publish_pathway_views(entry.pathway_id, moment)
        emit_pathway_event(entry, moment)
    effects = await deliver_owed(moment)
    open_pathways = await publish_board(moment)
    summary = {**report.as_dict(), "open_pathways": open_pathways, "effects": effects}
    get_run_logger().info(
        "%d alerts queued, %d clocks at risk, %d breached, %d events re-driven, %d open pathways",
        len(report.sweep.queued),
        report.sweep.clocks_at_risk,
        report.sweep.clocks_breached,
        len(report.redriven),
        open_pathways,
    )
    return summary
