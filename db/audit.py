"""The audit trail: every accepted or rejected event, clock change, alert, acknowledgement and letter.

All writers go through :func:`append_audit`, in the same transaction as the fact they record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert

from db.repository import AUDIT

AUDIT_FIELDS = (
    "at",
    "action",
    "pathway_id",
    "pathway_reference",
    "event_id",
    "event_type",
    "occurred_at",
    "actor",
    "source",
    "field",
    "reason",
    "run_id",
)


def audit_entry(**values: Any) -> dict[str, Any]:
    """A complete audit row: every field present (None when not applicable)."""
    unknown = set(values) - set(AUDIT_FIELDS)
    if unknown:
        raise ValueError(f"unknown audit fields: {sorted(unknown)}")
    return {name: values.get(name) for name in AUDIT_FIELDS}


def append_audit(conn: Connection, entries: Sequence[dict[str, Any]]) -> None:
    """Append entries to the audit trail, in order, inside the caller's transaction."""
    if entries:
        conn.execute(insert(AUDIT), [audit_entry(**entry) for entry in entries])
