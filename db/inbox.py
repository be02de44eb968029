"""The inbox: accepted events as Prefect may know them, looked up, listed for re-drive, marked processed.

The intake transaction already stored everything an event implies (milestones, clocks, outbox
rows, audit). Processing an inbox row is what the `handle-event` flow does next: it runs the
pathway's pending effects and publishes its views, then marks the row processed, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from db.engine import transaction
from db.repository import INBOX, PATHWAY


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """What Prefect may know of an accepted event: ids and coded facts, never patient data."""

    event_id: str
    pathway_id: str
    type: str
    category: str
    stage: str
    processed: bool

    @property
    def run_name(self) -> str:
        """``PW-7F3K2Q imaging.reported``: the flow run name the coordinator sees."""
        return f"{self.pathway_id} {self.type}"

    @property
    def tags(self) -> list[str]:
        return [f"pathway:{self.pathway_id}", f"category:{self.category}", f"stage:{self.stage}"]


def _entry(row: Any) -> InboxEntry:
    return InboxEntry(
        event_id=row.event_id,
        pathway_id=row.pathway_id,
        type=row.type,
        category=row.category,
        stage=row.stage,
        processed=row.processed_at is not None,
    )


def _query() -> Any:
    return select(
        INBOX.c.event_id,
        INBOX.c.pathway_id,
        INBOX.c.type,
        INBOX.c.processed_at,
        PATHWAY.c.category,
        PATHWAY.c.stage,
    ).join(PATHWAY, PATHWAY.c.id == INBOX.c.pathway_id)


def find_inbox_entries(conn: Connection, event_ids: list[str]) -> list[InboxEntry]:
    """The inbox entries of these event ids (unknown ids are left out)."""
    if not event_ids:
        return []
    rows = conn.execute(_query().where(INBOX.c.event_id.in_(event_ids)))
    return [_entry(row) for row in rows]


def list_unprocessed(
    conn: Connection, *, received_before: datetime, limit: int = 500
) -> list[InboxEntry]:
    """Accepted events never processed: their Prefect notification was lost or their run failed."""
    rows = conn.execute(
        _query()
        .where(INBOX.c.processed_at.is_(None))
        .where(INBOX.c.received_at <= received_before)
        .order_by(INBOX.c.received_at)
        .limit(limit)
    )
    return [_entry(row) for row in rows]


def mark_processed(engine: Engine, event_id: str, *, at: datetime) -> bool:
    """Mark one inbox row processed; False when it already was (a replay or a retry)."""
    with transaction(engine) as conn:
        changed = conn.execute(
            update(INBOX)
            .where(INBOX.c.event_id == event_id)
            .where(INBOX.c.processed_at.is_(None))
            .values(processed_at=at)
        ).rowcount
    return bool(changed)


REDRIVE_GRACE = timedelta(minutes=2)
"""How long an accepted event may wait for its flow run before the deadline watch runs it itself."""
