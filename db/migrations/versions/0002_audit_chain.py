"""audit hash chain, append-only triggers (issue 6)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64
REFUSAL = "audit entries are append-only"

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry
    BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END""",
    f"""CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry
    BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END""",
)

POSTGRES_TRIGGERS = (
    f"""CREATE FUNCTION audit_entry_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{REFUSAL} (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$""",
    """CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE ON audit_entry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_refuse()""",
    """CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_refuse()""",
)


def upgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("details", sa.Text(), nullable=True))
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("configuration", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _chain_existing_entries()
    bind = op.get_bind()
    for statement in SQLITE_TRIGGERS if bind.dialect.name == "sqlite" else POSTGRES_TRIGGERS:
        op.execute(statement)


def _chain_existing_entries() -> None:
    """Number any entries written before the chain 1..n (in id order) and chain them."""
    from db.audit import AUDIT_FIELDS, entry_hash
    from db.repository import AUDIT

    bind = op.get_bind()
    ids = [row.id for row in bind.execute(sa.select(AUDIT.c.id).order_by(AUDIT.c.id))]
    for new_id, old_id in enumerate(ids, start=1):
        # Ascending order never collides: every new id is at most its old id.
        if new_id != old_id:
            bind.execute(sa.update(AUDIT).where(AUDIT.c.id == old_id).values(id=new_id))
    last_hash = GENESIS_HASH
    columns = [AUDIT.c.id, *(AUDIT.c[name] for name in AUDIT_FIELDS)]
    for row in bind.execute(sa.select(*columns).order_by(AUDIT.c.id)).all():
        digest = entry_hash(last_hash, row)
        bind.execute(
            sa.update(AUDIT)
            .where(AUDIT.c.id == row.id)
            .values(prev_hash=last_hash, entry_hash=digest)
        )
        last_hash = digest
    op.execute(
        sa.text(
            "INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, :last_id, :last_hash)"
        ).bindparams(last_id=len(ids), last_hash=last_hash)
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_change ON audit_entry")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_entry")
        op.execute("DROP FUNCTION IF EXISTS audit_entry_refuse()")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_column("details")
        batch_op.drop_column("entry_hash")
        batch_op.drop_column("prev_hash")
