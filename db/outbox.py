"""The outbox statements every delivery shares (alerts, letters, board forms): queue, claim
under a lease, record results, finish.

A row is ``pending`` until a deliverer claims it (``sending``, with ``updated_at`` the claim
moment); a claimer that died leaves it ``sending`` past its lease, and the next deliverer may
claim it again. Finishing writes the new status, the attempts and the JSON result. None of
these commit: the caller owns the transaction (:func:`db.engine.transaction`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from db.engine import engine_for, reading
from db.repository import OUTBOX
from pathway.outbox import Effect
from pathway.sweep import QueuedAlert

SENDING_LEASE = timedelta(minutes=5)
"""A row left ``sending`` longer than this was claimed by a process that died: try it again.
Letters and board forms use it; alerts have a shorter one (``tasks.alerts.alert_lease``)."""


cached_engine = engine_for
"""The process's engine for a URL (``db.engine.engine_for``); the name stays for the
delivery tasks that import it."""


def deliverable(now: datetime, *, lease: timedelta = SENDING_LEASE) -> Any:
    """Outbox rows to try at ``now``: pending, or left ``sending`` past the lease."""
    stale = and_(OUTBOX.c.status == "sending", OUTBOX.c.updated_at < now - lease)
    return or_(OUTBOX.c.status == "pending", stale)


def claim(
    conn: Connection, row: Mapping[str, Any], now: datetime, *, lease: timedelta = SENDING_LEASE
) -> bool:
    """Claim one outbox row for delivery (``sending``); False when another process has it."""
    claimed = conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == row["id"])
        .where(deliverable(now, lease=lease))
        .values(status="sending", updated_at=now)
    )
    return claimed.rowcount == 1


def list_deliverable(
    conn: Connection,
    *,
    now: datetime | None = None,
    lease: timedelta = SENDING_LEASE,
    pathway_id: str | None = None,
    kind: str | None = None,
    kinds: Collection[str] | None = None,
    key_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """Outbox rows to deliver, oldest first: pending ones or, with ``now``, also those left
    ``sending`` past ``lease`` by a process that died; of one pathway, of one ``kind`` or of
    ``kinds``, and whose key starts with ``key_prefix``, when given."""
    waiting = OUTBOX.c.status == "pending" if now is None else deliverable(now, lease=lease)
    query = select(OUTBOX).where(waiting)
    if kind is not None:
        query = query.where(OUTBOX.c.kind == kind)
    if kinds is not None:
        query = query.where(OUTBOX.c.kind.in_(sorted(kinds)))
    if key_prefix is not None:
        query = query.where(OUTBOX.c.key.startswith(key_prefix, autoescape=True))
    if pathway_id is not None:
        query = query.where(OUTBOX.c.pathway_id == pathway_id)
    return [dict(row._mapping) for row in conn.execute(query.order_by(OUTBOX.c.id))]


def stored_result(conn: Connection, row_id: int) -> dict[str, Any]:
    """The JSON result recorded on an outbox row so far (empty before any attempt)."""
    stored = conn.execute(select(OUTBOX.c.result).where(OUTBOX.c.id == row_id)).scalar()
    return json.loads(stored) if stored else {}


def save_result(conn: Connection, row_id: int, result: Mapping[str, Any]) -> None:
    """Record a delivery's progress (per-service results) without changing its status."""
    conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == row_id)
        .values(result=json.dumps(result, sort_keys=True))
    )


def cancel(conn: Connection, row_id: int, *, now: datetime) -> None:
    """An effect no longer owed: ``cancelled`` (attempts and result unchanged)."""
    conn.execute(
        update(OUTBOX).where(OUTBOX.c.id == row_id).values(status="cancelled", updated_at=now)
    )


def finish(
    conn: Connection,
    row_id: int,
    *,
    status: str,
    attempts: int,
    now: datetime,
    result: Mapping[str, Any],
) -> None:
    """Record the outcome of an attempt: the new status, attempts so far and the result."""
    conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == row_id)
        .values(
            status=status,
            attempts=attempts,
            updated_at=now,
            result=json.dumps(result, sort_keys=True),
        )
    )


def is_queued(conn: Connection, key: str) -> bool:
    """True when an effect with this key is already in the outbox."""
    return conn.execute(select(OUTBOX.c.id).where(OUTBOX.c.key == key)).first() is not None


def effect_values(effect: Effect, *, at: datetime) -> dict[str, Any]:
    """The outbox row of an effect decided by the core (a letter), pending until delivered."""
    return {
        "key": effect.key,
        "kind": effect.kind,
        "pathway_id": effect.payload.get("pathway_id"),
        "payload": json.dumps(effect.payload, sort_keys=True),
        "status": "pending",
        "attempts": 0,
        "created_at": at,
        "updated_at": at,
    }


def alert_outbox_values(
    alert: QueuedAlert, *, at: datetime, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """The outbox row of a decided alert (pending until delivered)."""
    return {
        "key": alert.key,
        "kind": "alert",
        "pathway_id": alert.pathway_id or None,
        "payload": json.dumps({**alert.as_dict(), **extra}, sort_keys=True),
        "status": "pending",
        "attempts": 0,
        "created_at": at,
        "updated_at": at,
    }


def pending_rows(
    url: str,
    pathway_id: str | None,
    kinds: Collection[str] | None = None,
    *,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Pending outbox rows, oldest first, of one pathway or of all; with ``now``, also rows
    left ``sending`` past the lease by a process that died."""
    with reading(engine_for(url)) as conn:
        return list_deliverable(conn, now=now, pathway_id=pathway_id, kinds=kinds)
