"""Alerts seen from the shell: listing them, acknowledging one, and the watch's heartbeat check.

An acknowledgement is an ``alert.acknowledged`` event admitted by the intake (so it is in the
pathway's events and audit trail like any other fact), then applied to the alert row; if the
process dies in between, the next deadline watch applies it from the inbox.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from db.alerts import (
    ALERT,
    alert_values,
    find_alert,
    list_alert_rows,
    mark_acknowledged,
    pathway_reference,
)
from db.audit import append_audit, audit_entry
from db.engine import reading, transaction
from db.errors import UnknownAlert
from db.outbox import alert_outbox_values, is_queued
from db.repository import OUTBOX, insert_new
from db.watch import first_event_received_at
from pathway.alerts import TAGS, AlertLevel, heartbeat_key, watch_is_dead
from pathway.events import AlertAcknowledged, event_from_fields
from pathway.ruleset import PinnedRules
from pathway.sweep import QueuedAlert
from services.intake import Intake
from services.watch import last_sweep_at, new_alert_id

__all__ = [
    "Acknowledgement",
    "WatchPulse",
    "acknowledge",
    "list_alerts",
    "queue_heartbeat",
    "watch_pulse",
]


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    alert_id: str
    by: str
    at: datetime
    newly: bool
    event_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "acknowledged_by": self.by,
            "acknowledged_at": self.at.isoformat(),
            "newly_acknowledged": self.newly,
            "event_id": self.event_id,
        }


def acknowledge(
    engine: Engine,
    alert_id: str,
    *,
    by: str,
    now: datetime,
    source: str,
    new_pathway_rules: Callable[[], PinnedRules],
) -> Acknowledgement:
    """Record that ``by`` acknowledged an alert; stops escalation of its breach or safety alert.

    The event id is ``ack-<alert id>``: a retried command or form is a replay, not a second
    acknowledgement. The first acknowledgement of an alert stands.

    Raises:
        UnknownAlert: no such alert.
        ValueError: the intake refused the event (the reason names the field).
    """
    with reading(engine) as conn:
        alert = find_alert(conn, alert_id)
        if alert is None:
            raise UnknownAlert(alert_id)
        if alert.acknowledged_at is not None:
            return Acknowledgement(
                alert_id, alert.acknowledged_by, alert.acknowledged_at, False, alert.ack_event_id
            )
        reference = (
            pathway_reference(conn, alert.pathway_id) if alert.pathway_id is not None else None
        )
    event_id: str | None = None
    if reference is not None:
        event_id = f"ack-{alert_id}"
        event = event_from_fields(
            {
                "event_id": event_id,
                "type": "alert.acknowledged",
                "pathway": reference,
                "occurred_at": now,
                "recorded_by": by,
                "source": source,
                "data": {"alert_id": alert_id, "by": by},
            }
        )
        assert isinstance(event, AlertAcknowledged)
        intake = Intake(engine, new_pathway_rules=new_pathway_rules, mark_processed=True)
        result = intake.ingest_events([event], now=now)
        if result.rejected and result.rejected[0].field != "event_id":
            rejection = result.rejected[0]
            raise ValueError(f"{rejection.field}: {rejection.reason}")
    with transaction(engine) as conn:
        marked = mark_acknowledged(conn, alert, by=by, at=now, event_id=event_id)
        if marked:
            append_audit(
                conn,
                [
                    audit_entry(
                        at=now,
                        action="alert.acknowledged",
                        pathway_id=alert.pathway_id,
                        event_id=event_id,
                        event_type="alert.acknowledged" if event_id else None,
                        occurred_at=now,
                        actor=by,
                        source=source,
                        field=alert.clock_id,
                        reason=f"{alert.level} {alert.step}",
                        details={"alert_id": alert_id, "level": alert.level, "step": alert.step},
                    )
                ],
            )
    return Acknowledgement(alert_id, by, now, marked, event_id)


def list_alerts(
    conn: Connection, *, pathway: str | None = None, pending: bool = False
) -> list[dict[str, Any]]:
    """Alerts, newest first: level, tags, status, attempts, per-service results, acknowledgement.

    ``pending`` keeps those not known delivered: pending, sending, undelivered and
    unconfirmed (a watch died while sending it; fallback was told).
    """
    alerts = []
    for row in list_alert_rows(conn, pathway=pathway, pending=pending):
        result = json.loads(row.result) if row.result else {}
        alerts.append(
            {
                "id": row.id,
                "pathway_id": row.pathway_id,
                "clock": row.clock_id,
                "level": row.level,
                "step": row.step,
                "tags": row.tags.split(","),
                "status": row.status,
                "attempts": row.attempts,
                "created_at": row.created_at.isoformat(),
                "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
                "services": result.get("services", {}),
                "fallback": result.get("fallback"),
                "acknowledged_by": row.acknowledged_by,
                "acknowledged_at": row.acknowledged_at.isoformat() if row.acknowledged_at else None,
            }
        )
    return alerts


@dataclass(frozen=True, slots=True)
class WatchPulse:
    """What the heartbeat check knows of the deadline watch: its last completed sweep and,
    when it never completed one, when the first accepted event arrived (work it should watch)."""

    last_sweep_at: datetime | None
    first_event_received_at: datetime | None

    def dead(self, *, at: datetime, interval: timedelta) -> bool:
        return watch_is_dead(
            self.last_sweep_at,
            at=at,
            interval=interval,
            first_event_received_at=self.first_event_received_at,
        )


def watch_pulse(conn: Connection, *, at: datetime | None = None) -> WatchPulse:
    """The watch's last sweep (up to ``at``), and the first event's arrival only if it never
    swept.

    The inbox is read only for a watch that never ran (its ``received_at`` is not indexed):
    a running service pays one indexed ``max`` over ``watch_run`` per check, as before.
    """
    last = last_sweep_at(conn, at=at)
    if last is not None:
        return WatchPulse(last, None)
    return WatchPulse(None, first_event_received_at(conn))


def queue_heartbeat(engine: Engine, *, now: datetime, interval: timedelta) -> QueuedAlert | None:
    """Queue one heartbeat alert to ``ops`` if the watch has not completed a sweep lately.

    A watch that never completed a sweep is dead once events arrived more than 3 intervals
    ago (:func:`pathway.alerts.watch_is_dead`). One per outage: its key names the last
    completed sweep (``never`` before the first), so checks that keep finding the same dead
    watch queue nothing more. The alert carries no pathway and no patient data: only when
    the last sweep, or the first event, happened.
    """
    with transaction(engine) as conn:
        pulse = watch_pulse(conn, at=now)
        if not pulse.dead(at=now, interval=interval):
            return None
        last = pulse.last_sweep_at
        key = heartbeat_key(last)
        if is_queued(conn, key):
            return None
        alert = QueuedAlert(
            key=key,
            alert_id=new_alert_id(),
            pathway_id="",
            clock_id="",
            level=AlertLevel.HEARTBEAT.value,
            step=1,
            due_at=now,
            category="",
            tags=TAGS[AlertLevel.HEARTBEAT],
        )
        first = pulse.first_event_received_at
        extra = {
            "last_sweep_at": last.isoformat() if last else None,
            "first_event_received_at": first.isoformat() if first else None,
        }
        # Two checks at once (the deployment and `alerts check`) queue one heartbeat.
        if not insert_new(conn, OUTBOX, [alert_outbox_values(alert, at=now, extra=extra)]):
            return None
        insert_new(conn, ALERT, [alert_values(alert, at=now, clock_starts_at=None)])
    return alert
