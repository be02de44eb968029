"""Tables of the audit feature (kept apart from db/models.py so features migrate independently).

The audit trail is a hash chain: each ``audit_entry`` row carries the hash of the entry before
it (``prev_hash``) and its own (``entry_hash``), and ``audit_head`` holds the chain's last id
and hash. Appends lock the head row, so entries are numbered 1, 2, 3 ... without gaps.
"""

from __future__ import annotations

from sqlalchemy import Column, String, Text
from sqlmodel import Field, SQLModel

from db.models import AuditEntryRow

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry of the chain."""

# The hash-chain columns of audit_entry (migration 0002). They are added to the Core table
# rather than to AuditEntryRow so that the audit feature owns them; writers go through
# db.audit.append_audit, which fills them.
_audit_table = AuditEntryRow.__table__  # type: ignore[attr-defined]
for _column in (
    Column("prev_hash", String(64), nullable=True),
    Column("entry_hash", String(64), nullable=True),
    Column("details", Text, nullable=True),
):
    if _column.name not in _audit_table.c:
        _audit_table.append_column(_column)


class AuditHeadRow(SQLModel, table=True):
    """The one row that holds the end of the audit chain; appends lock it (PostgreSQL).

    ``configuration`` is the last pinned configuration recorded in the trail (ruleset, version,
    time zone and local SLA values), so a change is recorded once, when it first takes effect.
    """

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    last_id: int = 0
    last_hash: str = Field(default=GENESIS_HASH, max_length=64)
    configuration: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
