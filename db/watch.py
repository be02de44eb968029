"""The deadline watch's statements: the clocks a sweep reads, the ``next_alert_at`` moves it
writes, and ``watch_run`` (completed sweeps, read by the heartbeat). None of these commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, insert, select, update

from db.repository import CLOCK, INBOX, PATHWAY, table
from pathway.ruleset import rules_from_json
from pathway.sweep import RunningClock

WATCH_RUN = table("watch_run")


def due_clocks(conn: Connection, at: datetime) -> list[RunningClock]:
    """Running clocks of open pathways whose next alert moment has come or is not yet known."""
    columns = (
        CLOCK.c.id,
        CLOCK.c.pathway_id,
        CLOCK.c.clock_id,
        CLOCK.c.kind,
        CLOCK.c.starts_at,
        CLOCK.c.due_at,
        CLOCK.c.warnings,
        PATHWAY.c.category,
        PATHWAY.c.rules,
    )
    found: list[RunningClock] = []
    # Two range reads of ix_clock_next_alert (status, next_alert_at): an OR would defeat it.
    for condition in (CLOCK.c.next_alert_at.is_(None), CLOCK.c.next_alert_at <= at):
        rows = conn.execute(
            select(*columns)
            .join(PATHWAY, PATHWAY.c.id == CLOCK.c.pathway_id)
            .where(CLOCK.c.status == "running")
            .where(condition)
            .where(PATHWAY.c.status == "open")
        )
        found.extend(
            RunningClock(
                row_id=row.id,
                pathway_id=row.pathway_id,
                clock_id=row.clock_id,
                kind=row.kind,
                starts_at=row.starts_at,
                due_at=row.due_at,
                warnings=tuple(datetime.fromisoformat(w) for w in json.loads(row.warnings)),
                category=row.category,
                rules=rules_from_json(row.rules),
            )
            for row in rows
        )
    return found


def move_next_alerts(conn: Connection, moves: Sequence[tuple[int, datetime]]) -> None:
    """Set each clock's ``next_alert_at`` (clock row id, moment) as the sweep decided."""
    if not moves:
        return
    conn.execute(
        update(CLOCK)
        .where(CLOCK.c.id == bindparam("b_id"))
        .values(next_alert_at=bindparam("next_alert_at")),
        [{"b_id": row_id, "next_alert_at": moment} for row_id, moment in moves],
    )


def record_watch_run(conn: Connection, *, as_of: datetime, queued: int, redriven: int) -> None:
    """A completed watch: its moment and what it did (the heartbeat's sign of life)."""
    conn.execute(insert(WATCH_RUN).values(as_of=as_of, queued=queued, redriven=redriven))


def last_sweep_at(conn: Connection, *, until: datetime | None = None) -> datetime | None:
    """The ``as_of`` of the latest completed sweep up to ``until`` (all when None), or None."""
    query = select(func.max(WATCH_RUN.c.as_of))
    if until is not None:
        query = query.where(WATCH_RUN.c.as_of <= until)
    value: datetime | None = conn.execute(query).scalar()
    return value


def first_event_received_at(conn: Connection) -> datetime | None:
    """When the first accepted event arrived (``received_at`` is not indexed: read it rarely)."""
    value: datetime | None = conn.execute(select(func.min(INBOX.c.received_at))).scalar()
    return value
