"""The intake's rows and statements: what one admitted event writes (pathway, inbox, milestone,
outbox and the ``alert`` row of a safety alert), built from typed values and inserted in bulk.

``services/intake.py`` decides which events are admitted and what they owe; this module knows
the columns. Every function runs inside the caller's transaction and never commits, so a batch
stays all-or-nothing (DEVELOPERS.md, "Intake").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from db.repository import (
    INBOX,
    MILESTONE,
    OUTBOX,
    PATHWAY,
    chunks,
    insert_new,
    pathway_values,
    table,
)
from pathway.engine import Milestone, PathwayView
from pathway.events import PathwayEvent, ReferralReceived, event_to_json
from pathway.outbox import Effect
from pathway.ruleset import PinnedRules


def alerts_raised_at(conn: Connection, alert_ids: Sequence[str]) -> dict[str, datetime]:
    """When each of these alerts was raised (the sweep moment that decided it)."""
    alert = table("alert")
    found: dict[str, datetime] = {}
    for part in chunks(list(alert_ids)):
        rows = conn.execute(select(alert.c.id, alert.c.created_at).where(alert.c.id.in_(part)))
        found.update({row.id: row.created_at for row in rows})
    return found


def patient_row(patient_id: str, referral: ReferralReceived) -> dict[str, Any]:
    """The ``patient`` row of a new referral's patient (``created_at`` is added on insert)."""
    patient = referral.data.patient
    return {
        "id": patient_id,
        "nhs_number": patient.nhs_number,
        "mrn": patient.mrn,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "date_of_birth": patient.date_of_birth,
        "sex": patient.sex.value if patient.sex else None,
    }


def inbox_row(
    event: PathwayEvent,
    *,
    pathway_id: str,
    content_hash: str,
    received_at: datetime,
    processed: bool,
) -> dict[str, Any]:
    """The inbox row of an accepted event: its canonical JSON and the hash replays compare."""
    return {
        "event_id": event.event_id,
        "pathway_id": pathway_id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "received_at": received_at,
        "recorded_by": event.recorded_by,
        "source": event.source,
        "content_hash": content_hash,
        "payload": event_to_json(event),
        "processed_at": received_at if processed else None,
    }


def milestone_row(pathway_id: str, event: PathwayEvent, milestone: Milestone) -> dict[str, Any]:
    """The milestone row an accepted event records, with the details the views show."""
    return {
        "pathway_id": pathway_id,
        "event_id": event.event_id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "details": json.dumps(milestone.details, sort_keys=True),
    }


def outbox_row(effect: Effect, *, pathway_id: str, at: datetime) -> dict[str, Any]:
    """A pending outbox row for one effect, keyed by the effect's idempotency key."""
    return {
        "key": effect.key,
        "kind": effect.kind,
        "pathway_id": pathway_id,
        "payload": json.dumps(effect.payload, sort_keys=True),
        "status": "pending",
        "attempts": 0,
        "created_at": at,
        "updated_at": at,
    }


def new_pathway_row(
    *,
    pathway_id: str,
    reference: str,
    patient_id: str,
    rules: PinnedRules,
    version: int,
    view: PathwayView,
    at: datetime,
) -> dict[str, Any]:
    """The ``pathway`` row of a new referral, pinned to its ruleset and local SLAs."""
    return {
        "id": pathway_id,
        "reference": reference,
        "patient_id": patient_id,
        "referred_at": view.referred_at,
        "ruleset": rules.label,
        "rules": rules.to_json(),
        "version": version,
        **pathway_values(view, updated_at=at),
    }


def pathway_update(
    pathway_id: str, *, version: int, view: PathwayView, at: datetime
) -> dict[str, Any]:
    """The new values of a stored pathway, for :func:`write_pathways` (``b_id`` binds the id)."""
    return {"b_id": pathway_id, "version": version, **pathway_values(view, updated_at=at)}


def write_pathways(
    conn: Connection, new_rows: Sequence[dict[str, Any]], updates: Sequence[dict[str, Any]]
) -> None:
    """Insert new pathways and update changed ones, each in one executemany statement."""
    if new_rows:
        conn.execute(insert(PATHWAY), list(new_rows))
    update_pathways(conn, updates)


def update_pathways(conn: Connection, updates: Sequence[dict[str, Any]]) -> None:
    """Update several pathways in one executemany: each dict holds ``b_id`` (the pathway id)
    and the same columns (the intake's changed pathways, an adoption's re-pinned ones)."""
    if not updates:
        return
    columns = [name for name in updates[0] if name != "b_id"]
    conn.execute(
        update(PATHWAY)
        .where(PATHWAY.c.id == bindparam("b_id"))
        .values({name: bindparam(name) for name in columns}),
        list(updates),
    )


def write_events(
    conn: Connection, inbox: Sequence[dict[str, Any]], milestones: Sequence[dict[str, Any]]
) -> None:
    """Insert the accepted events (inbox rows) and the milestone each records."""
    if inbox:
        conn.execute(insert(INBOX), list(inbox))
        conn.execute(insert(MILESTONE), list(milestones))


def write_effects(
    conn: Connection, outbox: Sequence[dict[str, Any]], alerts: Sequence[dict[str, Any]]
) -> None:
    """Queue the effects whose key is not taken yet, and the ``alert`` rows of those among them.

    A breach report may already be owed, or be being queued right now: the deadline watch saw
    the clock run late. Its key is taken once, whoever is first.
    """
    inserted = insert_new(conn, OUTBOX, outbox)
    insert_new(conn, table("alert"), [a for a in alerts if a["key"] in inserted])
