"""SQLModel tables: the system of record of every pathway (data only, no behaviour).

Every table is declared here, every column on its class, so one read shows the whole schema
that Alembic's migrations build (``tests/db/test_schema.py`` compares the two). Columns a later
migration added are declared last on their class, in migration order, so a table created from
this metadata in a test has the columns in the order a migrated database has them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from db.types import UTCDateTime


def _utc(nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class PatientRow(SQLModel, table=True):
    """A person. Identifiers live here and in letters addressed to entitled recipients only."""

    __tablename__ = "patient"
    # One patient per NHS number (migration 0006): concurrent intakes insert with ON CONFLICT
    # DO NOTHING on it. Partial, because a referral may come without an NHS number.
    __table_args__ = (
        Index(
            "uq_patient_nhs_number",
            "nhs_number",
            unique=True,
            sqlite_where=text("nhs_number IS NOT NULL"),
            postgresql_where=text("nhs_number IS NOT NULL"),
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    nhs_number: str | None = Field(default=None, max_length=10)
    mrn: str | None = Field(default=None, max_length=200, index=True)
    given_name: str = Field(max_length=200)
    family_name: str = Field(max_length=200)
    date_of_birth: date
    sex: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(sa_column=_utc())


class PathwayRow(SQLModel, table=True):
    """One referral's journey: the external reference and the opaque internal id ``PW-...``.

    ``rules`` pins the ruleset id, version, time zone and local SLAs in force at referral.
    ``version`` increases with every accepted event (optimistic concurrency and cache check).
    """

    __tablename__ = "pathway"

    id: str = Field(primary_key=True, max_length=16)
    reference: str = Field(max_length=64, unique=True)
    patient_id: str = Field(foreign_key="patient.id", max_length=40, index=True)
    category: str = Field(max_length=40)
    stage: str = Field(max_length=40)
    status: str = Field(max_length=10, index=True)
    closed_reason: str | None = Field(default=None, max_length=40)
    closed_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    referred_at: datetime = Field(sa_column=_utc(index=True))
    ruleset: str = Field(max_length=60)
    rules: str = Field(sa_column=Column(Text, nullable=False))
    steroids_to_stop: bool = False
    version: int = 1
    updated_at: datetime = Field(sa_column=_utc())


class InboxEventRow(SQLModel, table=True):
    """Every accepted event, keyed by its ``event_id``: a replay is a no-op, a changed replay a conflict."""

    __tablename__ = "inbox_event"
    __table_args__ = (Index("ix_inbox_event_pathway", "pathway_id", "occurred_at"),)

    event_id: str = Field(primary_key=True, max_length=128)
    pathway_id: str = Field(foreign_key="pathway.id", max_length=16)
    type: str = Field(max_length=40)
    occurred_at: datetime = Field(sa_column=_utc())
    received_at: datetime = Field(sa_column=_utc())
    recorded_by: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=200)
    content_hash: str = Field(max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    processed_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class MilestoneRow(SQLModel, table=True):
    """A dated fact of a pathway, without patient identifiers (details are safe to display)."""

    __tablename__ = "milestone"
    __table_args__ = (Index("ix_milestone_pathway", "pathway_id", "occurred_at"),)

    id: int | None = Field(default=None, primary_key=True)
    pathway_id: str = Field(foreign_key="pathway.id", max_length=16)
    event_id: str = Field(foreign_key="inbox_event.event_id", max_length=128, unique=True)
    type: str = Field(max_length=40)
    occurred_at: datetime = Field(sa_column=_utc())
    details: str = Field(sa_column=Column(Text, nullable=False))


class ClockRow(SQLModel, table=True):
    """One clock instance as of the pathway's latest event.

    ``status`` is the final outcome once stopped, ``running`` otherwise; a running clock's
    status at a moment T follows from ``due_at`` (breached) and ``warn_at`` (at risk).
    """

    __tablename__ = "clock"
    __table_args__ = (
        UniqueConstraint("pathway_id", "clock_id", "starts_at", name="uq_clock_instance"),
        Index("ix_clock_running_due", "status", "due_at"),
        Index("ix_clock_next_alert", "status", "next_alert_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    pathway_id: str = Field(foreign_key="pathway.id", max_length=16, index=True)
    clock_id: str = Field(max_length=40)
    kind: str = Field(max_length=4)
    limit: str = Field(max_length=20)
    local: bool
    starts_at: datetime = Field(sa_column=_utc())
    due_at: datetime = Field(sa_column=_utc())
    warn_at: datetime = Field(sa_column=_utc())
    warnings: str = Field(sa_column=Column(Text, nullable=False))
    stopped_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    status: str = Field(max_length=10)
    reason: str | None = Field(default=None, max_length=500)
    # Migration 0004: the next moment the clock owes an alert. NULL until the watch first
    # computes it, ``pathway.alerts.NEVER`` once nothing more is owed.
    next_alert_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class OutboxRow(SQLModel, table=True):
    """An external effect (letter, alert) decided in the same transaction as its cause.

    ``key`` is built from domain data, so a replayed decision cannot queue it twice.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status", "status", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, unique=True)
    kind: str = Field(max_length=20)
    pathway_id: str | None = Field(default=None, foreign_key="pathway.id", max_length=16)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=20)
    attempts: int = 0
    created_at: datetime = Field(sa_column=_utc())
    updated_at: datetime = Field(sa_column=_utc())
    result: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry of the audit chain."""


class AuditEntryRow(SQLModel, table=True):
    """An append-only record of every accepted or rejected event: who, what, when and why.

    The trail is a hash chain (migration 0002): each entry carries the hash of the entry before
    it (``prev_hash``) and its own (``entry_hash``). Writers go through
    ``db.audit.append_audit``, which fills them; ``audit_head`` holds the chain's end.
    """

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_utc())
    action: str = Field(max_length=40)
    pathway_id: str | None = Field(default=None, max_length=16, index=True)
    pathway_reference: str | None = Field(default=None, max_length=64)
    event_id: str | None = Field(default=None, max_length=128)
    event_type: str | None = Field(default=None, max_length=40)
    occurred_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    actor: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=200)
    field: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    run_id: str | None = Field(default=None, max_length=64)
    prev_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    entry_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    details: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class AuditHeadRow(SQLModel, table=True):
    """The one row that holds the end of the audit chain; appends lock it (PostgreSQL), so
    entries are numbered 1, 2, 3 ... without gaps.

    ``configuration`` is the last pinned configuration recorded in the trail (ruleset, version,
    time zone and local SLA values), so a change is recorded once, when it first takes effect.
    """

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    last_id: int = 0
    last_hash: str = Field(default=GENESIS_HASH, max_length=64)
    configuration: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class AlertRow(SQLModel, table=True):
    """One alert, decided once: its outbox row (same ``key``) carries delivery status and results.

    It gives each outbox row of kind ``alert`` its opaque id (``AL-...``, what a clinician types
    to acknowledge), its level, recipients (Apprise tags) and delivery and acknowledgement
    facts. A safety alert (BIOPSY-GUARD) and its escalations have no clock: ``clock_id`` and
    ``clock_starts_at`` are NULL, the key names the pathway and the event.
    """

    __tablename__ = "alert"
    __table_args__ = (
        Index("ix_alert_clock", "pathway_id", "clock_id", "clock_starts_at"),
        # The deadline watch reads the unacknowledged safety alerts every sweep (migration 0007).
        Index("ix_alert_level_ack", "level", "acknowledged_at"),
    )

    id: str = Field(primary_key=True, max_length=20)
    key: str = Field(max_length=300, unique=True)
    pathway_id: str | None = Field(default=None, max_length=16)
    clock_id: str | None = Field(default=None, max_length=40)
    clock_starts_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    level: str = Field(max_length=20)
    step: int = 1
    tags: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=_utc())
    next_attempt_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    delivered_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    fallback_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    acknowledged_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    acknowledged_by: str | None = Field(default=None, max_length=200)
    ack_event_id: str | None = Field(default=None, max_length=128)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class WatchRunRow(SQLModel, table=True):
    """One completed sweep of the deadline watch: the heartbeat check reads the latest, so an
    independent check can tell a dead watch."""

    __tablename__ = "watch_run"

    id: int | None = Field(default=None, primary_key=True)
    as_of: datetime = Field(sa_column=_utc(index=True))
    queued: int = 0
    redriven: int = 0


class LetterRow(SQLModel, table=True):
    """One letter, produced once: its outbox row (same ``key``) drives delivery.

    The record of every letter produced: which template and version (a hash of its sources)
    rendered it, what caused it, to whom it went and how, where its files are and the SHA-256
    of each rendered file, and its delivery status.
    """

    __tablename__ = "letter"

    id: str = Field(primary_key=True, max_length=20)
    key: str = Field(max_length=300, unique=True)
    pathway_id: str = Field(foreign_key="pathway.id", max_length=16, index=True)
    name: str = Field(max_length=60)
    template_version: str = Field(max_length=64)
    event_id: str | None = Field(default=None, max_length=128)
    clock_id: str | None = Field(default=None, max_length=40)
    clock_starts_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    recipient: str = Field(max_length=30)
    channel: str = Field(max_length=40)
    html_path: str = Field(max_length=500)
    pdf_path: str = Field(max_length=500)
    text_path: str = Field(max_length=500)
    html_sha256: str = Field(max_length=64)
    pdf_sha256: str = Field(max_length=64)
    text_sha256: str = Field(max_length=64)
    status: str = Field(max_length=20)
    attempts: int = 0
    produced_at: datetime = Field(sa_column=_utc())
    delivered_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class LetterTemplateRow(SQLModel, table=True):
    """The sources of one version of a letter's templates (JSON: file name -> text).

    Every template version ever used is kept, so the audit can always show the exact wording
    that was sent, even after the templates have changed.
    """

    __tablename__ = "letter_template"

    version: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=60)
    sources: str = Field(sa_column=Column(Text, nullable=False))
    first_used_at: datetime = Field(sa_column=_utc())
