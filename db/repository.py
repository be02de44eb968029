"""Queries and writes on the cordwatch tables (SQLAlchemy Core on one connection; never commits).

``get_`` raises :class:`UnknownPathway`, ``find_`` returns None, ``list_`` returns lists. The
caller owns the transaction (:func:`db.engine.transaction`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, and_, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import SQLModel

import db.models  # noqa: F401  (registers the tables)
from db.errors import UnknownPathway
from pathway.clocks import Clock
from pathway.engine import PathwayView
from pathway.events import PathwayEvent, parse_stored_event

_SQLITE_MAX_PARAMS = 900


def table(name: str) -> Table:
    """The Core table behind a SQLModel row class."""
    return SQLModel.metadata.tables[name]


PATIENT = table("patient")
PATHWAY = table("pathway")
INBOX = table("inbox_event")
MILESTONE = table("milestone")
CLOCK = table("clock")
OUTBOX = table("outbox")
AUDIT = table("audit_entry")


def chunks(values: Sequence[Any], size: int = _SQLITE_MAX_PARAMS) -> Iterable[Sequence[Any]]:
    """Split an IN-list so SQLite's parameter limit is never reached."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True, slots=True)
class StoredPathway:
    id: str
    reference: str
    patient_id: str
    version: int
    rules: str
    status: str


INTERNAL_ID = re.compile(r"PW-[0-9A-Z]{6}")
"""The exact form of an internal pathway id (``services.intake.new_pathway_id``)."""


def find_pathway(conn: Connection, key: str) -> Row[Any] | None:
    """The pathway row for an internal ``PW-`` id or an external reference, never a guess.

    A key in the exact form of an internal id is looked up as an id; any other key, or an
    id-shaped key that names no pathway (a reference stored before references of that form
    were refused), as a reference. Both columns are unique, so each lookup finds one row or
    none: a referral whose reference copies another pathway's id can never answer for it.

    Args:
        conn: an open connection.
        key: an internal id (``PW-7F3K2Q``) or a referral reference.

    Returns:
        The row, or None when no pathway has that id or reference.
    """
    if INTERNAL_ID.fullmatch(key):
        row = conn.execute(select(PATHWAY).where(PATHWAY.c.id == key)).one_or_none()
        if row is not None:
            return row
    return conn.execute(select(PATHWAY).where(PATHWAY.c.reference == key)).one_or_none()


def get_pathway(conn: Connection, key: str) -> Row[Any]:
    """Like :func:`find_pathway`, but raises :class:`UnknownPathway`."""
    row = find_pathway(conn, key)
    if row is None:
        raise UnknownPathway(key)
    return row


