"""The letters' statements: ``letter`` rows, the ``letter_template`` sources, and the loaders the
letters draw on (a pathway's facts, its letters owed and produced, one letter's record).

Every function runs inside the caller's transaction or snapshot and never commits.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from db.repository import AUDIT, OUTBOX, get_pathway, list_events, table
from pathway.letter_context import PathwayFacts
from pathway.ruleset import rules_from_json

LETTER = table("letter")
LETTER_TEMPLATE = table("letter_template")


def load_facts(conn: Connection, key: str) -> PathwayFacts:
    """The facts of one pathway (by ``PW-`` id or referral reference) that letters draw on."""
    row = get_pathway(conn, key)
    events = list_events(conn, [row.id])[row.id]
    return PathwayFacts(pathway_id=row.id, events=tuple(events), rules=rules_from_json(row.rules))


def find_letter_by_key(conn: Connection, key: str) -> dict[str, Any] | None:
    """The letter produced for one outbox key, if any (a retry finds it and never renders)."""
    row = conn.execute(select(LETTER).where(LETTER.c.key == key)).first()
    return dict(row._mapping) if row is not None else None


def insert_letter(conn: Connection, letter: dict[str, Any]) -> None:
    """Insert one produced letter; a unique violation on its key means another process won."""
    conn.execute(insert(LETTER).values(**letter))


def mark_letter(
    conn: Connection, letter_id: str, *, status: str, attempts: int, delivered_at: datetime | None
) -> None:
    """Record a delivery attempt on the letter row (``delivered_at`` only when it was sent)."""
    values: dict[str, Any] = {"status": status, "attempts": attempts}
    if delivered_at is not None:
        values["delivered_at"] = delivered_at
    conn.execute(update(LETTER).where(LETTER.c.id == letter_id).values(**values))


def record_template(conn: Connection, version: str, name: str, sources: str, now: datetime) -> None:
    """Keep the sources of a template version, once, inside the caller's transaction.

    Letters of one template are produced concurrently (worker threads, several workers), so
    two may both find the version new: the insert runs in a savepoint and a duplicate of the
    version, which holds the same sources by construction, is simply the other one's record.
    """
    exists = select(LETTER_TEMPLATE.c.version).where(LETTER_TEMPLATE.c.version == version)
    if conn.execute(exists).first() is not None:
        return
    try:
        with conn.begin_nested():
            conn.execute(
                insert(LETTER_TEMPLATE).values(
                    version=version, name=name, sources=sources, first_used_at=now
                )
            )
    except IntegrityError:
        if conn.execute(exists).first() is None:
            raise


def template_sources_of(conn: Connection, version: str) -> str | None:
    """The sources (JSON) a template version was rendered from, as first recorded."""
    sources: str | None = conn.execute(
        select(LETTER_TEMPLATE.c.sources).where(LETTER_TEMPLATE.c.version == version)
    ).scalar()
    return sources


def find_letter(conn: Connection, ident: str) -> Row[Any] | None:
    """One ``letter`` row by its ``LT-`` id."""
    return conn.execute(select(LETTER).where(LETTER.c.id == ident)).first()


def produced_hashes(conn: Connection, pathway_id: str, ident: str) -> dict[str, Any] | None:
    """The file hashes the hash-chained ``letter.produced`` audit entry recorded, if any."""
    for details in conn.execute(
        select(AUDIT.c.details)
        .where(AUDIT.c.action == "letter.produced")
        .where(AUDIT.c.pathway_id == pathway_id)
        .order_by(AUDIT.c.id)
    ).scalars():
        try:
            recorded = json.loads(details) if details else {}
        except (TypeError, ValueError):
            continue  # a damaged entry: `audit verify` reports it
        if isinstance(recorded, dict) and recorded.get("letter_id") == ident:
            return recorded
    return None


def list_letters(conn: Connection, pathway_id: str) -> list[dict[str, Any]]:
    """Every letter of a pathway, produced or still owed, oldest first (ids and coded facts)."""
    produced = {
        row.key: row
        for row in conn.execute(
            select(LETTER).where(LETTER.c.pathway_id == pathway_id).order_by(LETTER.c.produced_at)
        )
    }
    found: list[dict[str, Any]] = []
    outbox = conn.execute(
        select(OUTBOX)
        .where(OUTBOX.c.pathway_id == pathway_id)
        .where(OUTBOX.c.kind == "letter")
        .order_by(OUTBOX.c.id)
    )
    for row in outbox:
        payload = json.loads(row.payload)
        letter = produced.get(row.key)
        result = json.loads(row.result) if row.result else {}
        found.append(
            {
                "id": letter.id if letter is not None else None,
                "letter": payload["letter"],
                "recipient": payload["recipient"],
                "event_id": payload.get("event_id"),
                "clock_id": payload.get("clock_id"),
                "status": row.status,
                "attempts": row.attempts,
                "template_version": letter.template_version if letter is not None else None,
                "channel": letter.channel if letter is not None else None,
                "produced_at": letter.produced_at.isoformat() if letter is not None else None,
                "delivered_at": letter.delivered_at.isoformat()
                if letter is not None and letter.delivered_at is not None
                else None,
                "files": {
                    "html": letter.html_path,
                    "pdf": letter.pdf_path,
                    "txt": letter.text_path,
                }
                if letter is not None
                else None,
                "pdf_sha256": letter.pdf_sha256 if letter is not None else None,
                "error": result.get("error"),
                "services": result.get("services", {}),
            }
        )
    return found
