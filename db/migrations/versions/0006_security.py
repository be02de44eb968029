"""one patient per NHS number; the audit chain proves its completeness (security review)

Duplicate patients (one NHS number on several rows, left by concurrent intakes before this
index) are merged onto the oldest row: its pathways and theirs then belong to it, the others
are deleted, and one ``patient.merged`` audit entry per NHS number records which opaque
patient ids were merged into which, and the pathways repointed (no identifier).

The audit chain gets its ``audit.genesis`` entry: entry 1 of an empty trail (a new database),
or appended to a trail written before this migration, whose first entries are accepted as they
are (entry 1 chained to zeros). From here a trail without it, or without its head row, has been
emptied. SQLite gets a trigger refusing ``INSERT OR REPLACE`` over an existing entry (REPLACE
deletes the old row without firing the DELETE trigger). PostgreSQL's triggers already refuse
``INSERT ... ON CONFLICT DO UPDATE``, which fires the UPDATE trigger.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NOT_NULL = "nhs_number IS NOT NULL"


def upgrade() -> None:
    _merge_duplicate_patients()
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index("ix_patient_nhs_number")
        batch_op.create_index(
            "uq_patient_nhs_number",
            ["nhs_number"],
            unique=True,
            sqlite_where=sa.text(NOT_NULL),
            postgresql_where=sa.text(NOT_NULL),
        )
    _seal_audit_chain()


def _seal_audit_chain() -> None:
    from db.audit import SQLITE_TRIGGERS, append_audit, genesis_entry

    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(SQLITE_TRIGGERS["audit_entry_no_replace"])
    append_audit(bind, [genesis_entry(datetime.now(UTC), source="migration 0006")])


def _merge_duplicate_patients() -> None:
    from db.audit import append_audit, audit_entry
    from db.repository import PATHWAY, PATIENT

    bind = op.get_bind()
    duplicated = (
        sa.select(PATIENT.c.nhs_number)
        .where(PATIENT.c.nhs_number.is_not(None))
        .group_by(PATIENT.c.nhs_number)
        .having(sa.func.count() > 1)
    )
    rows = bind.execute(
        sa.select(PATIENT.c.nhs_number, PATIENT.c.id)
        .where(PATIENT.c.nhs_number.in_(duplicated))
        .order_by(PATIENT.c.nhs_number, PATIENT.c.created_at, PATIENT.c.id)
    ).all()
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row.nhs_number, []).append(row.id)
    now = datetime.now(UTC)
    entries = []
    for kept, *merged in groups.values():
        pathways = sorted(
            bind.execute(
                sa.select(PATHWAY.c.id).where(PATHWAY.c.patient_id.in_(merged))
            ).scalars()
        )
        bind.execute(
            sa.update(PATHWAY).where(PATHWAY.c.patient_id.in_(merged)).values(patient_id=kept)
        )
        bind.execute(sa.delete(PATIENT).where(PATIENT.c.id.in_(merged)))
        entries.append(
            audit_entry(
                at=now,
                action="patient.merged",
                actor="cordwatch",
                source="migration 0006",
                reason="one patient per NHS number: duplicates merged onto the oldest row",
                details={"kept": kept, "merged": merged, "pathways": pathways},
            )
        )
    append_audit(bind, entries)


def downgrade() -> None:
    # The genesis and patient.merged entries stay: the trail is append-only.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_replace")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index("uq_patient_nhs_number")
        batch_op.create_index("ix_patient_nhs_number", ["nhs_number"], unique=False)
