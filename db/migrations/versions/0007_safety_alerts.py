"""the deadline watch finds unacknowledged safety alerts by index (BIOPSY-GUARD, issue 12)

A safety alert escalates until acknowledged, so every sweep reads the safety alerts not yet
acknowledged: ``ix_alert_level_ack`` (level, acknowledged_at) makes that a handful of index
rows, however many clock alerts the table holds.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index("ix_alert_level_ack", ["level", "acknowledged_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_level_ack")
