"""The schema the models declare is the schema the migrations build, and shipped migrations stay shipped.

Autogenerate against head must show no difference (a model edit without its migration would
otherwise reach a deploy unnoticed), and revisions already applied to live databases must keep
their exact bytes: Alembic never re-runs them, so an edited one would leave new and old
databases with different schemas.
"""

from __future__ import annotations

import hashlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

import db.models  # noqa: F401  (registers every table on SQLModel.metadata)
from db.migrate import MIGRATIONS

SHIPPED = {
    "0001_initial.py": "076ea534ef6fc1f81fa1cb34faf6e74be8068b873b0932ddd9b24e7571c8e9c8",
    "0002_audit_chain.py": "9af9d8760cc5c398d1567be253fe6f8843af345771908e7a18dd0f41706b24b3",
    "0003_letters.py": "dab70b95f3552a8667539e7d23c3ae827b4816e53c4be502529c4fc267fc2cf4",
    "0004_alerts.py": "3acf60b68c6618f338c7669bdc457716ff987cf0a640e0ebfd7933406c5156c1",
    "0005_letters.py": "16533e0e4ccb336e46f19bf26dbbdb1eff5d89c3080f5ecde55a351295d427c2",
    "0006_security.py": "910f5dfbfe0933e2afe47fc06d4eb9bb58e48715369d9af3cf2c555b19ca6646",
    "0007_safety_alerts.py": "7de499ee51562b65eb578c110274440e29093534b28f8465e204e1df6c22ef4a",
}


def test_autogenerate_against_head_shows_no_difference(engine: Engine) -> None:
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)

    assert differences == []


@pytest.mark.parametrize(("name", "sha256"), sorted(SHIPPED.items()))
def test_shipped_migration_is_unchanged(name: str, sha256: str) -> None:
    source = (MIGRATIONS / "versions" / name).read_bytes()

    assert hashlib.sha256(source).hexdigest() == sha256
