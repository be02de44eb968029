"""alerts, acknowledgements and watch runs (issue 4)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("pathway_id", sa.String(length=16), nullable=True),
        sa.Column("clock_id", sa.String(length=40), nullable=True),
        sa.Column("clock_starts_at", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("tags", sa.String(length=200), nullable=False),
        sa.Column("created_at", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fallback_at", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("ack_event_id", sa.String(length=128), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_clock", ["pathway_id", "clock_id", "clock_starts_at"], unique=False
        )
    op.create_table(
        "watch_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("redriven", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("watch_run", schema=None) as batch_op:
        batch_op.create_index("ix_watch_run_as_of", ["as_of"], unique=False)
    # The sweep reads only running clocks whose next alert moment has come (or is not yet
    # computed: NULL, as the intake inserts clocks), so an idle watch reads nothing.
    with op.batch_alter_table("clock", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("next_alert_at", db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_clock_next_alert", ["status", "next_alert_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("clock", schema=None) as batch_op:
        batch_op.drop_index("ix_clock_next_alert")
        batch_op.drop_column("next_alert_at")
    with op.batch_alter_table("watch_run", schema=None) as batch_op:
        batch_op.drop_index("ix_watch_run_as_of")
    op.drop_table("watch_run")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_clock")
    op.drop_table("alert")
