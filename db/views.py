"""Reads behind the coordinator board and the breach worklist (``services/views.py``).

Each narrows what the view must look at (open pathways and their running clocks, clock
instances that may be breached, the explanations already given); the core decides the rest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, or_, select

from db.repository import CLOCK, INBOX, MILESTONE, PATHWAY, chunks


def count_inbox_events(conn: Connection) -> int:
    """How many events the inbox holds (accepted, processed or not)."""
    return int(conn.execute(select(func.count()).select_from(INBOX)).scalar_one())


def list_open_clock_rows(conn: Connection, at: datetime) -> list[Row[Any]]:
    """Clocks of open pathways that had started by ``at`` and had not stopped by then."""
    query = (
        select(
            CLOCK.c.pathway_id,
            CLOCK.c.clock_id,
            CLOCK.c.kind,
            CLOCK.c.due_at,
            CLOCK.c.warn_at,
            CLOCK.c.starts_at,
        )
        .join(PATHWAY, PATHWAY.c.id == CLOCK.c.pathway_id)
        .where(PATHWAY.c.status == "open")
        .where(CLOCK.c.starts_at <= at)
        .where(or_(CLOCK.c.stopped_at.is_(None), CLOCK.c.stopped_at > at))
    )
    return list(conn.execute(query))


def list_open_pathways(conn: Connection) -> list[Row[Any]]:
    """Id, reference, category, stage and referral time of every open pathway."""
    return list(
        conn.execute(
            select(
                PATHWAY.c.id,
                PATHWAY.c.reference,
                PATHWAY.c.category,
                PATHWAY.c.stage,
                PATHWAY.c.referred_at,
            ).where(PATHWAY.c.status == "open")
        )
    )


def list_late_clock_keys(conn: Connection, at: datetime) -> list[Row[Any]]:
    """(pathway id, clock id) of clock instances that may be breached at ``at``, on open and
    closed pathways: started and due by then, not stopped before their due time. A superset
    (a clock stopped exactly at its due time is met): the core decides which are breached."""
    query = (
        select(CLOCK.c.pathway_id, CLOCK.c.clock_id)
        .where(CLOCK.c.starts_at <= at)
        .where(CLOCK.c.due_at <= at)
        .where(or_(CLOCK.c.stopped_at.is_(None), CLOCK.c.stopped_at >= CLOCK.c.due_at))
        .distinct()
    )
    return list(conn.execute(query))


def list_primary_explanations(
    conn: Connection, pathway_ids: Sequence[str], at: datetime
) -> set[tuple[str, str]]:
    """(pathway id, clock id) named by a primary ``breach.explained`` that happened by ``at``."""
    found: set[tuple[str, str]] = set()
    for part in chunks(sorted(pathway_ids)):
        rows = conn.execute(
            select(MILESTONE.c.pathway_id, MILESTONE.c.details)
            .where(MILESTONE.c.type == "breach.explained")
            .where(MILESTONE.c.occurred_at <= at)
            .where(MILESTONE.c.pathway_id.in_(part))
        )
        for row in rows:
            details = json.loads(row.details)
            if details.get("primary", True):
                found.add((row.pathway_id, details["clock"]))
    return found


def list_pathway_rows(conn: Connection, pathway_ids: Sequence[str]) -> list[Row[Any]]:
    """Id, reference, status and pinned rules of these pathways."""
    rows: list[Row[Any]] = []
    for part in chunks(sorted(pathway_ids)):
        rows.extend(
            conn.execute(
                select(PATHWAY.c.id, PATHWAY.c.reference, PATHWAY.c.status, PATHWAY.c.rules).where(
                    PATHWAY.c.id.in_(part)
                )
            )
        )
    return rows
