"""Delivering pending outbox effects: each kind (letter, alert, board form) has one handler task.

Handlers are registered by the feature modules (``tasks/letters.py``, ``tasks/alerts.py``). A
handler receives one pending outbox row, delivers it and records the result; a failure leaves
the row pending for the next attempt, so nothing is lost and the unique key means nothing is
sent twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from db.engine import engine_for, reading
from db.repository import OUTBOX
from services.settings import get_settings

EffectHandler = Callable[[dict[str, Any], datetime], Awaitable[str]]
"""(outbox row as a dict, now) -> the row's new status."""

EFFECT_HANDLERS: dict[str, EffectHandler] = {}

SENDING_LEASE = timedelta(minutes=5)
"""A row left ``sending`` longer than this was claimed by a process that died: try it again.
Letters use it; alerts have a shorter one (``tasks.alerts.alert_lease``)."""


def _load_handlers() -> None:
    # Importing a feature module registers its handler; a missing feature is simply absent.
    import importlib

    for module in ("tasks.letters", "tasks.alerts", "tasks.board_forms"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise


cached_engine = engine_for
"""The process's engine for a URL (``db.engine.engine_for``); the name stays for the task
modules that import it from here."""


def deliverable(now: datetime, *, lease: timedelta = SENDING_LEASE) -> Any:
    """Outbox rows to try at ``now``: pending, or left ``sending`` past the lease."""
    stale = and_(OUTBOX.c.status == "sending", OUTBOX.c.updated_at < now - lease)
    return or_(OUTBOX.c.status == "pending", stale)


def claim(
    conn: Connection, row: dict[str, Any], now: datetime, *, lease: timedelta = SENDING_LEASE
) -> bool:
    """Claim one outbox row for delivery (``sending``); False when another process has it."""
    claimed = conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == row["id"])
        .where(deliverable(now, lease=lease))
        .values(status="sending", updated_at=now)
    )
    return claimed.rowcount == 1


def pending_rows(
    pathway_id: str | None, kinds: set[str] | None = None, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Pending outbox rows, oldest first, of one pathway or of all; with ``now``, also rows
    left ``sending`` past the lease by a process that died."""
    waiting = OUTBOX.c.status == "pending" if now is None else deliverable(now)
    query = select(OUTBOX).where(waiting).order_by(OUTBOX.c.id)
    if pathway_id is not None:
        query = query.where(OUTBOX.c.pathway_id == pathway_id)
    if kinds is not None:
        query = query.where(OUTBOX.c.kind.in_(sorted(kinds)))
    with reading(engine_for(get_settings().url())) as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


async def run_pending_effects(
    pathway_id: str | None, now: datetime, *, kinds: set[str] | None = None
) -> dict[str, int]:
    """Deliver every pending effect (of ``kinds``) that has a handler; counts by new status."""
    _load_handlers()
    handled = set(EFFECT_HANDLERS) if kinds is None else set(EFFECT_HANDLERS) & kinds
    counts: dict[str, int] = {}
    for row in pending_rows(pathway_id, handled, now=now):
        status = await EFFECT_HANDLERS[row["kind"]](row, now)
        counts[status] = counts.get(status, 0) + 1
    return counts
