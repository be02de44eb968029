"""The statements on ``alert`` rows: writing them, their acknowledgements, and the facts a
delivery re-checks. None of these commit: the caller owns the transaction.

An acknowledgement is an ``alert.acknowledged`` event in the inbox (the record) and a mark on
the alert row. When the process that recorded the event died before marking the row, the
readers of breach and safety state here mark it ("heal"), so escalation stops all the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, update

from db.repository import CLOCK, INBOX, OUTBOX, PATHWAY, chunks, table
from pathway.alerts import AlertLevel
from pathway.ruleset import PinnedRules, rules_from_json
from pathway.safety import safety_event_of
from pathway.sweep import BreachState, ClockInstance, OpenSafetyAlert, QueuedAlert, clock_instance

ALERT = table("alert")


@dataclass(frozen=True, slots=True)
class RecordedAcknowledgement:
    """An ``alert.acknowledged`` event as the inbox holds it: who, when, which event."""

    alert_id: str
    by: str
    at: datetime
    event_id: str


def alert_values(
    alert: QueuedAlert, *, at: datetime, clock_starts_at: datetime | None
) -> dict[str, Any]:
    """The ``alert`` row of a decided alert."""
    return {
        "id": alert.alert_id,
        "key": alert.key,
        "pathway_id": alert.pathway_id or None,
        "clock_id": alert.clock_id or None,
        "clock_starts_at": clock_starts_at,
        "level": alert.level,
        "step": alert.step,
        "tags": ",".join(alert.tags),
        "created_at": at,
        "next_attempt_at": at,
    }


def find_alert(conn: Connection, alert_id: str) -> Row[Any] | None:
    """The alert row with this id, or None."""
    return conn.execute(select(ALERT).where(ALERT.c.id == alert_id)).first()


def find_alert_by_key(conn: Connection, key: str) -> Row[Any] | None:
    """The alert row of an outbox key, or None (an outbox row written before alert rows)."""
    return conn.execute(select(ALERT).where(ALERT.c.key == key)).first()


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


def pathway_reference(conn: Connection, pathway_id: str) -> str | None:
    """The referral reference of a pathway (what an acknowledgement event names)."""
    reference: str | None = conn.execute(
        select(PATHWAY.c.reference).where(PATHWAY.c.id == pathway_id)
    ).scalar()
    return reference


def mark_acknowledged(
    conn: Connection, alert: Row[Any], *, by: str, at: datetime, event_id: str | None
) -> bool:
    """Mark an alert acknowledged unless it already is; True when this call marked it.

    A marked clock alert also clears its clock's ``next_alert_at``, so the next sweep
    recomputes it: nothing more is owed once the breach is acknowledged.
    """
    marked = conn.execute(
        update(ALERT)
        .where(ALERT.c.id == alert.id)
        .where(ALERT.c.acknowledged_at.is_(None))
        .values(acknowledged_at=at, acknowledged_by=by, ack_event_id=event_id)
    ).rowcount
    if marked and alert.clock_id is not None:
        conn.execute(
            update(CLOCK)
            .where(CLOCK.c.pathway_id == alert.pathway_id)
            .where(CLOCK.c.clock_id == alert.clock_id)
            .where(CLOCK.c.starts_at == alert.clock_starts_at)
            .values(next_alert_at=None)
        )
    return bool(marked)


def recorded_acknowledgements(
    conn: Connection, pathway_ids: list[str]
) -> dict[str, RecordedAcknowledgement]:
    """The first ``alert.acknowledged`` event of each alert of these pathways (the inbox)."""
    found: dict[str, RecordedAcknowledgement] = {}
    for part in chunks(sorted(set(pathway_ids))):
        rows = conn.execute(
            select(INBOX.c.event_id, INBOX.c.payload, INBOX.c.occurred_at)
            .where(INBOX.c.pathway_id.in_(part))
            .where(INBOX.c.type == "alert.acknowledged")
            .order_by(INBOX.c.occurred_at)
        )
        for row in rows:
            data = json.loads(row.payload)["data"]
            found.setdefault(
                data["alert_id"],
                RecordedAcknowledgement(
                    data["alert_id"], data["by"], row.occurred_at, row.event_id
                ),
            )
    return found


def _acknowledged_rows(
    conn: Connection, pathway_ids: list[str], condition: Any
) -> list[tuple[Any, bool]]:
    """The alert rows of these pathways that match ``condition``, each with whether it was
    acknowledged; heals acknowledgements not yet applied (module docstring)."""
    acks = recorded_acknowledgements(conn, pathway_ids)
    found: list[tuple[Any, bool]] = []
    heal: list[dict[str, Any]] = []
    for part in chunks(sorted(set(pathway_ids))):
        rows = conn.execute(
            select(
                ALERT.c.id,
                ALERT.c.key,
                ALERT.c.pathway_id,
                ALERT.c.clock_id,
                ALERT.c.clock_starts_at,
                ALERT.c.level,
                ALERT.c.created_at,
                ALERT.c.acknowledged_at,
            )
            .where(ALERT.c.pathway_id.in_(part))
            .where(condition)
        )
        for row in rows:
            ack = acks.get(row.id)
            found.append((row, row.acknowledged_at is not None or ack is not None))
            if row.acknowledged_at is None and ack is not None:
                heal.append(
                    {
                        "b_id": row.id,
                        "acknowledged_at": ack.at,
                        "acknowledged_by": ack.by,
                        "ack_event_id": ack.event_id,
                    }
                )
    if heal:
        conn.execute(
            update(ALERT)
            .where(ALERT.c.id == bindparam("b_id"))
            .values(
                acknowledged_at=bindparam("acknowledged_at"),
                acknowledged_by=bindparam("acknowledged_by"),
                ack_event_id=bindparam("ack_event_id"),
            ),
            heal,
        )
    return found


def breach_states(conn: Connection, pathway_ids: list[str]) -> dict[ClockInstance, BreachState]:
    """Breach state of the late clocks of these pathways; heals acknowledgements not yet applied.

    Acknowledging the breach alert or any of its escalations stops the escalation.
    """
    breaches: dict[ClockInstance, BreachState] = {}
    condition = ALERT.c.level.in_(
        [AlertLevel.BREACH.value, AlertLevel.ESCALATION.value]
    ) & ALERT.c.clock_id.is_not(None)  # a safety alert's escalations have no clock
    for row, acknowledged in _acknowledged_rows(conn, pathway_ids, condition):
        state = breaches.setdefault(
            clock_instance(row.pathway_id, row.clock_id, row.clock_starts_at), BreachState()
        )
        if row.level == AlertLevel.BREACH.value:
            state.raised_at = row.created_at
        state.acknowledged = state.acknowledged or acknowledged
    return breaches


def safety_acknowledged(conn: Connection, pathway_ids: list[str]) -> set[tuple[str, str]]:
    """The safety alerts of these pathways that are acknowledged, as (pathway id, event id):
    the safety alert itself or any of its escalations (heals acknowledgements not yet applied).
    """
    condition = ALERT.c.level.in_(
        [AlertLevel.SAFETY.value, AlertLevel.ESCALATION.value]
    ) & ALERT.c.clock_id.is_(None)
    return {
        safety_event_of(row.key)
        for row, acknowledged in _acknowledged_rows(conn, pathway_ids, condition)
        if acknowledged
    }


def open_safety_alerts(conn: Connection) -> list[OpenSafetyAlert]:
    """Safety alerts not themselves acknowledged (index ``ix_alert_level_ack``), with their
    outbox payload and their pathway's rules and category. Safety alerts are rare: a sweep
    reads a handful of rows, however many clock alerts the table holds."""
    rows = conn.execute(
        select(
            ALERT.c.id,
            ALERT.c.key,
            ALERT.c.pathway_id,
            ALERT.c.created_at,
            OUTBOX.c.payload,
            PATHWAY.c.rules,
            PATHWAY.c.category,
        )
        .join(OUTBOX, OUTBOX.c.key == ALERT.c.key)
        .join(PATHWAY, PATHWAY.c.id == ALERT.c.pathway_id)
        .where(ALERT.c.level == AlertLevel.SAFETY.value)
        .where(ALERT.c.acknowledged_at.is_(None))
    )
    return [
        OpenSafetyAlert(
            alert_id=row.id,
            key=row.key,
            pathway_id=row.pathway_id,
            created_at=row.created_at,
            payload=json.loads(row.payload),
            category=row.category,
            rules=rules_from_json(row.rules),
        )
        for row in rows
    ]


def clock_running(conn: Connection, alert: Row[Any]) -> bool:
    """The clock instance of a clock alert is still running, on an open pathway."""
    clock = conn.execute(
        select(CLOCK.c.status, PATHWAY.c.status.label("pathway_status"))
        .join(PATHWAY, PATHWAY.c.id == CLOCK.c.pathway_id)
        .where(CLOCK.c.pathway_id == alert.pathway_id)
        .where(CLOCK.c.clock_id == alert.clock_id)
        .where(CLOCK.c.starts_at == alert.clock_starts_at)
    ).first()
    return clock is not None and clock.status == "running" and clock.pathway_status == "open"


def pathway_rules(conn: Connection, pathway_id: str) -> PinnedRules | None:
    """The rules a pathway runs under (its time zone words its alerts), or None if unknown."""
    rules = conn.execute(select(PATHWAY.c.rules).where(PATHWAY.c.id == pathway_id)).scalar()
    return rules_from_json(rules) if rules is not None else None


def update_alert(conn: Connection, alert_id: str, **values: Any) -> None:
    """Record delivery facts on an alert row (``delivered_at``, ``next_attempt_at``, ``note``)."""
    conn.execute(update(ALERT).where(ALERT.c.id == alert_id).values(**values))


def list_alert_rows(
    conn: Connection, *, pathway: str | None = None, pending: bool = False
) -> list[Row[Any]]:
    """Alert rows with their outbox status, attempts and result, newest first.

    ``pathway`` is an internal id or a referral reference; ``pending`` keeps those not known
    delivered: pending, sending, undelivered and unconfirmed.
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
    return list(conn.execute(query))


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