def lock_pathways(conn: Connection, references: Sequence[str]) -> dict[str, StoredPathway]:
    """Load (and on PostgreSQL lock, in id order) the pathways with these references."""
    found: dict[str, StoredPathway] = {}
    for part in chunks(sorted(references)):
        query = (
            select(
                PATHWAY.c.id,
                PATHWAY.c.reference,
                PATHWAY.c.patient_id,
                PATHWAY.c.version,
                PATHWAY.c.rules,
                PATHWAY.c.status,
            )
            .where(PATHWAY.c.reference.in_(part))
            .order_by(PATHWAY.c.id)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        for row in conn.execute(query):
            found[row.reference] = StoredPathway(*row)
    return found


def existing_event_hashes(conn: Connection, event_ids: Sequence[str]) -> dict[str, str]:
    """content_hash of each of these event ids already in the inbox."""
    found: dict[str, str] = {}
    for part in chunks(sorted(set(event_ids))):
        rows = conn.execute(
            select(INBOX.c.event_id, INBOX.c.content_hash).where(INBOX.c.event_id.in_(part))
        )
        found.update({row.event_id: row.content_hash for row in rows})
    return found


def list_events(conn: Connection, pathway_ids: Sequence[str]) -> dict[str, list[PathwayEvent]]:
    """Every accepted event of these pathways, parsed back into typed events."""
    events: dict[str, list[PathwayEvent]] = {pathway_id: [] for pathway_id in pathway_ids}
    for part in chunks(sorted(pathway_ids)):
        rows = conn.execute(
            select(INBOX.c.pathway_id, INBOX.c.payload).where(INBOX.c.pathway_id.in_(part))
        )
        for row in rows:
            events[row.pathway_id].append(parse_stored_event(row.payload))
    return events


def existing_outbox_keys(conn: Connection, keys: Sequence[str]) -> set[str]:
    """The outbox keys among ``keys`` that are already queued (an effect is owed once)."""
    found: set[str] = set()
    for part in chunks(sorted(set(keys))):
        found.update(
            row.key for row in conn.execute(select(OUTBOX.c.key).where(OUTBOX.c.key.in_(part)))
        )
    return found


def insert_new(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert the rows whose ``key`` is not taken yet; the keys this call inserted.

    ``INSERT ... ON CONFLICT (key) DO NOTHING`` on both databases: an effect decided at the same
    time by another transaction (the intake and the deadline watch both owe a breach report) is
    skipped, never a unique violation that rolls the whole batch or sweep back. Checking the
    keys first is not enough: the other transaction may commit between the check and the insert.
    """
    if not rows:
        return set()
    statement: Any
    if conn.dialect.name == "postgresql":
        statement = postgresql_insert(table).on_conflict_do_nothing(index_elements=[table.c.key])
    else:
        statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=[table.c.key])
    return set(conn.execute(statement.returning(table.c.key), list(rows)).scalars())


def add_patients(conn: Connection, rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Insert patients, keeping the one already stored for an NHS number (race-safe).

    Another intake may insert the same NHS number at the same moment: ``ON CONFLICT DO
    NOTHING`` on the unique index waits for it and keeps its row, so no retry is needed.
    Rows go in NHS number order, so concurrent writers take the index locks in one order.

    Returns:
        The stored patient id of each NHS number given (another writer's where it won).
    """
    if not rows:
        return {}
    ordered = sorted(rows, key=lambda row: row["nhs_number"] or "")
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        dialect_insert(PATIENT).on_conflict_do_nothing(
            index_elements=[PATIENT.c.nhs_number],
            index_where=PATIENT.c.nhs_number.is_not(None),
        ),
        ordered,
    )
    return patient_ids_by_nhs_number(conn, [row["nhs_number"] for row in rows if row["nhs_number"]])


def patient_ids_by_nhs_number(conn: Connection, numbers: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in chunks(sorted(set(numbers))):
        rows = conn.execute(
            select(PATIENT.c.nhs_number, PATIENT.c.id).where(PATIENT.c.nhs_number.in_(part))
        )
        found.update({row.nhs_number: row.id for row in rows})
    return found


def clock_values(pathway_id: str, clock: Clock) -> dict[str, Any]:
    """The clock table row for one clock instance."""
    return {
        "pathway_id": pathway_id,
        "clock_id": clock.id,
        "kind": clock.kind,
        "limit": clock.limit,
        "local": clock.local,
        "starts_at": clock.starts_at,
        "due_at": clock.due_at,
        "warn_at": clock.warnings[0],
        "warnings": json.dumps([w.isoformat() for w in clock.warnings]),
        "stopped_at": clock.stopped_at,
        "status": clock.outcome.value if clock.outcome is not None else "running",
        "reason": clock.reason,
        # Recomputed by the next deadline watch whenever the clock changes.
        "next_alert_at": None,
    }


def pathway_values(view: PathwayView, *, updated_at: datetime) -> dict[str, Any]:
    """The columns of the pathway row that follow from its view."""
    return {
        "category": view.category.value,
        "stage": view.stage.value,
        "status": view.status,
        "closed_reason": view.closed_reason,
        "closed_at": view.closed_at,
        "steroids_to_stop": view.steroids_to_stop,
        "updated_at": updated_at,
    }


def sync_clocks(
    conn: Connection,
    changes: Sequence[tuple[str, Sequence[Clock], Sequence[Clock]]],
) -> None:
    """Bring the clock rows of several pathways from their old to their new instances.

    Args:
        changes: (pathway id, clocks before, clocks after). Instances are matched on
            (clock id, start); unchanged rows are left alone so their ids stay stable.
    """
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    deletes: list[tuple[str, str, datetime]] = []
    for pathway_id, before, after in changes:
        old = {(c.id, c.starts_at): c for c in before}
        new = {(c.id, c.starts_at): c for c in after}
        for key, clock in new.items():
            previous = old.get(key)
            if previous is None:
                inserts.append(clock_values(pathway_id, clock))
            elif previous != clock:
                values = clock_values(pathway_id, clock)
                values["b_pathway_id"] = pathway_id
                values["b_clock_id"] = clock.id
                values["b_starts_at"] = clock.starts_at
                updates.append(values)
        deletes.extend((pathway_id, key[0], key[1]) for key in old.keys() - new.keys())
    if deletes:
        conn.execute(
            delete(CLOCK).where(
                and_(
                    CLOCK.c.pathway_id == bindparam("d_pathway_id"),
                    CLOCK.c.clock_id == bindparam("d_clock_id"),
                    CLOCK.c.starts_at == bindparam("d_starts_at"),
                )
            ),
            [{"d_pathway_id": p, "d_clock_id": c, "d_starts_at": t} for p, c, t in deletes],
        )
    if updates:
        conn.execute(
            update(CLOCK)
            .where(
                and_(
                    CLOCK.c.pathway_id == bindparam("b_pathway_id"),
                    CLOCK.c.clock_id == bindparam("b_clock_id"),
                    CLOCK.c.starts_at == bindparam("b_starts_at"),
                )
            )
            .values(
                {
                    name: bindparam(name)
                    for name in (
                        "due_at",
                        "warn_at",
                        "warnings",
                        "stopped_at",
                        "status",
                        "reason",
                        "limit",
                        "kind",
                        "local",
                        "next_alert_at",
                    )
                }
            ),
            updates,
        )
    if inserts:
        conn.execute(insert(CLOCK), inserts)
