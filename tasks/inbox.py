"""Tasks on the inbox: load an accepted event's entry and mark it processed, once."""

from __future__ import annotations

from datetime import datetime

from prefect import task

from db.engine import engine_for, reading
from db.errors import UnknownEvent
from db.inbox import InboxEntry, find_inbox_entries, mark_processed
from services.settings import get_settings


@task(name="load-inbox-entry")
def load_entry(event_id: str) -> InboxEntry:
    """The accepted event's ids and coded facts (never its payload)."""
    with reading(engine_for(get_settings().url())) as conn:
        found = find_inbox_entries(conn, [event_id])
    if not found:
        raise UnknownEvent(event_id)
    return found[0]


@task(name="mark-processed")
def mark_event_processed(event_id: str, at: datetime) -> bool:
    """True when this run processed the event; False when an earlier run already had."""
    return mark_processed(engine_for(get_settings().url()), event_id, at=at)
