"""The statements of adopting a ruleset version: which pathways to replay or re-pin, and the re-pin.

``services/adoption.py`` decides (replays each pathway under the candidate with the core) and
calls these in its own read snapshot or write transaction; none of them commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from db.intake import update_pathways
from db.repository import PATHWAY


def list_referred_pathway_rules(
    conn: Connection, begin: datetime, end: datetime
) -> Sequence[Row[Any]]:
    """The pathways referred in [begin, end) with their pinned rules (``id``, ``rules``), by id."""
    return conn.execute(
        select(PATHWAY.c.id, PATHWAY.c.rules)
        .where(PATHWAY.c.referred_at >= begin, PATHWAY.c.referred_at < end)
        .order_by(PATHWAY.c.id)
    ).all()


def list_open_pathway_ids(conn: Connection) -> list[str]:
    """The ids of every open pathway, in id order (the order adoption batches them)."""
    return list(
        conn.execute(
            select(PATHWAY.c.id).where(PATHWAY.c.status == "open").order_by(PATHWAY.c.id)
        ).scalars()
    )


def lock_open_pathways(conn: Connection, ids: Sequence[str]) -> Sequence[Row[Any]]:
    """Those of ``ids`` still open (``id``, ``reference``, ``rules``, ``version``), by id.

    Locked on PostgreSQL (``FOR UPDATE``) so a concurrent intake waits for the re-pin; on
    SQLite the caller's ``BEGIN IMMEDIATE`` transaction already holds the write lock. Re-read
    inside the batch's transaction, so a pathway closed since the ids were listed is skipped.
    """
    query = (
        select(PATHWAY.c.id, PATHWAY.c.reference, PATHWAY.c.rules, PATHWAY.c.version)
        .where(PATHWAY.c.id.in_(ids), PATHWAY.c.status == "open")
        .order_by(PATHWAY.c.id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).all()


def repin_pathways(conn: Connection, updates: list[dict[str, Any]]) -> None:
    """Write the new pinned rules and values of several pathways in one executemany.

    Args:
        conn: the batch's write transaction.
        updates: one dict per pathway: ``b_id`` (the pathway id) and the same columns in each.
    """
    update_pathways(conn, updates)
