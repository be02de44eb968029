"""letters and letter template versions (issue 5)

0003 stays an empty placeholder: databases already at 0004 get the letter tables from here.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "letter",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("pathway_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("template_version", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("clock_id", sa.String(length=40), nullable=True),
        sa.Column("clock_starts_at", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("recipient", sa.String(length=30), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("html_path", sa.String(length=500), nullable=False),
        sa.Column("pdf_path", sa.String(length=500), nullable=False),
        sa.Column("text_path", sa.String(length=500), nullable=False),
        sa.Column("html_sha256", sa.String(length=64), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("produced_at", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["pathway_id"], ["pathway.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.create_index("ix_letter_pathway_id", ["pathway_id"], unique=False)
    op.create_table(
        "letter_template",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.Column("first_used_at", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )


def downgrade() -> None:
    op.drop_table("letter_template")
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_index("ix_letter_pathway_id")
    op.drop_table("letter")
