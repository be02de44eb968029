"""Tasks on the inbox: load an accepted event's entry and mark it processed, once."""

from __future__ import annotations

from datetime import datetime

from prefect import task

from db.engine import make_engine, reading
from db.inbox import InboxEntry, find_inbox_entries, mark_processed
from services.settings import get_settings


class UnknownEvent(LookupError):
    """The flow was asked to handle an event id that is not in the inbox."""


@task(name="load-inbox-entry")
def load_entry(event_id: str) -> InboxEntry:
    """The accepted event's ids and coded facts (never its payload)."""
    engine = make_engine(get_settings().url())
    try:
        with reading(engine) as conn:
            found = find_inbox_entries(conn, [event_id])
    finally:
        engine.dispose()
    if not found:
        raise UnknownEvent(f"no accepted event with id {event_id!r}")
    return found[0]


@task(name="mark-processed")
def mark_event_processed(event_id: str, at: datetime) -> bool:
    """True when this run processed the event; False when an earlier run already had."""
    engine = make_engine(get_settings().url())
    try:
        return mark_processed(engine, event_id, at=at)
    finally:
        engine.dispose()
