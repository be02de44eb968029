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

from sqlalchemy import Connection, Engine, func, select, update

from db.audit import append_audit, audit_entry
from db.engine import reading, transaction
from db.errors import UnknownAlert
from db.repository import CLOCK, INBOX, OUTBOX, PATHWAY, insert_new
from pathway.alerts import TAGS, AlertLevel, heartbeat_key, watch_is_dead
from pathway.events import AlertAcknowledged, parse_event
from pathway.ruleset import PinnedRules
from services.intake import Intake
from services.watch import (
    ALERT,
    QueuedAlert,
    alert_values,
    last_sweep_at,
    new_alert_id,
    outbox_values,
)


def alert_references(conn: Connection, alert_ids: list[str]) -> dict[str, str | None]:
    """The referral reference of each stored alert among ``alert_ids`` (None: not a
    pathway's alert, e.g. a heartbeat). An id missing from the answer names no alert."""
    if not alert_ids:
        return {}
    rows = conn.execute(
        select(ALERT.c.id, PATHWAY.c.reference)
        .select_from(ALERT)
        .outerjoin(PATHWAY, PATHWAY.c.id == ALERT.c.pathway_id)
        .where(ALERT.c.id.in_(alert_ids))
    )
    return {row.id: row.reference for row in rows}


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
        alert = conn.execute(select(ALERT).where(ALERT.c.id == alert_id)).first()
        if alert is None:
            raise UnknownAlert(alert_id)
        if alert.acknowledged_at is not None:
            return Acknowledgement(
                alert_id, alert.acknowledged_by, alert.acknowledged_at, False, alert.ack_event_id
            )
        reference = (
            conn.execute(
                select(PATHWAY.c.reference).where(PATHWAY.c.id == alert.pathway_id)
            ).scalar()
            if alert.pathway_id is not None
            else None
        )
    event_id: str | None = None
    if reference is not None:
        event_id = f"ack-{alert_id}"
        event = parse_event(
            json.dumps(
                {
                    "event_id": event_id,
                    "type": "alert.acknowledged",
                    "pathway": reference,
                    "occurred_at": now.isoformat(),
                    "recorded_by": by,
                    "source": source,
                    "data": {"alert_id": alert_id, "by": by},
                }
            )
        )
        assert isinstance(event, AlertAcknowledged)
        intake = Intake(engine, new_pathway_rules=new_pathway_rules, mark_processed=True)
        result = intake.ingest_events([event], now=now)
        if result.rejected and result.rejected[0].field != "event_id":
            rejection = result.rejected[0]
            raise ValueError(f"{rejection.field}: {rejection.reason}")
    with transaction(engine) as conn:
        marked = conn.execute(
            update(ALERT)
            .where(ALERT.c.id == alert_id)
            .where(ALERT.c.acknowledged_at.is_(None))
            .values(acknowledged_at=now, acknowledged_by=by, ack_event_id=event_id)
        ).rowcount
        if marked and alert.clock_id is not None:
            # Recompute the clock's next alert at the next sweep: nothing, once acknowledged.
            conn.execute(
                update(CLOCK)
                .where(CLOCK.c.pathway_id == alert.pathway_id)
                .where(CLOCK.c.clock_id == alert.clock_id)
                .where(CLOCK.c.starts_at == alert.clock_starts_at)
                .values(next_alert_at=None)
            )
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
    return Acknowledgement(alert_id, by, now, bool(marked), event_id)


def list_alerts(
    conn: Connection, *, pathway: str | None = None, pending: bool = False
) -> list[dict[str, Any]]:
    """Alerts, newest first: level, tags, status, attempts, per-service results, acknowledgement.

    ``pending`` keeps those not known delivered: pending, sending, undelivered and
    unconfirmed (a watch died while sending it; fallback was told).
    """
    query = (
        select(
            ALERT,
            OUTBOX.c.status,
            OUTBOX.c.attempts,
            OUTBOX.c.result,
        )
        .join(OUTBOX, OUTBOX.c.key == ALERT.c.key)
        .order_by(ALERT.c.created_at.desc(), ALERT.c.id)
    )
    if pathway is not None:
        pathway_id = conn.execute(
            select(PATHWAY.c.id).where((PATHWAY.c.id == pathway) | (PATHWAY.c.reference == pathway))
        ).scalar()
        query = query.where(ALERT.c.pathway_id == (pathway_id or pathway))
    if pending:
        query = query.where(
            OUTBOX.c.status.in_(["pending", "sending", "undelivered", "unconfirmed"])
        )
    alerts = []
    for row in conn.execute(query):
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


def count_undelivered(conn: Connection, kind: str = "alert") -> dict[str, int]:
    """Undelivered alerts (or letters) per pathway (for the coordinator board)."""
    counts: dict[str, int] = {}
    rows = conn.execute(
        select(OUTBOX.c.pathway_id)
        .where(OUTBOX.c.kind == kind)
        .where(OUTBOX.c.status == "undelivered")
    )
    for (pathway_id,) in rows:
        counts[pathway_id or "-"] = counts.get(pathway_id or "-", 0) + 1
    return counts


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
    first: datetime | None = conn.execute(select(func.min(INBOX.c.received_at))).scalar()
    return WatchPulse(None, first)


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
        if conn.execute(select(OUTBOX.c.id).where(OUTBOX.c.key == key)).first() is not None:
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
        if not insert_new(conn, OUTBOX, [outbox_values(alert, at=now, extra=extra)]):
            return None
        insert_new(conn, ALERT, [alert_values(alert, at=now, clock_starts_at=None)])
    return alert
