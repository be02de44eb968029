"""The `heartbeat-check` flow (is the deadline watch alive?) and the `acknowledge-alert` form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger

from db.engine import engine_for
from services.settings import get_settings
from tasks.alerts import deliver_pending_alerts


@flow(name="heartbeat-check", flow_run_name="heartbeat check")
async def heartbeat_check(as_of: datetime | None = None) -> dict[str, Any]:
    """Alert `ops` when the deadline watch has not completed a sweep for 3 intervals."""
    from services.alerts import queue_heartbeat

    settings = get_settings()
    moment = as_of or datetime.now(UTC)
    queued = queue_heartbeat(
        engine_for(settings.url()),
        now=moment,
        interval=timedelta(seconds=settings.watch_interval_seconds),
    )
    delivered = await deliver_pending_alerts(moment, key_prefix="alert:heartbeat:")
    if queued is not None:
        get_run_logger().warning("deadline watch stopped: heartbeat %s queued", queued.alert_id)
    return {"queued": queued.alert_id if queued else None, "delivered": delivered}


@flow(name="acknowledge-alert", flow_run_name="acknowledge {alert_id}")
async def acknowledge_alert(alert_id: str, by: str) -> dict[str, Any]:
    """Acknowledge an alert (stops escalation of its breach): enter its AL- id and your name."""
    from services.alerts import acknowledge

    settings = get_settings()
    ack = acknowledge(
        engine_for(settings.url()),
        alert_id.strip(),
        by=by.strip(),
        now=datetime.now(UTC),
        source="prefect-ui",
        new_pathway_rules=settings.pinned_rules,
    )
    get_run_logger().info(
        "%s %s", alert_id, "acknowledged" if ack.newly else "was already acknowledged"
    )
    return ack.as_dict()
