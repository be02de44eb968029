"""Tables of the letters feature (kept apart from db/models.py so features migrate independently).

``letter`` is the record of every letter produced: which template and version (a hash of its
sources) rendered it, what caused it, to whom it went and how, where its files are and the
SHA-256 of each rendered file, and its delivery status. ``letter_template`` keeps the sources of
every template version ever used, so the audit can always show the exact wording that was sent,
even after the templates have changed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from db.types import UTCDateTime


def _utc(nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class LetterRow(SQLModel, table=True):
    """One letter, produced once: its outbox row (same ``key``) drives delivery."""

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
    """The sources of one version of a letter's templates (JSON: file name -> text)."""

    __tablename__ = "letter_template"

    version: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=60)
    sources: str = Field(sa_column=Column(Text, nullable=False))
    first_used_at: datetime = Field(sa_column=_utc())
