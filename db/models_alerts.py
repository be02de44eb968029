"""Tables of the alerts feature (kept apart from db/models.py so features migrate independently).

``alert`` gives each outbox row of kind ``alert`` its opaque id (``AL-...``, what a clinician
types to acknowledge), its level, recipients (Apprise tags) and delivery and acknowledgement
facts. A safety alert (BIOPSY-GUARD) and its escalations have no clock: ``clock_id`` and
``clock_starts_at`` are NULL, the key names the pathway and the event. ``watch_run`` records every completed sweep of the deadline watch, so an independent
check can tell a dead watch. ``clock.next_alert_at`` (migration 0004) is added to the clock table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from db.types import UTCDateTime


def _utc(nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class AlertRow(SQLModel, table=True):
    """One alert, decided once: its outbox row (same ``key``) carries delivery status and results."""

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
    """One completed sweep of the deadline watch (the heartbeat check reads the latest)."""

    __tablename__ = "watch_run"

    id: int | None = Field(default=None, primary_key=True)
    as_of: datetime = Field(sa_column=_utc(index=True))
    queued: int = 0
    redriven: int = 0


def _add_next_alert_at() -> None:
    """Add ``clock.next_alert_at`` (migration 0004) to the clock table's metadata.

    The next moment the clock owes an alert: NULL until the watch first computes it,
    ``pathway.alerts.NEVER`` once nothing more is owed.
    """
    from db.models import ClockRow

    clock = ClockRow.__table__  # type: ignore[attr-defined]
    if "next_alert_at" not in clock.c:
        clock.append_column(Column("next_alert_at", UTCDateTime(), nullable=True))
        Index("ix_clock_next_alert", clock.c.status, clock.c.next_alert_at)


_add_next_alert_at()
